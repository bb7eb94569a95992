package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hazardbot/jobs"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var t0 = storagetest.Epoch

// quietLog keeps expected failures out of the test output.
var quietLog = slog.New(slog.DiscardHandler)

func newWorker(s *storage.Store, clock *storagetest.Clock, handlers map[string]jobs.Handler) *jobs.Worker {
	return &jobs.Worker{
		Store:    s,
		Now:      clock.Now,
		Handlers: handlers,
		Backoff:  func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute },
		Logger:   quietLog,
	}
}

func runOnce(t *testing.T, w *jobs.Worker, want int) {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if n != want {
		t.Fatalf("RunOnce ran %d jobs, want %d", n, want)
	}
}

func onlyJob(t *testing.T, s *storage.Store) storage.Job {
	t.Helper()
	var id int64
	storagetest.Must(t, s.DB.Get(&id, "SELECT id FROM jobs"))
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

type photo struct {
	MediaID string `json:"media_id"`
}

func TestSuccess(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		var got []string
		w := newWorker(s, clock, map[string]jobs.Handler{
			"photo": func(ctx context.Context, job storage.Job) error {
				var p photo
				if err := json.Unmarshal(job.Payload, &p); err != nil {
					return jobs.Permanent(err)
				}
				if _, ok := ctx.Deadline(); !ok {
					t.Error("handler ctx has no deadline")
				}
				got = append(got, p.MediaID)
				return nil
			},
		})
		storagetest.Must(t, s.Enqueue(ctx, "photo", "photo:m1", photo{"m1"}, t0.Add(time.Minute)))
		runOnce(t, w, 0) // not due yet
		clock.Advance(time.Minute)
		runOnce(t, w, 1)
		runOnce(t, w, 0)
		if len(got) != 1 || got[0] != "m1" {
			t.Errorf("handled %v", got)
		}
		if j := onlyJob(t, s); j.Status != storage.JobDone || j.Attempts != 1 {
			t.Errorf("job %+v", j)
		}
	})
}

func TestRetryWithBackoff(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		calls := 0
		w := newWorker(s, clock, map[string]jobs.Handler{
			"send": func(context.Context, storage.Job) error {
				calls++
				if calls < 3 {
					return fmt.Errorf("wechat -1: system busy (call %d)", calls)
				}
				return nil
			},
		})
		storagetest.Must(t, s.Enqueue(ctx, "send", "k", nil, t0))

		runOnce(t, w, 1)
		j := onlyJob(t, s)
		if j.Status != storage.JobPending || !j.RunAt.Equal(t0.Add(time.Minute)) || j.LastError != "wechat -1: system busy (call 1)" {
			t.Fatalf("after first failure: %+v", j)
		}
		clock.Advance(time.Minute - time.Second)
		runOnce(t, w, 0)
		clock.Advance(time.Second)
		runOnce(t, w, 1)
		if j := onlyJob(t, s); !j.RunAt.Equal(clock.Now().Add(2*time.Minute)) || j.Attempts != 2 {
			t.Fatalf("after second failure: %+v", j)
		}
		clock.Advance(2 * time.Minute)
		runOnce(t, w, 1)
		if j := onlyJob(t, s); j.Status != storage.JobDone || j.Attempts != 3 {
			t.Errorf("after success: %+v", j)
		}
	})
}

func TestPermanentError(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		var dead []error
		w := newWorker(s, storagetest.NewClock(t0), map[string]jobs.Handler{
			"send": func(context.Context, storage.Job) error {
				return jobs.Permanent(errors.New("45015: out of the 48-hour window"))
			},
		})
		w.OnDead = func(_ context.Context, job storage.Job, err error) { dead = append(dead, err) }
		storagetest.Must(t, s.Enqueue(ctx, "send", "k", nil, t0))
		runOnce(t, w, 1)
		j := onlyJob(t, s)
		if j.Status != storage.JobDead || j.Attempts != 1 || !strings.Contains(j.LastError, "45015") {
			t.Errorf("job %+v", j)
		}
		if len(dead) != 1 || !jobs.IsPermanent(dead[0]) {
			t.Errorf("OnDead got %v", dead)
		}
		if jobs.Permanent(nil) != nil {
			t.Error("Permanent(nil) != nil")
		}
	})
}

func TestMaxAttempts(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		calls := 0
		var dead []storage.Job
		w := newWorker(s, clock, map[string]jobs.Handler{
			"send": func(context.Context, storage.Job) error { calls++; return errors.New("timeout") },
		})
		w.MaxAttempts = 3
		w.OnDead = func(_ context.Context, job storage.Job, err error) { dead = append(dead, job) }
		storagetest.Must(t, s.Enqueue(ctx, "send", "k", nil, t0))
		for range 10 {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)
		}
		if calls != 3 {
			t.Errorf("handler called %d times, want 3", calls)
		}
		if len(dead) != 1 || dead[0].Status != storage.JobDead || !strings.Contains(dead[0].LastError, "gave up after 3 attempts") {
			t.Errorf("OnDead called with %+v", dead)
		}
		if j := onlyJob(t, s); j.Status != storage.JobDead || j.Attempts != 3 {
			t.Errorf("job %+v", j)
		}
	})
}

func TestPanicIsAFailedAttempt(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		w := newWorker(s, storagetest.NewClock(t0), map[string]jobs.Handler{
			"boom": func(context.Context, storage.Job) error { panic("nil map") },
		})
		storagetest.Must(t, s.Enqueue(ctx, "boom", "k", nil, t0))
		runOnce(t, w, 1)
		j := onlyJob(t, s)
		if j.Status != storage.JobPending || j.Attempts != 1 || !strings.Contains(j.LastError, "panicked: nil map") {
			t.Errorf("job %+v", j)
		}
	})
}

func TestUnknownKind(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		var dead int
		w := newWorker(s, storagetest.NewClock(t0), map[string]jobs.Handler{})
		w.OnDead = func(context.Context, storage.Job, error) { dead++ }
		storagetest.Must(t, s.Enqueue(ctx, "mystery", "k", nil, t0))
		runOnce(t, w, 1)
		if j := onlyJob(t, s); j.Status != storage.JobDead || !strings.Contains(j.LastError, `no handler for kind "mystery"`) {
			t.Errorf("job %+v", j)
		}
		if dead != 1 {
			t.Errorf("OnDead called %d times", dead)
		}
	})
}

// A worker died holding a job: after the lease the next worker runs it; a
// job whose leases keep expiring is given up once over MaxAttempts.
func TestExpiredLease(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		ran := 0
		w := newWorker(s, clock, map[string]jobs.Handler{
			"send": func(context.Context, storage.Job) error { ran++; return nil },
		})
		w.Lease = time.Minute
		w.MaxAttempts = 2
		var dead int
		w.OnDead = func(context.Context, storage.Job, error) { dead++ }

		storagetest.Must(t, s.Enqueue(ctx, "send", "a", nil, t0))
		if _, err := s.ClaimJobs(ctx, t0, 1, time.Minute); err != nil { // the worker that dies
			t.Fatal(err)
		}
		runOnce(t, w, 0)
		clock.Advance(time.Minute + time.Second)
		runOnce(t, w, 1)
		if j := onlyJob(t, s); ran != 1 || j.Status != storage.JobDone || j.Attempts != 2 {
			t.Errorf("ran %d, job %+v", ran, j)
		}

		storagetest.Must(t, s.Enqueue(ctx, "send", "b", nil, clock.Now()))
		for range 2 { // two workers die holding it
			if got, err := s.ClaimJobs(ctx, clock.Now(), 1, time.Minute); err != nil || len(got) != 1 {
				t.Fatalf("claim: %v, %v", got, err)
			}
			clock.Advance(2 * time.Minute)
		}
		runOnce(t, w, 1)
		if ran != 1 || dead != 1 {
			t.Errorf("crash-looping job: ran %d more times, OnDead %d times; want 0 and 1", ran-1, dead)
		}
	})
}

// Two workers on one store: every job runs exactly once.
func TestTwoWorkers(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		const total = 60
		var mu sync.Mutex
		runs := map[int64]int{}
		handler := func(_ context.Context, job storage.Job) error {
			mu.Lock()
			runs[job.ID]++
			mu.Unlock()
			return nil
		}
		for i := range total {
			storagetest.Must(t, s.Enqueue(ctx, "send", fmt.Sprint("k", i), nil, t0))
		}
		var wg sync.WaitGroup
		for range 2 {
			w := newWorker(s, clock, map[string]jobs.Handler{"send": handler})
			w.Batch, w.Concurrency = 5, 3
			wg.Go(func() {
				for {
					n, err := w.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(runs) != total {
			t.Errorf("%d distinct jobs ran, want %d", len(runs), total)
		}
		for id, n := range runs {
			if n != 1 {
				t.Errorf("job %d ran %d times", id, n)
			}
		}
		var done int
		storagetest.Must(t, s.DB.Get(&done, "SELECT COUNT(*) FROM jobs WHERE status = 'done'"))
		if done != total {
			t.Errorf("%d jobs done, want %d", done, total)
		}
	})
}

// Run sleeps on its poll, wakes on Kick, and returns when its context ends.
func TestRunAndKick(t *testing.T) {
	s := storagetest.OpenSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	handled := make(chan string, 1)
	w := &jobs.Worker{
		Store:  s,
		Logger: quietLog,
		Handlers: map[string]jobs.Handler{
			"send": func(_ context.Context, job storage.Job) error { handled <- job.DedupKey; return nil },
		},
	}
	stopped := make(chan struct{})
	go func() {
		w.Run(ctx, time.Hour) // only a kick can wake it in time
		close(stopped)
	}()
	storagetest.Must(t, s.Enqueue(ctx, "send", "kicked", nil, time.Now()))
	w.Kick()
	w.Kick() // coalesces, never blocks
	select {
	case k := <-handled:
		if k != "kicked" {
			t.Errorf("handled %q", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Kick did not wake Run")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 4 * time.Second, 6 * time.Second},
		{2, 8 * time.Second, 12 * time.Second},
		{5, 64 * time.Second, 96 * time.Second},
		{12, 48 * time.Minute, time.Hour},
		{100, 48 * time.Minute, time.Hour},
	}
	for _, tt := range tests {
		for range 100 {
			if d := jobs.DefaultBackoff(tt.attempt); d < tt.min || d > tt.max {
				t.Errorf("DefaultBackoff(%d) = %v, want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

// Nothing from a payload reaches the log, even at debug level on failures.
func TestLogsNoPayload(t *testing.T) {
	s := storagetest.OpenSQLite(t)
	ctx := context.Background()
	var buf strings.Builder
	var mu sync.Mutex
	w := &jobs.Worker{
		Store:  s,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Handlers: map[string]jobs.Handler{
			"send": func(context.Context, storage.Job) error { return errors.New("failed") },
			"ok":   func(context.Context, storage.Job) error { return nil },
		},
	}
	storagetest.Must(t, s.Enqueue(ctx, "send", "a", map[string]string{"phone": "13800138000"}, time.Now()))
	storagetest.Must(t, s.Enqueue(ctx, "ok", "b", map[string]string{"phone": "13800138000"}, time.Now()))
	var attempts atomic.Int32
	for range 2 {
		n, _ := w.RunOnce(ctx)
		attempts.Add(int32(n))
	}
	if attempts.Load() == 0 || buf.Len() == 0 {
		t.Fatal("nothing ran or logged")
	}
	if strings.Contains(buf.String(), "13800138000") {
		t.Errorf("payload logged:\n%s", buf.String())
	}
}

type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
