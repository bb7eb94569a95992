package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hazardbot/bot/wechattest"
	"hazardbot/dialogs"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func TestURLVerification(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	c := e.resident("o1", false).c
	resp, err := c.VerifyURL("echo-123")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "echo-123" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	resp, err = c.VerifyURL("echo-123", wechattest.WithSignature("0000"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged signature: %d", resp.StatusCode)
	}
}

func memSessions(c *storagetest.Clock) storage.Sessions { return storage.NewMemorySessions(c.Now) }

func TestSubscribeWelcomeInBothModes(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss)
		for _, safe := range []bool{false, true} {
			r := e.resident(fmt.Sprintf("o-welcome-%v", safe), safe)
			contains(t, r.push(wechattest.Subscribe(r.id)), "欢迎关注", "119")
			contains(t, r.say("帮助"), "可以这样使用")
			e.srv.Webhook.Wait() // facts about residents are recorded beside the reply
			u, err := st.GetUser(context.Background(), r.id)
			if err != nil || !u.Subscribed {
				t.Fatalf("user after subscribe: %+v %v", u, err)
			}
			r.push(wechattest.Unsubscribe(r.id))
			e.srv.Webhook.Wait()
			if u, _ := st.GetUser(context.Background(), r.id); u.Subscribed {
				t.Fatal("still subscribed after unsubscribe")
			}
		}
	})
}

// counting registers a word whose every handling is counted.
func counting(e *env, word string, delay time.Duration) *atomic.Int32 {
	var n atomic.Int32
	e.srv.Engine.AddRoute(dialogs.Route{Words: []string{word}, Answer: func(c *dialogs.Ctx, in dialogs.Input) ([]string, error) {
		n.Add(1)
		time.Sleep(delay) // stands for slow work inside the dialog, not for waiting in the test
		return []string{"第" + fmt.Sprint(n.Load()) + "次处理"}, nil
	}})
	return &n
}

func TestTripleDeliveryHasOneEffectAndOneAnswer(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		for _, safe := range []bool{false, true} {
			e := newEnv(t, st, ss)
			n := counting(e, "计数", 50*time.Millisecond)
			r := e.resident("o-triple", safe)
			push, err := r.c.Prepare(wechattest.Text(r.id, "计数"))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			answers := make([]string, 3)
			for i := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := push.NewRequest(context.Background())
					rep, err := r.c.Do(req)
					if err != nil || rep.Problem != "" {
						t.Errorf("try %d: %v %q", i, err, rep.Problem)
						return
					}
					answers[i] = rep.XML.Content
				}()
			}
			wg.Wait()
			if n.Load() != 1 {
				t.Fatalf("handled %d times", n.Load())
			}
			for _, a := range answers {
				if a != "第1次处理" {
					t.Fatalf("answers differ: %q", answers)
				}
			}
		}
	})
}

func TestSlowWorkAnswersLaterThroughCustomerService(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions, func(c *Config, o *Options) { o.Timeout = 100 * time.Millisecond })
	counting(e, "慢", 300*time.Millisecond)
	r := e.resident("o-slow", false)
	rep, err := r.c.Send(wechattest.Text(r.id, "慢"))
	if err != nil || !rep.Success {
		t.Fatalf("want success within the deadline, got %v %+v", err, rep)
	}
	e.srv.Webhook.Wait()
	got := r.sent(0)
	if len(got) != 1 || got[0] != "第1次处理" {
		t.Fatalf("customer-service messages: %q", got)
	}
}

func TestRefusedPushesChangeNothing(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	n := counting(e, "计数", 0)
	r := e.resident("o-hostile", false)
	safe := e.resident("o-hostile", true)
	text := wechattest.Text(r.id, "计数")
	cases := []struct {
		name   string
		c      *wechattest.Client
		opts   []wechattest.Option
		status int
	}{
		{"wrong signature", r.c, []wechattest.Option{wechattest.WithSignature("da39a3ee5e6b4b0d3255bfef95601890afd80709")}, 403},
		{"no signature", r.c, []wechattest.Option{wechattest.WithoutSignature()}, 403},
		{"replayed timestamp", r.c, []wechattest.Option{wechattest.WithTimestamp(e.clock.Now().Add(-10 * time.Minute))}, 403},
		{"future timestamp", r.c, []wechattest.Option{wechattest.WithTimestamp(e.clock.Now().Add(10 * time.Minute))}, 403},
		{"malformed XML", r.c, []wechattest.Option{wechattest.WithRawBody([]byte("<xml><Content>计数"))}, 400},
		{"not XML", r.c, []wechattest.Option{wechattest.WithRawBody([]byte(`{"msg":"计数"}`))}, 400},
		{"empty body", r.c, []wechattest.Option{wechattest.WithRawBody([]byte{})}, 400},
		{"oversized", r.c, []wechattest.Option{wechattest.WithRawBody(bytes.Repeat([]byte("a"), 1<<20+1))}, 413},
		{"wrong msg_signature", safe.c, []wechattest.Option{wechattest.WithMsgSignature("0000")}, 403},
		{"wrong appid inside", safe.c, []wechattest.Option{wechattest.WithAppID("wxsomeoneelse")}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := tc.c.Send(text, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status != tc.status {
				t.Fatalf("status %d, want %d (%s)", rep.Status, tc.status, rep.Body)
			}
		})
	}
	if n.Load() != 0 {
		t.Fatalf("a refused push was handled %d times", n.Load())
	}
	if _, err := e.srv.Store.GetUser(context.Background(), r.id); err == nil {
		t.Fatal("a refused push created the user")
	}
	resp, err := http.Post(e.http.URL+"/wechat", "text/xml", strings.NewReader("<xml/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned POST: %d", resp.StatusCode)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	e.srv.Store.Close()
	resp, err := http.Get(e.http.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database closed: %d", resp.StatusCode)
	}
}

// slowRoute answers a word after a delay, closing started when it begins.
func slowRoute(word string, d time.Duration, started chan struct{}) dialogs.Route {
	return dialogs.Route{Words: []string{word}, Answer: func(c *dialogs.Ctx, in dialogs.Input) ([]string, error) {
		close(started)
		time.Sleep(d) // stands for slow work in the dialog
		return []string{"慢慢处理完了"}, nil
	}}
}

func TestAPanickingFlowLeavesABusyAnswer(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	e.srv.Engine.AddRoute(dialogs.Route{Words: []string{"炸"}, Answer: func(*dialogs.Ctx, dialogs.Input) ([]string, error) {
		panic("a bug in a flow")
	}})
	r := e.resident("o-panic", false)
	contains(t, r.say("炸"), "系统有点忙")
	contains(t, r.say("帮助"), "可以这样使用")
}
