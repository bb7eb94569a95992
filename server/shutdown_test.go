package server

import (
	"context"
	"net"
	"testing"
	"time"

	"hazardbot/bot/wechattest"
	"hazardbot/storage/storagetest"
)

func TestGracefulShutdownFinishesInFlightPushes(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	started := make(chan struct{})
	n := counting(e, "慢", 0)
	e.srv.Engine.AddRoute(slowRoute("很慢", 300*time.Millisecond, started))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln) }()
	c := e.resident("o-shutdown", false).c
	c.URL = "http://" + ln.Addr().String() + "/wechat"
	answered := make(chan *wechattest.Reply, 1)
	go func() {
		rep, err := c.Send(wechattest.Text("o-shutdown", "很慢"))
		if err != nil {
			t.Error(err)
		}
		answered <- rep
	}()
	<-started
	cancel() // SIGTERM while the push is being handled
	rep := <-answered
	if rep == nil || rep.XML == nil || rep.XML.Content != "慢慢处理完了" {
		t.Fatalf("in-flight push got %+v", rep)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := c.Send(wechattest.Text("o-shutdown", "慢")); err == nil {
		t.Fatal("a push was accepted after shutdown")
	}
	if n.Load() != 0 {
		t.Fatal("a push after shutdown was handled")
	}
}
