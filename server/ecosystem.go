package server

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/metrics"
	"hazardbot/open311"
	"hazardbot/storage"
)

// What connects hazardbot to the systems around it: Prometheus metrics on
// every part, the Open311 API for the 12345 hotline and other channels, and
// the daily data-retention run.

// JobRetention is the daily run that anonymises finished reports and prunes
// finished jobs.
const JobRetention = "retention.run"

// Retention's schedule and limits.
const (
	retentionAt    = 3*time.Hour + 30*time.Minute // Shanghai time: after the night's quiet hours begin
	retentionBatch = 200
	// jobsKept is how long finished jobs stay: their payloads carry
	// residents' words (replies) and openids, and no duplicate of a job
	// arrives this late.
	jobsKept = 30 * 24 * time.Hour
)

// wireEcosystem adds metrics to the parts and the Open311, metrics and
// retention routes and jobs. It runs at the end of New.
func (s *Server) wireEcosystem(ctx context.Context) error {
	s.Metrics = metrics.New(s.Store, s.now, s.Log)
	s.WeChat.Metrics = s.Metrics
	s.Webhook.Metrics = s.Metrics
	s.Engine.Metrics = s.Metrics
	s.Worker.Metrics = s.Metrics
	// Prometheus scrapes each instance directly; nginx keeps /metrics off
	// the public side (deploy/nginx.conf).
	s.mux.Handle("GET /metrics", s.Metrics.Handler())

	base := ""
	if s.Config.PublicURL != "" {
		base = s.Config.PublicURL + strings.TrimSuffix(open311.Prefix, "/")
	}
	s.mux.Handle(open311.Prefix, (&open311.API{Store: s.Store, Content: s.Content, Keys: s.Config.Open311Keys,
		Now: s.now, Log: s.Log, BaseURL: base, Test: s.Config.Demo, Changeset: s.now()}).Handler())

	if s.Config.RetentionDays > 0 {
		s.Worker.Handlers[JobRetention] = s.runRetention
		return s.queueRetention(ctx, s.now())
	}
	return nil
}

// queueRetention queues the next run after now. The key names the day, so
// however many instances start, one run is queued per day.
func (s *Server) queueRetention(ctx context.Context, now time.Time) error {
	at := hazardbot.StartOfDay(now).Add(retentionAt)
	if !at.After(now) {
		at = at.AddDate(0, 0, 1)
	}
	if err := s.Store.Enqueue(ctx, JobRetention, "retention:"+hazardbot.Day(at), struct{}{}, at); err != nil {
		return fmt.Errorf("queue the retention run: %w", err)
	}
	return nil
}

// runRetention is the job handler for JobRetention: it queues tomorrow's
// run, then runs RunRetention. A run cut short by its lease is simply
// retried; each report is anonymised in its own transaction.
func (s *Server) runRetention(ctx context.Context, _ storage.Job) error {
	now := s.now()
	if err := s.queueRetention(ctx, now); err != nil {
		return err
	}
	n, pruned, err := RunRetention(ctx, s.Store, s.Config.RetentionDays, now)
	if err != nil {
		return err
	}
	s.Log.Info("retention: personal data removed from finished reports", "reports", n,
		"finished_before", now.AddDate(0, 0, -s.Config.RetentionDays).In(hazardbot.Shanghai).Format(time.DateOnly),
		"jobs_pruned", pruned)
	return nil
}

// RunRetention anonymises, in batches, every report finished more than
// days ago (see storage/retention.go for what changes) and prunes finished
// jobs older than 30 days; it returns how many of each it changed. The
// nightly job and `hazardbot retention` both run it.
func RunRetention(ctx context.Context, st *storage.Store, days int, now time.Time) (reports int, jobs int64, err error) {
	if days < 1 {
		return 0, 0, fmt.Errorf("retention: keep finished reports at least 1 day, not %d", days)
	}
	before := now.AddDate(0, 0, -days)
	for {
		done, err := st.AnonymiseFinished(ctx, before, now, retentionBatch)
		reports += len(done)
		if err != nil {
			return reports, 0, fmt.Errorf("retention: %w", err)
		}
		if len(done) < retentionBatch {
			break
		}
	}
	if jobs, err = st.PruneJobs(ctx, now.Add(-jobsKept)); err != nil {
		return reports, 0, fmt.Errorf("retention: %w", err)
	}
	return reports, jobs, nil
}

var open311Name = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// parseOpen311Keys reads HAZARDBOT_OPEN311_KEYS: name=key pairs separated
// by commas. Names appear in reports as the channel (open311:<name>); keys
// must be long enough not to be guessed.
func parseOpen311Keys(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	seen := map[string]bool{}
	for _, pair := range strings.Split(s, ",") {
		name, key, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok || !open311Name.MatchString(name):
			return nil, fmt.Errorf("%q is not name=key with a name of lower-case letters, digits, - and _ (at most 32)", name)
		case len(key) < 16 || strings.ContainsAny(key, " \t"):
			return nil, fmt.Errorf("the key of %s is shorter than 16 characters or has spaces", name)
		case out[name] != "" || seen[key]:
			return nil, fmt.Errorf("%s or its key is given twice", name)
		}
		out[name], seen[key] = key, true
	}
	return out, nil
}
