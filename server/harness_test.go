package server

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"hazardbot/bot/wechattest"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// env is a running hazardbot with a fake WeChat on both sides of it.
type env struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	api    *wechattest.API
	apiSrv *httptest.Server
	clock  *storagetest.Clock
	aesKey string
}

const testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

// backends runs fn on SQLite + in-process sessions, and on MariaDB + Redis
// when HAZARDBOT_TEST_MYSQL and HAZARDBOT_TEST_REDIS are set.
func backends(t *testing.T, fn func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions)) {
	t.Run("sqlite+memory", func(t *testing.T) {
		fn(t, storagetest.OpenSQLite(t), func(c *storagetest.Clock) storage.Sessions { return storage.NewMemorySessions(c.Now) })
	})
	if os.Getenv(storagetest.EnvMySQL) != "" && os.Getenv(storagetest.EnvRedis) != "" {
		t.Run("mariadb+redis", func(t *testing.T) {
			r := storagetest.NewRedis(t)
			fn(t, storagetest.OpenMySQL(t), func(*storagetest.Clock) storage.Sessions { return r })
		})
	}
}

func newEnv(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions, tweak ...func(*Config, *Options)) *env {
	t.Helper()
	e := &env{t: t, clock: storagetest.NewClock(time.Now().UTC().Truncate(time.Second)), aesKey: testAESKey}
	e.api = wechattest.NewAPI("wxtestapp", "test-secret")
	e.api.SetNow(e.clock.Now)
	e.apiSrv = httptest.NewServer(e.api)
	t.Cleanup(e.apiSrv.Close)
	cfg := Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AppID: "wxtestapp", AppSecret: "test-secret",
		Token: "test-token", AESKey: testAESKey, APIBase: e.apiSrv.URL, IdleTimeout: 30 * time.Minute,
	}
	opt := Options{Now: e.clock.Now, Store: st, Sessions: ss(e.clock)}
	for _, f := range tweak {
		f(&cfg, &opt)
	}
	srv, err := New(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.http = newHTTP(t, srv)
	return e
}

func newHTTP(t *testing.T, srv *Server) *httptest.Server {
	h := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		h.Close()
		srv.Webhook.Wait()
	})
	return h
}

// resident is a WeChat user pushing to the server, in plaintext or safe mode.
func (e *env) resident(openid string, safe bool) *resident {
	c := &wechattest.Client{URL: e.http.URL + "/wechat", Token: "test-token", AppID: "wxtestapp", API: e.api, Now: e.clock.Now}
	if safe {
		c.AESKey = e.aesKey
	}
	return &resident{e: e, c: c, id: openid}
}

type resident struct {
	e  *env
	c  *wechattest.Client
	id string
}

// push sends m and returns the passive reply's text, failing the test when
// WeChat would not show it.
func (r *resident) push(m wechattest.Message) string {
	r.e.t.Helper()
	if m.MsgType == "event" {
		r.e.clock.Advance(time.Second) // events are deduplicated per second
	}
	rep, err := r.c.Send(m)
	if err != nil {
		r.e.t.Fatalf("push %s: %v", m.MsgType, err)
	}
	if rep.Status != 200 || rep.Problem != "" {
		r.e.t.Fatalf("push %s: status %d, problem %q, body %q", m.MsgType, rep.Status, rep.Problem, rep.Body)
	}
	if rep.XML == nil {
		return ""
	}
	return rep.XML.Content
}

func (r *resident) say(text string) string {
	r.e.t.Helper()
	return r.push(wechattest.Text(r.id, text))
}

// drain runs due background jobs until none is left and returns the texts
// the fake WeChat API delivered to the resident since index from.
func (r *resident) sent(from int) []string {
	r.e.t.Helper()
	r.e.drain()
	var out []string
	for _, s := range r.e.api.Sent(r.id)[from:] {
		out = append(out, s.Text)
	}
	return out
}

func (e *env) drain() {
	e.t.Helper()
	for i := 0; i < 50; i++ {
		n, err := e.srv.Worker.RunOnce(context.Background())
		if err != nil {
			e.t.Fatalf("worker: %v", err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("jobs keep coming")
}

func contains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Fatalf("reply %q\ndoes not contain %q", got, w)
		}
	}
}
