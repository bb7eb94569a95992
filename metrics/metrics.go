// Package metrics exposes hazardbot's Prometheus metrics at /metrics: the
// pushes WeChat sends and how fast they are answered, conversations
// started, completed and abandoned, messages delivered, WeChat API errors
// and token fetches, background jobs, and — read from the database at
// scrape time — reports by status and the job queue's backlog.
//
// The collectors live on a registry of their own, not the global default,
// so two servers in one test process don't collide. Every method is safe
// on a nil *Metrics, so the parts can run without metrics.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hazardbot"
)

const namespace = "hazardbot"

// DB is what the scrape-time collectors read.
type DB interface {
	ReportsByStatus(ctx context.Context) (map[string]int, error)
	JobStats(ctx context.Context, now time.Time) (pending int, oldest time.Duration, err error)
}

// Metrics holds the collectors.
type Metrics struct {
	reg *prometheus.Registry

	pushes       *prometheus.CounterVec
	pushSeconds  *prometheus.HistogramVec
	flows        *prometheus.CounterVec
	abandoned    *prometheus.CounterVec
	deliveries   *prometheus.CounterVec
	apiErrors    *prometheus.CounterVec
	tokenFetches *prometheus.CounterVec
	jobs         *prometheus.CounterVec
	jobSeconds   *prometheus.HistogramVec
}

// New builds the collectors. db (may be nil) is read at each scrape with
// now as its clock.
func New(db DB, now func() time.Time, log *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "wechat_pushes_total",
		Help: "Pushes from WeChat, by message type and outcome (reply, empty, retry, refused, error)."},
		[]string{"type", "outcome"})
	// WeChat gives up after 5 s; the buckets are dense around that.
	m.pushSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "wechat_push_duration_seconds",
		Help:    "Time to answer a push from WeChat, by message type.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 4, 4.5, 5, 10}},
		[]string{"type"})
	m.flows = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "flows_total",
		Help: "Conversation flows, by flow and event (started, completed, abandoned)."},
		[]string{"flow", "event"})
	m.abandoned = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "flows_abandoned_total",
		Help: "Conversation flows left unfinished, by flow and reason (cancel: the resident said 取消; idle: no answer within the idle timeout)."},
		[]string{"flow", "reason"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "deliveries_total",
		Help: "Messages to residents, by channel (passive, custom, template) and outcome (sent, undeliverable, failed)."},
		[]string{"channel", "outcome"})
	m.apiErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "wechat_api_errors_total",
		Help: "Error answers from WeChat's API, by errcode."},
		[]string{"code"})
	m.tokenFetches = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "wechat_token_fetches_total",
		Help: "Access tokens fetched from WeChat (2000 a day are allowed), by outcome."},
		[]string{"outcome"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "jobs_total",
		Help: "Background job attempts, by kind and outcome (done, retry, dead)."},
		[]string{"kind", "outcome"})
	m.jobSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "job_duration_seconds",
		Help: "Time a background job attempt took, by kind.", Buckets: prometheus.DefBuckets},
		[]string{"kind"})
	m.reg.MustRegister(m.pushes, m.pushSeconds, m.flows, m.abandoned, m.deliveries, m.apiErrors, m.tokenFetches,
		m.jobs, m.jobSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		if now == nil {
			now = time.Now
		}
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		m.reg.MustRegister(&dbCollector{db: db, now: now, log: log})
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the collectors live on, for tests and for
// collectors added by other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// pushTypes bounds the type label: anything else is "other".
var pushTypes = map[string]bool{"text": true, "image": true, "voice": true, "video": true, "shortvideo": true,
	"location": true, "link": true, "file": true, "event": true, "unknown": true}

// Push records one push from WeChat. outcome "reply" is a passive reply,
// which also counts as a delivery.
func (m *Metrics) Push(msgType, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	if !pushTypes[msgType] {
		msgType = "other"
	}
	m.pushes.WithLabelValues(msgType, outcome).Inc()
	m.pushSeconds.WithLabelValues(msgType).Observe(took.Seconds())
	if outcome == "reply" {
		m.deliveries.WithLabelValues("passive", "sent").Inc()
	}
}

// FlowStarted records a flow begun afresh (not resumed).
func (m *Metrics) FlowStarted(flow string) {
	if m != nil {
		m.flows.WithLabelValues(flow, "started").Inc()
	}
}

// FlowCompleted records a flow that reached its end.
func (m *Metrics) FlowCompleted(flow string) {
	if m != nil {
		m.flows.WithLabelValues(flow, "completed").Inc()
	}
}

// FlowAbandoned records a flow the resident left: reason is cancel or idle.
func (m *Metrics) FlowAbandoned(flow, reason string) {
	if m != nil {
		m.flows.WithLabelValues(flow, "abandoned").Inc()
		m.abandoned.WithLabelValues(flow, reason).Inc()
	}
}

// Delivered records one message sent through the API: channel custom or
// template, outcome sent, undeliverable (no retry will help) or failed
// (retried later).
func (m *Metrics) Delivered(channel, outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(channel, outcome).Inc()
	}
}

// APIError records an error answer from WeChat's API.
func (m *Metrics) APIError(code int) {
	if m != nil {
		m.apiErrors.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

// TokenFetched records a fetch of the access token.
func (m *Metrics) TokenFetched(ok bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	m.tokenFetches.WithLabelValues(outcome).Inc()
}

// JobFinished records one attempt at a background job.
func (m *Metrics) JobFinished(kind, outcome string, took time.Duration) {
	if m != nil {
		m.jobs.WithLabelValues(kind, outcome).Inc()
		if took > 0 { // 0: killed before its handler ran
			m.jobSeconds.WithLabelValues(kind).Observe(took.Seconds())
		}
	}
}

// statuses are every report status, so that a status with no reports
// shows 0 rather than disappearing from graphs.
var statuses = []hazardbot.Status{hazardbot.StatusPending, hazardbot.StatusVerified, hazardbot.StatusRejected,
	hazardbot.StatusDuplicate, hazardbot.StatusAssigned, hazardbot.StatusFixing, hazardbot.StatusReview, hazardbot.StatusClosed}

// dbCollector reads the database when Prometheus scrapes: two indexed
// queries, bounded by a timeout so a slow database can't hold a scrape.
// Every instance reports the same database-wide numbers: aggregate them
// with max, not sum.
type dbCollector struct {
	db  DB
	now func() time.Time
	log *slog.Logger
}

var (
	descReports = prometheus.NewDesc(namespace+"_reports", "Reports in the database, by status.", []string{"status"}, nil)
	descPending = prometheus.NewDesc(namespace+"_job_queue_depth", "Background jobs waiting to run (due or not).", nil, nil)
	descOldest  = prometheus.NewDesc(namespace+"_job_queue_oldest_age_seconds",
		"How long the oldest due job has waited past its time; 0 when none is due.", nil, nil)
	descDBUp = prometheus.NewDesc(namespace+"_database_up", "1 when the scrape could read the database.", nil, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReports
	ch <- descPending
	ch <- descOldest
	ch <- descDBUp
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	up := 1.0
	if counts, err := c.db.ReportsByStatus(ctx); err != nil {
		c.log.Warn("metrics: cannot count reports", "err", err)
		up = 0
	} else {
		for _, s := range statuses {
			ch <- prometheus.MustNewConstMetric(descReports, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
		}
	}
	if pending, oldest, err := c.db.JobStats(ctx, c.now()); err != nil {
		c.log.Warn("metrics: cannot read the job queue", "err", err)
		up = 0
	} else {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending))
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, oldest.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descDBUp, prometheus.GaugeValue, up)
}
