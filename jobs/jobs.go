// Package jobs runs the outbox: the background worker that claims due rows
// from the storage jobs table, hands each to the handler for its kind, and
// records the outcome — done, retried later with backoff, or dead.
//
// Delivery is at least once (a worker can die after a handler succeeded but
// before the job was marked done), so handlers must be idempotent.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"hazardbot/storage"
)

// Handler carries out one job. A nil error completes it; an error retries it
// later, unless wrapped with Permanent. ctx expires with the job's lease.
type Handler func(ctx context.Context, job storage.Job) error

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the job goes dead at once.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Defaults for the zero values of Worker's fields.
const (
	DefaultMaxAttempts = 8
	DefaultLease       = 2 * time.Minute
	DefaultBatch       = 16
	DefaultConcurrency = 4
	backoffBase        = 5 * time.Second
	backoffCap         = time.Hour
	// recordTimeout bounds writing a job's outcome, which runs on a context
	// detached from the worker's so that shutdown doesn't lose it.
	recordTimeout = 10 * time.Second
)

// DefaultBackoff waits 5s before the second attempt, doubling each time up
// to an hour, with ±20% jitter so that jobs that failed together (WeChat was
// down) don't all retry in the same second.
func DefaultBackoff(attempt int) time.Duration {
	d := backoffCap
	if attempt >= 1 && attempt < 20 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	jittered := d*4/5 + rand.N(d*2/5+1)
	return min(jittered, backoffCap)
}

// Worker claims and runs jobs. Only Store and Handlers are required; the
// zero values of the rest mean the defaults above. A Worker must not be
// copied after first use.
type Worker struct {
	Store    *storage.Store
	Now      func() time.Time // default time.Now
	Handlers map[string]Handler
	// OnDead is called once, after the job is recorded dead, e.g. to tell a
	// reporter a photo was lost. Its ctx is not the worker's: it runs even
	// while the worker shuts down.
	OnDead      func(ctx context.Context, job storage.Job, err error)
	MaxAttempts int                             // default 8
	Backoff     func(attempt int) time.Duration // default DefaultBackoff; attempt counts from 1
	Lease       time.Duration                   // default 2m; also each handler's deadline
	Batch       int                             // jobs claimed per round, default 16
	Concurrency int                             // handlers running at once, default 4
	Logger      *slog.Logger                    // default slog.Default()
	// Log is another name for Logger, used when Logger is nil.
	Log *slog.Logger
	// Metrics, when set, hears of each attempt: its kind, its outcome (done,
	// retry, dead) and how long the handler ran (0 when it did not run).
	Metrics interface {
		JobFinished(kind, outcome string, took time.Duration)
	}

	kickOnce sync.Once
	kick     chan struct{}
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) maxAttempts() int     { return orDefault(w.MaxAttempts, DefaultMaxAttempts) }
func (w *Worker) lease() time.Duration { return orDefault(w.Lease, DefaultLease) }
func (w *Worker) batch() int           { return orDefault(w.Batch, DefaultBatch) }
func (w *Worker) concurrency() int     { return orDefault(w.Concurrency, DefaultConcurrency) }

func (w *Worker) backoff(attempt int) time.Duration {
	if w.Backoff != nil {
		return w.Backoff(attempt)
	}
	return DefaultBackoff(attempt)
}

func (w *Worker) logger() *slog.Logger {
	switch {
	case w.Logger != nil:
		return w.Logger
	case w.Log != nil:
		return w.Log
	}
	return slog.Default()
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (w *Worker) kickChan() chan struct{} {
	w.kickOnce.Do(func() { w.kick = make(chan struct{}, 1) })
	return w.kick
}

// Kick wakes Run early, e.g. right after an enqueue, so the job doesn't wait
// for the next poll. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kickChan() <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run claims and runs jobs until ctx is done, polling every poll (default
// 1s) and at once after Kick, or after a full batch (more may be waiting).
// It returns after the jobs in hand have finished and been recorded.
func (w *Worker) Run(ctx context.Context, poll time.Duration) {
	if poll <= 0 {
		poll = time.Second
	}
	kick := w.kickChan()
	for {
		n, err := w.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.logger().ErrorContext(ctx, "jobs: round failed", "err", err)
		} else if n >= w.batch() {
			continue
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce claims up to Batch due jobs, runs them with up to Concurrency at a
// time, records each outcome, and returns how many it claimed. The error
// joins claim and record failures; handler failures are outcomes, not errors.
func (w *Worker) RunOnce(ctx context.Context) (n int, err error) {
	claimed, err := w.Store.ClaimJobs(ctx, w.now(), w.batch(), w.lease())
	if err != nil {
		return 0, fmt.Errorf("jobs: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, w.concurrency())
	)
	for _, job := range claimed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := w.process(ctx, job); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(claimed), errors.Join(errs...)
}

// process runs one claimed job and records what happened.
func (w *Worker) process(ctx context.Context, job storage.Job) error {
	// Payloads hold residents' data: log the job's identity, never its payload.
	log := w.logger().With("job_id", job.ID, "kind", job.Kind, "attempt", job.Attempts)
	max := w.maxAttempts()

	// Attempts beyond the maximum can only come from leases that expired —
	// a worker died or a handler overran — so stop before it happens again.
	if job.Attempts > max {
		return w.kill(ctx, log, job, fmt.Errorf("jobs: gave up after %d attempts; the last leases expired before the job finished", job.Attempts-1))
	}
	h, ok := w.Handlers[job.Kind]
	if !ok {
		return w.kill(ctx, log, job, fmt.Errorf("jobs: no handler for kind %q", job.Kind))
	}

	began := time.Now()
	hctx, cancel := context.WithTimeout(ctx, w.lease())
	err := call(hctx, h, job)
	cancel()
	took := time.Since(began)

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	switch {
	case err == nil:
		if err := w.Store.CompleteJob(rctx, job.ID, w.now()); err != nil {
			return fmt.Errorf("jobs: record job %d done: %w", job.ID, err)
		}
		log.DebugContext(ctx, "jobs: done")
		w.observe(job.Kind, "done", took)
		return nil
	case IsPermanent(err):
		return w.kill(ctx, log, job, err)
	case job.Attempts >= max:
		return w.kill(ctx, log, job, fmt.Errorf("jobs: gave up after %d attempts: %w", job.Attempts, err))
	}
	runAt := w.now().Add(w.backoff(job.Attempts))
	if err := w.Store.RetryJob(rctx, job.ID, runAt, err.Error()); err != nil {
		return fmt.Errorf("jobs: record job %d for retry: %w", job.ID, err)
	}
	log.WarnContext(ctx, "jobs: attempt failed, will retry", "err", err, "run_at", runAt)
	w.observe(job.Kind, "retry", took)
	return nil
}

// kill records the job dead and then tells OnDead, once.
func (w *Worker) kill(ctx context.Context, log *slog.Logger, job storage.Job, cause error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := w.Store.KillJob(rctx, job.ID, cause.Error()); err != nil {
		// Left running: its lease expires, it is claimed again and, being
		// over its attempts, killed then.
		return fmt.Errorf("jobs: record job %d dead: %w", job.ID, err)
	}
	job.Status, job.LastError = storage.JobDead, cause.Error()
	w.observe(job.Kind, "dead", 0)
	log.ErrorContext(ctx, "jobs: job is dead", "err", cause)
	if w.OnDead != nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					log.ErrorContext(ctx, "jobs: OnDead panicked", "panic", r, "stack", string(debug.Stack()))
				}
			}()
			w.OnDead(rctx, job, cause)
		}()
	}
	return nil
}

// call runs h, turning a panic into an error so that one bad job can't take
// the worker down; it counts as a failed attempt.
func call(ctx context.Context, h Handler, job storage.Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jobs: handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return h(ctx, job)
}

func (w *Worker) observe(kind, outcome string, took time.Duration) {
	if w.Metrics != nil {
		w.Metrics.JobFinished(kind, outcome, took)
	}
}
