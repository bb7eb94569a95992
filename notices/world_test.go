package notices_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/bot"
	"hazardbot/bot/wechattest"
	"hazardbot/content"
	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// world is a store, a fake WeChat, and the notices machinery between them,
// on an injected clock.
type world struct {
	t      *testing.T
	ctx    context.Context
	st     *storage.Store
	clock  *storagetest.Clock
	api    *wechattest.API
	apiURL string
	wx     *bot.Client
	c      *content.Content
	d      *notices.Dispatcher
	svc    *notices.Service
}

const (
	publicURL = "https://aq.example.gov.cn"
	tplID     = "TPL-NOTICE"
)

// Inside 东湖社区第1网格 (c1-g1) and inside c1-g3, in GCJ-02.
const (
	g1Lat, g1Lng = 36.0650, 103.8480
	g3Lat, g3Lng = 36.0600, 103.8480
)

var (
	author   = notices.Staff{ID: "staff:zhang", Name: "张三", Role: hazardbot.RoleStreet}
	approver = notices.Staff{ID: "staff:li", Name: "李四", Role: hazardbot.RoleStreet}
)

func newWorld(t *testing.T, st *storage.Store, tweak ...func(*notices.Config)) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), st: st, c: content.MustLoadEmbedded(),
		clock: storagetest.NewClock(time.Date(2025, 7, 14, 2, 0, 0, 0, time.UTC))}
	st.Now = w.clock.Now
	w.api = wechattest.NewAPI("wxnotices", "secret")
	w.api.SetNow(w.clock.Now)
	srv := httptest.NewServer(w.api)
	t.Cleanup(srv.Close)
	w.apiURL = srv.URL
	w.wx = bot.NewClient("wxnotices", "secret", srv.URL, storage.NewMemorySessions(w.clock.Now), slog.New(slog.DiscardHandler))
	cfg := notices.Config{TemplateID: tplID, PublicURL: publicURL, Senders: 2, Batch: 8,
		Backoff: func(int) time.Duration { return time.Minute }}
	for _, f := range tweak {
		f(&cfg)
	}
	w.d = w.dispatcher(cfg)
	w.svc = &notices.Service{Store: st, Content: func() *content.Content { return w.c }, Now: w.clock.Now, PublicURL: publicURL}
	return w
}

// dispatcher builds a dispatcher on the world's store and WeChat, as a new
// process would.
func (w *world) dispatcher(cfg notices.Config) *notices.Dispatcher {
	return &notices.Dispatcher{Store: w.st, Sender: w.wx, Content: func() *content.Content { return w.c },
		Now: w.clock.Now, Code: bot.ErrCode, Config: cfg}
}

// follower adds a subscribed resident who last wrote `ago` before now; a
// resident inside the 48-hour window also has it open on the fake.
func (w *world) follower(openid string, ago time.Duration) {
	w.t.Helper()
	at := w.clock.Now().Add(-ago)
	storagetest.Must(w.t, w.st.SetSubscribed(w.ctx, openid, true, at))
	w.api.Follow(openid)
	if ago < notices.ServiceWindow {
		w.api.Interacted(openid, at)
	}
}

func (w *world) located(openid string, lat, lng float64) {
	w.t.Helper()
	storagetest.Must(w.t, w.st.SetLastLocation(w.ctx, openid, lat, lng, w.clock.Now().Add(-time.Hour)))
}

// publish composes, submits and (when needed) approves a notice, and returns it.
func (w *world) publish(n notices.Notice) notices.Notice {
	w.t.Helper()
	n, err := w.svc.Create(w.ctx, author, n)
	storagetest.Must(w.t, err)
	n, err = w.svc.Submit(w.ctx, author, n.ID)
	storagetest.Must(w.t, err)
	if n.State == notices.StateApproval {
		n, err = w.svc.Approve(w.ctx, approver, n.ID)
		storagetest.Must(w.t, err)
	}
	return n
}

func (w *world) run() int {
	w.t.Helper()
	n, err := w.d.RunOnce(w.ctx)
	if err != nil {
		w.t.Fatalf("dispatcher: %v", err)
	}
	return n
}

func warning(level notices.Level, title string) notices.Notice {
	return notices.Notice{Kind: notices.KindWarning, Level: level, Hazard: "rainstorm", Title: title,
		Body: "预计今天夜间有大暴雨，局地特大暴雨，请减少外出，远离低洼地带。", Audience: notices.Audience{Kind: notices.AudienceAll}}
}

func notice(title string, a notices.Audience) notices.Notice {
	return notices.Notice{Kind: notices.KindNotice, Title: title, Body: "本周六上午九点在社区广场开展消防演练，欢迎参加。", Audience: a}
}

// received is what the fake delivered to openid about notice id: every
// message that names its title or links to its page.
func (w *world) received(openid string, n notices.Notice) []wechattest.Sent {
	var out []wechattest.Sent
	link := notices.Link(publicURL, n.ID)
	for _, s := range w.api.Sent(openid) {
		if s.URL == link || strings.Contains(s.Text, link) {
			out = append(out, s)
		}
	}
	return out
}

func (w *world) progress(id int64) notices.Progress {
	w.t.Helper()
	p, err := w.svc.Progress(w.ctx, id)
	storagetest.Must(w.t, err)
	return p
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}
