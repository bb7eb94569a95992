package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

const lease = 2 * time.Minute

func countJobs(t *testing.T, s *storage.Store) int {
	t.Helper()
	var n int
	storagetest.Must(t, s.DB.Get(&n, "SELECT COUNT(*) FROM jobs"))
	return n
}

func claimOne(t *testing.T, s *storage.Store, now time.Time) storage.Job {
	t.Helper()
	got, err := s.ClaimJobs(context.Background(), now, 1, lease)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(got))
	}
	return got[0]
}

func TestEnqueue(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		s.Now = storagetest.NewClock(t0).Now
		payload := map[string]string{"openid": "oX", "text": "您好"}
		storagetest.Must(t, s.Enqueue(ctx, "send", "reply:1", payload, t0))
		// Same key, even with another payload or kind: no second row.
		storagetest.Must(t, s.Enqueue(ctx, "send", "reply:1", map[string]string{"other": "x"}, t0))
		storagetest.Must(t, s.Enqueue(ctx, "other", "reply:1", nil, t0))
		// No key: never deduplicated.
		storagetest.Must(t, s.Enqueue(ctx, "send", "", json.RawMessage(`{"n":1}`), t0))
		storagetest.Must(t, s.Enqueue(ctx, "send", "", []byte(`{"n":2}`), t0))
		if n := countJobs(t, s); n != 3 {
			t.Fatalf("%d jobs, want 3", n)
		}
		j := claimOne(t, s, t0)
		var got map[string]string
		storagetest.Must(t, json.Unmarshal(j.Payload, &got))
		if j.Kind != "send" || j.DedupKey != "reply:1" || got["text"] != "您好" || j.Attempts != 1 ||
			j.Status != storage.JobRunning || !j.LockedUntil.Equal(t0.Add(lease)) || !j.CreatedAt.Equal(t0) {
			t.Errorf("claimed %+v (payload %s)", j, j.Payload)
		}

		for _, bad := range []struct {
			kind, key string
			payload   any
		}{
			{"", "k", nil},
			{"send", "k", []byte("not json")},
			{"send", "k", func() {}},
			{"send", string(make([]byte, 256)), nil},
		} {
			if err := s.Enqueue(ctx, bad.kind, bad.key, bad.payload, t0); err == nil {
				t.Errorf("Enqueue(%q, %d-byte key, %T) succeeded", bad.kind, len(bad.key), bad.payload)
			}
		}
	})
}

// An outbox row commits or rolls back with the domain write beside it.
func TestEnqueueTx(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx *sqlx.Tx) error {
			storagetest.Must(t, storage.EnqueueTx(ctx, tx, s.Dialect, "photo", "photo:1", nil, t0))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if n := countJobs(t, s); n != 0 {
			t.Fatalf("rolled back enqueue left %d jobs", n)
		}

		func() {
			defer func() {
				if r := recover(); r != "panic in tx" {
					t.Errorf("recovered %v", r)
				}
			}()
			_ = s.InTx(ctx, func(tx *sqlx.Tx) error {
				storagetest.Must(t, storage.EnqueueTx(ctx, tx, s.Dialect, "photo", "photo:1", nil, t0))
				panic("panic in tx")
			})
		}()
		if n := countJobs(t, s); n != 0 {
			t.Fatalf("panicking tx left %d jobs", n)
		}

		storagetest.Must(t, s.InTx(ctx, func(tx *sqlx.Tx) error {
			if err := storage.EnqueueTx(ctx, tx, s.Dialect, "photo", "photo:1", nil, t0); err != nil {
				return err
			}
			// A duplicate inside the transaction is a no-op and doesn't spoil it.
			return storage.EnqueueTx(ctx, tx, s.Dialect, "photo", "photo:1", nil, t0)
		}))
		if n := countJobs(t, s); n != 1 {
			t.Fatalf("%d jobs, want 1", n)
		}
	})
}

func TestClaimJobs(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		storagetest.Must(t, s.Enqueue(ctx, "a", "later", nil, t0.Add(time.Hour)))
		storagetest.Must(t, s.Enqueue(ctx, "a", "second", nil, t0.Add(time.Second)))
		storagetest.Must(t, s.Enqueue(ctx, "b", "first", nil, t0))

		got, err := s.ClaimJobs(ctx, t0.Add(time.Second), 10, 3*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].DedupKey != "first" || got[1].DedupKey != "second" {
			t.Fatalf("claimed %+v, want first and second in run_at order", got)
		}
		// Claimed jobs are not claimed again while their lease runs.
		if got, _ := s.ClaimJobs(ctx, t0.Add(time.Minute), 10, lease); len(got) != 0 {
			t.Errorf("re-claimed %d leased jobs", len(got))
		}
		// The kind filter.
		if got, _ := s.ClaimJobs(ctx, t0.Add(2*time.Hour), 10, lease, "b"); len(got) != 0 {
			t.Errorf("claimed %+v for kind b", got)
		}
		got, err = s.ClaimJobs(ctx, t0.Add(time.Hour), 10, lease, "a", "c")
		if err != nil || len(got) != 1 || got[0].DedupKey != "later" {
			t.Errorf("claim kind a at run_at = %+v, %v", got, err)
		}
		if got, err := s.ClaimJobs(ctx, t0, 0, lease); err != nil || got != nil {
			t.Errorf("limit 0 = %v, %v", got, err)
		}
	})
}

// A worker that died leaves its jobs running; once the lease has passed,
// another worker takes them over.
func TestClaimExpiredLease(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		storagetest.Must(t, s.Enqueue(ctx, "photo", "p1", nil, t0))
		first := claimOne(t, s, t0)

		if got, _ := s.ClaimJobs(ctx, t0.Add(lease), 10, lease); len(got) != 0 {
			t.Fatalf("claimed at the lease's last instant: %+v", got)
		}
		again := claimOne(t, s, t0.Add(lease+time.Microsecond))
		if again.ID != first.ID || again.Attempts != 2 || !again.LockedUntil.Equal(t0.Add(2*lease+time.Microsecond)) {
			t.Errorf("re-claimed %+v", again)
		}
	})
}

func TestJobOutcomes(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		s.Now = clock.Now
		for _, k := range []string{"done", "retry", "kill"} {
			storagetest.Must(t, s.Enqueue(ctx, "k", k, nil, t0))
		}
		got, err := s.ClaimJobs(ctx, t0, 10, lease)
		if err != nil || len(got) != 3 {
			t.Fatalf("claim = %d jobs, %v", len(got), err)
		}
		ids := map[string]int64{}
		for _, j := range got {
			ids[j.DedupKey] = j.ID
		}

		storagetest.Must(t, s.CompleteJob(ctx, ids["done"], t0.Add(time.Second)))
		storagetest.Must(t, s.RetryJob(ctx, ids["retry"], t0.Add(time.Minute), "wechat said 45009"))
		storagetest.Must(t, s.KillJob(ctx, ids["kill"], "payload broken"))

		want := map[string]struct {
			status, lastErr string
			runAt           time.Time
		}{
			"done":  {storage.JobDone, "", t0},
			"retry": {storage.JobPending, "wechat said 45009", t0.Add(time.Minute)},
			"kill":  {storage.JobDead, "payload broken", t0},
		}
		for key, w := range want {
			j, err := s.GetJob(ctx, ids[key])
			if err != nil {
				t.Fatal(err)
			}
			if j.Status != w.status || j.LastError != w.lastErr || !j.RunAt.Equal(w.runAt) || !j.LockedUntil.IsZero() {
				t.Errorf("%s: got %+v", key, j)
			}
		}

		// Only the retried job comes back, and only when due.
		if got, _ := s.ClaimJobs(ctx, t0.Add(59*time.Second), 10, lease); len(got) != 0 {
			t.Errorf("claimed before run_at: %+v", got)
		}
		if j := claimOne(t, s, t0.Add(time.Minute)); j.ID != ids["retry"] || j.Attempts != 2 {
			t.Errorf("claimed %+v", j)
		}

		for _, f := range []func() error{
			func() error { return s.CompleteJob(ctx, 999999, t0) },
			func() error { return s.RetryJob(ctx, 999999, t0, "") },
			func() error { return s.KillJob(ctx, 999999, "") },
			func() error { _, err := s.GetJob(ctx, 999999); return err },
		} {
			if err := f(); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("unknown job: %v, want ErrNotFound", err)
			}
		}

		// Long errors are cut on a character boundary.
		long := ""
		for len(long) < 5000 {
			long += "微信接口错误"
		}
		storagetest.Must(t, s.KillJob(ctx, ids["retry"], long))
		if j, _ := s.GetJob(ctx, ids["retry"]); len(j.LastError) > 4000 || len(j.LastError) < 3997 || !utf8.ValidString(j.LastError) {
			t.Errorf("last_error cut badly: %d bytes ending %q", len(j.LastError), j.LastError[len(j.LastError)-3:])
		}

		n, err := s.PruneJobs(ctx, t0.Add(2*time.Second))
		if err != nil || n != 1 {
			t.Errorf("PruneJobs = %d, %v; want the done job", n, err)
		}
	})
}

func TestJobStats(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		pending, oldest, err := s.JobStats(ctx, t0)
		if err != nil || pending != 0 || oldest != 0 {
			t.Fatalf("empty: %d, %v, %v", pending, oldest, err)
		}
		storagetest.Must(t, s.Enqueue(ctx, "k", "a", nil, t0.Add(-90*time.Second)))
		storagetest.Must(t, s.Enqueue(ctx, "k", "b", nil, t0.Add(-10*time.Second)))
		storagetest.Must(t, s.Enqueue(ctx, "k", "c", nil, t0.Add(time.Hour)))
		pending, oldest, err = s.JobStats(ctx, t0)
		if err != nil || pending != 3 || oldest != 90*time.Second {
			t.Errorf("got %d, %v, %v; want 3, 1m30s", pending, oldest, err)
		}
	})
}

// Eight claimers racing over the same queue never share a job, and between
// them claim every one.
func TestClaimConcurrent(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		const total = 200
		for i := range total {
			storagetest.Must(t, s.Enqueue(ctx, "k", fmt.Sprint("job:", i), nil, t0))
		}
		var (
			mu    sync.Mutex
			owner = map[int64]int{}
			wg    sync.WaitGroup
		)
		for w := range 8 {
			wg.Go(func() {
				for {
					got, err := s.ClaimJobs(ctx, t0, 5, lease)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, j := range got {
						if prev, dup := owner[j.ID]; dup {
							t.Errorf("job %d claimed by %d and %d", j.ID, prev, w)
						}
						owner[j.ID] = w
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(owner) != total {
			t.Errorf("claimed %d distinct jobs, want %d", len(owner), total)
		}
	})
}
