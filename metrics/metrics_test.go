package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/metrics"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func has(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, "\n"+l+"\n") {
			t.Errorf("missing %q", l)
		}
	}
}

func TestDatabaseCollectors(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(storagetest.Epoch)
		for i, openid := range []string{"o-a", "o-b", "o-c"} {
			r := &hazardbot.Report{OpenID: openid, Category: "fire", Description: "楼道堆物"}
			storagetest.Must(t, st.SubmitReport(ctx, r, openid, clock.Now()))
			if i == 0 {
				_, err := st.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending,
					To: hazardbot.StatusClosed, Actor: "staff:li", At: clock.Now()})
				storagetest.Must(t, err)
			}
		}
		storagetest.Must(t, st.Enqueue(ctx, "test.kind", "", map[string]int{}, clock.Now()))
		clock.Advance(90 * time.Second)

		m := metrics.New(st, clock.Now, nil)
		text := scrape(t, m)
		has(t, text,
			`hazardbot_reports{status="pending"} 2`,
			`hazardbot_reports{status="closed"} 1`,
			`hazardbot_reports{status="fixing"} 0`,
			`hazardbot_job_queue_depth 1`,
			`hazardbot_job_queue_oldest_age_seconds 90`,
			`hazardbot_database_up 1`)

		st.Close()
		has(t, scrape(t, m), `hazardbot_database_up 0`)
	})
}

func TestHooks(t *testing.T) {
	m := metrics.New(nil, nil, nil)
	m.Push("text", "reply", 30*time.Millisecond)
	m.Push("event", "empty", time.Millisecond)
	m.Push("<script>", "refused", time.Millisecond)
	m.FlowStarted("report")
	m.FlowCompleted("report")
	m.FlowStarted("report")
	m.FlowAbandoned("report", "cancel")
	m.Delivered("custom", "sent")
	m.Delivered("template", "undeliverable")
	m.APIError(45015)
	m.TokenFetched(true)
	m.JobFinished("report.fetch_photo", "retry", time.Second)
	has(t, scrape(t, m),
		`hazardbot_wechat_pushes_total{outcome="reply",type="text"} 1`,
		`hazardbot_wechat_pushes_total{outcome="refused",type="other"} 1`,
		`hazardbot_wechat_push_duration_seconds_bucket{type="text",le="0.05"} 1`,
		`hazardbot_flows_total{event="started",flow="report"} 2`,
		`hazardbot_flows_total{event="completed",flow="report"} 1`,
		`hazardbot_flows_total{event="abandoned",flow="report"} 1`,
		`hazardbot_flows_abandoned_total{flow="report",reason="cancel"} 1`,
		`hazardbot_deliveries_total{channel="passive",outcome="sent"} 1`,
		`hazardbot_deliveries_total{channel="custom",outcome="sent"} 1`,
		`hazardbot_deliveries_total{channel="template",outcome="undeliverable"} 1`,
		`hazardbot_wechat_api_errors_total{code="45015"} 1`,
		`hazardbot_wechat_token_fetches_total{outcome="ok"} 1`,
		`hazardbot_jobs_total{kind="report.fetch_photo",outcome="retry"} 1`)

	// The parts run without metrics.
	var none *metrics.Metrics
	none.Push("text", "reply", 0)
	none.FlowStarted("report")
	none.FlowAbandoned("report", "idle")
	none.Delivered("custom", "sent")
	none.APIError(-1)
	none.TokenFetched(false)
	none.JobFinished("k", "done", 0)
}
