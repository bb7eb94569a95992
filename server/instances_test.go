package server

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// TestThreeInstancesShareOneConversation spreads a full report conversation
// over three instances on one MariaDB and one Redis, delivering each push
// three times at once to three different instances, as WeChat's retries
// behind a load balancer can land.
func TestThreeInstancesShareOneConversation(t *testing.T) {
	redis := storagetest.NewRedis(t)
	db, dsn := storagetest.OpenMySQLDSN(t) // skips without HAZARDBOT_TEST_MYSQL
	e := newEnv(t, db, func(*storagetest.Clock) storage.Sessions { return redis })
	instances := []*Server{e.srv}
	urls := []string{e.http.URL}
	for range 2 {
		st, err := storage.Open(context.Background(), dsn, "")
		storagetest.Must(t, err)
		t.Cleanup(func() { st.Close() })
		srv, err := New(context.Background(), e.srv.Config, Options{Now: e.clock.Now, Store: st, Sessions: redis})
		storagetest.Must(t, err)
		instances = append(instances, srv)
		h := httptest.NewServer(srv.Handler())
		t.Cleanup(h.Close)
		urls = append(urls, h.URL)
	}
	r := e.resident("o-multi", false)
	push := func(i int, m wechattest.Message) string {
		t.Helper()
		if m.MsgType == "event" {
			e.clock.Advance(time.Second)
		}
		p, err := r.c.Prepare(m)
		storagetest.Must(t, err)
		answers := make([]string, 3)
		var wg sync.WaitGroup
		for try := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := p.NewRequest(context.Background())
				req.URL.Host = strings.TrimPrefix(urls[(i+try)%3], "http://")
				rep, err := r.c.Do(req)
				if err != nil || rep.Problem != "" {
					t.Errorf("try %d: %v %+v", try, err, rep)
					return
				}
				if rep.XML != nil {
					answers[try] = rep.XML.Content
				}
			}()
		}
		wg.Wait()
		if answers[0] != answers[1] || answers[1] != answers[2] {
			t.Fatalf("the three tries got different answers: %q", answers)
		}
		return answers[0]
	}
	msgs := []struct {
		m    wechattest.Message
		want string
	}{
		{wechattest.Text(r.id, "上报"), "请选择隐患类别"},
		{wechattest.Text(r.id, "2"), "请用一两句话描述"},
		{wechattest.Text(r.id, "地下室燃气管道锈蚀严重"), "请拍照"},
		{r.photo(1), "已收到第1张"},
		{r.photo(2), "已收到第2张"},
		{wechattest.Text(r.id, "完成"), "请发送隐患位置"},
		{wechattest.Location(r.id, insideLat, insideLng, "东湖路18号"), "留个手机号"},
		{wechattest.Text(r.id, "13912345678"), "照片：2张"},
		{wechattest.Text(r.id, "确认"), "已提交"},
		{wechattest.Text(r.id, "我的上报"), "YH-"},
	}
	for i, s := range msgs {
		if got := push(i, s.m); !strings.Contains(got, s.want) {
			t.Fatalf("message %d: %q lacks %q", i, got, s.want)
		}
	}
	// All three workers at once: each photo is fetched exactly once.
	var wg sync.WaitGroup
	for _, srv := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := srv.Worker.RunOnce(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	reps, err := db.ReportsFor(context.Background(), r.id, 5)
	storagetest.Must(t, err)
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	full, _ := db.Report(context.Background(), reps[0].ID)
	for _, p := range full.Photos {
		if p.Status != hazardbot.PhotoStored {
			t.Fatalf("photo %+v", p)
		}
	}
	if n := len(e.api.CallsTo("/cgi-bin/media/get")); n != 2 {
		t.Fatalf("media fetched %d times, want 2", n)
	}
	if n := e.api.TokenFetches(); n != 1 {
		t.Fatalf("access token fetched %d times by three instances, want 1", n)
	}
}
