package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func (e *env) fetch(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.http.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMenuKeysAreHandled proves that every key the menu sends reaches
// something in the dialogs: a button nobody handles answers nothing.
func TestMenuKeysAreHandled(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	keys := e.srv.Content().Menu.Keys()
	if len(keys) == 0 {
		t.Fatal("the menu has no keys")
	}
	for _, k := range keys {
		if !e.srv.Engine.HandlesKey(k) {
			t.Errorf("menu key %s is handled by no dialog", k)
		}
	}
}

const hotlineKey = "hotline-key-0123456789abcdef"

func withOpen311(c *Config, _ *Options) {
	c.Open311Keys = map[string]string{"hotline12345": hotlineKey}
}

// TestOpen311ClientFilesAndFollowsARequest is the Open311 client:
// it lists the services, files a request, and reads its status as staff
// take it through to the end — on the server as it ships.
func TestOpen311ClientFilesAndFollowsARequest(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss, withOpen311, func(c *Config, _ *Options) { c.TemplateStatus = "TPL-STATUS" })
		ctx := context.Background()

		code, body := e.fetch("/open311/v2/services.json")
		var services []struct {
			Code string `json:"service_code"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &services) != nil || len(services) != len(e.srv.Content().Categories) {
			t.Fatalf("services: %d %s", code, body)
		}

		lat, lng := hazardbot.GCJ02ToWGS84(insideLat, insideLng) // a hotline's map speaks WGS84
		form := url.Values{"api_key": {hotlineKey}, "service_code": {services[0].Code},
			"lat": {strconv.FormatFloat(lat, 'f', 6, 64)}, "long": {strconv.FormatFloat(lng, 'f', 6, 64)},
			"description": {"来电反映：3号楼楼道堆满纸箱，堵住消防通道"}, "phone": {"13912345678"}, "first_name": {"三"}, "last_name": {"张"}}
		resp, err := http.PostForm(e.http.URL+"/open311/v2/requests.json", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var posted []struct {
			ID string `json:"service_request_id"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &posted) != nil || len(posted) != 1 {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
		ticket := posted[0].ID

		// It is a report like any other: the resident's 我的上报 machinery,
		// the console and the timeline all see it.
		rep, err := st.ReportByTicket(ctx, ticket)
		storagetest.Must(t, err)
		if rep.Source != "open311" || rep.CommunityID != "c1" {
			t.Fatalf("stored %+v", rep)
		}

		status := func() (string, string) {
			t.Helper()
			code, body := e.fetch("/open311/v2/requests/" + ticket + ".json")
			var got []struct {
				Status string `json:"status"`
				Notes  string `json:"status_notes"`
			}
			if code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got) != 1 {
				t.Fatalf("get: %d %s", code, body)
			}
			for _, secret := range []string{"13912345678", "张", "open311:"} {
				if strings.Contains(body, secret) {
					t.Fatalf("the request gives away %q: %s", secret, body)
				}
			}
			return got[0].Status, got[0].Notes
		}
		if s, n := status(); s != "open" || n != "待核实" {
			t.Fatalf("new request: %s %s", s, n)
		}
		for _, to := range []hazardbot.Status{hazardbot.StatusVerified, hazardbot.StatusClosed} {
			e.clock.Advance(time.Hour)
			_, err := st.ChangeStatus(ctx, storage.StatusChange{ReportID: rep.ID, From: rep.Status, To: to,
				Actor: "staff:li", Note: "已清理", Public: true, At: e.clock.Now()})
			storagetest.Must(t, err)
			rep.Status = to
		}
		e.drain()
		if s, n := status(); s != "closed" || n != "已销号：已清理" {
			t.Fatalf("closed request: %s %s", s, n)
		}
		// The channel has no WeChat resident behind it: nothing was sent to one.
		if sent := e.api.Sent("open311:hotline12345"); len(sent) != 0 {
			t.Fatalf("WeChat messages to the hotline's channel: %+v", sent)
		}
	})
}

// TestPrometheusScrapesMeaningfulMetrics runs a conversation and a
// background job through the server and reads /metrics as Prometheus would.
func TestPrometheusScrapesMeaningfulMetrics(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	r := e.resident("o-metrics", true)
	fileReport(t, r, 3)
	r.say("上报")
	r.say("取消")
	e.drain()
	e.api.Fail("/cgi-bin/message/custom/send", 45015, 1)
	e.srv.Webhook.Outbox.Enqueue(context.Background(), "wechat.custom_text", "m1", map[string]string{"openid": r.id, "text": "hi"}, e.clock.Now())
	e.drain()

	code, text := e.fetch("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`hazardbot_wechat_pushes_total{outcome="reply",type="text"}`,
		`hazardbot_wechat_pushes_total{outcome="reply",type="image"} 3`,
		`hazardbot_wechat_push_duration_seconds_count{type="text"}`,
		`hazardbot_flows_total{event="started",flow="report"} 2`,
		`hazardbot_flows_total{event="completed",flow="report"} 1`,
		`hazardbot_flows_abandoned_total{flow="report",reason="cancel"} 1`,
		`hazardbot_deliveries_total{channel="passive",outcome="sent"}`,
		`hazardbot_deliveries_total{channel="custom",outcome="undeliverable"} 1`,
		`hazardbot_wechat_api_errors_total{code="45015"} 1`,
		`hazardbot_wechat_token_fetches_total{outcome="ok"} 1`,
		`hazardbot_jobs_total{kind="report.fetch_photo",outcome="done"} 3`,
		`hazardbot_reports{status="pending"} 1`,
		`hazardbot_job_queue_depth`,
		`hazardbot_database_up 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, "\n"+want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, r.id) {
		t.Fatal("/metrics names a resident")
	}
}

// TestRetentionRunsNightly lets a year pass over a closed report: the
// nightly run anonymises it and queues the next night's run.
func TestRetentionRunsNightly(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss, func(c *Config, _ *Options) { c.RetentionDays = 365 })
		ctx := context.Background()
		r := e.resident("o-retention", false)
		ticket := fileReport(t, r, 3)
		e.drain()
		rep, err := st.ReportByTicket(ctx, ticket)
		storagetest.Must(t, err)
		_, err = st.ChangeStatus(ctx, storage.StatusChange{ReportID: rep.ID, From: hazardbot.StatusPending,
			To: hazardbot.StatusClosed, Actor: "staff:li", Public: false, At: e.clock.Now()})
		storagetest.Must(t, err)

		// Nights pass; the runs find nothing to do until the year is over.
		for range 3 {
			e.clock.Advance(24 * time.Hour)
			e.drain()
		}
		if got, _ := st.ReportByTicket(ctx, ticket); got.OpenID != r.id {
			t.Fatalf("anonymised too early: %+v", got)
		}
		e.clock.Advance(366 * 24 * time.Hour)
		e.drain() // the run queued for the night after the last one
		e.clock.Advance(24 * time.Hour)
		e.drain()
		got, err := st.ReportByTicket(ctx, ticket)
		storagetest.Must(t, err)
		if !hazardbot.IsPseudonym(got.OpenID) || got.Phone != "" {
			t.Fatalf("not anonymised after a year: %+v", got)
		}
		var next []string
		storagetest.Must(t, st.DB.SelectContext(ctx, &next, "SELECT dedup_key FROM jobs WHERE kind = ? AND status = 'pending'", JobRetention))
		night := hazardbot.StartOfDay(e.clock.Now()).Add(retentionAt)
		if !night.After(e.clock.Now()) {
			night = night.AddDate(0, 0, 1)
		}
		if want := "retention:" + hazardbot.Day(night); len(next) != 1 || next[0] != want {
			t.Fatalf("retention runs pending: %v, want %s", next, want)
		}
	})
}

func TestEcosystemConfig(t *testing.T) {
	c, err := ConfigFromEnv(envOf(map[string]string{"HAZARDBOT_OPEN311_KEYS": "hotline12345=" + hotlineKey + ", gridapp=another-key-0123456789"}))
	if err != nil || c.RetentionDays != 365 || len(c.Open311Keys) != 2 || c.Open311Keys["gridapp"] != "another-key-0123456789" {
		t.Fatalf("config %+v %v", c, err)
	}
	for _, env := range []map[string]string{
		{"HAZARDBOT_RETENTION_DAYS": "a year"},
		{"HAZARDBOT_RETENTION_DAYS": "-1"},
		{"HAZARDBOT_OPEN311_KEYS": "hotline"},
		{"HAZARDBOT_OPEN311_KEYS": "hotline=short"},
		{"HAZARDBOT_OPEN311_KEYS": "Hotline=" + hotlineKey},
		{"HAZARDBOT_OPEN311_KEYS": "a=" + hotlineKey + ",b=" + hotlineKey},
	} {
		_, err := ConfigFromEnv(envOf(env))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("%v: %v", env, err)
		}
		for k := range env {
			if ce.Var != k {
				t.Fatalf("%v names %s", env, ce.Var)
			}
		}
		if strings.Contains(err.Error(), hotlineKey) {
			t.Fatalf("the error shows the key: %v", err)
		}
	}
}
