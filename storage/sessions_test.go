package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func TestSessionsGetSetDel(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		if _, ok, err := s.Get(ctx, "missing"); ok || err != nil {
			t.Fatalf("Get(missing) = %v, %v", ok, err)
		}
		storagetest.Must(t, s.Set(ctx, "sess:oA", []byte(`{"flow":"report"}`), time.Hour))
		v, ok, err := s.Get(ctx, "sess:oA")
		if err != nil || !ok || string(v) != `{"flow":"report"}` {
			t.Fatalf("Get = %q, %v, %v", v, ok, err)
		}
		// The returned slice is the caller's own.
		v[0] = 'X'
		if v2, _, _ := s.Get(ctx, "sess:oA"); string(v2) != `{"flow":"report"}` {
			t.Errorf("store shares memory with the caller: %q", v2)
		}
		storagetest.Must(t, s.Set(ctx, "sess:oA", []byte("v2"), 0))
		if v, _, _ := s.Get(ctx, "sess:oA"); string(v) != "v2" {
			t.Errorf("overwrite: %q", v)
		}
		if d, ok := storagetest.TTL(t, s, "sess:oA"); !ok || d != 0 {
			t.Errorf("Set with ttl 0 left TTL %v, %v; want none", d, ok)
		}
		storagetest.Must(t, s.Del(ctx, "sess:oA"))
		storagetest.Must(t, s.Del(ctx, "sess:oA"))
		if _, ok, _ := s.Get(ctx, "sess:oA"); ok {
			t.Error("deleted key still there")
		}
		// Empty values are values.
		storagetest.Must(t, s.Set(ctx, "empty", nil, time.Minute))
		if v, ok, _ := s.Get(ctx, "empty"); !ok || len(v) != 0 {
			t.Errorf("empty value: %q, %v", v, ok)
		}
		if err := s.Set(ctx, "neg", []byte("x"), -time.Second); err == nil {
			t.Error("negative ttl accepted")
		}
		storagetest.Must(t, s.Ping(ctx))
	})
}

func TestSessionsExpiry(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		storagetest.Must(t, s.Set(ctx, "k", []byte("v"), 30*time.Second))
		if d, ok := storagetest.TTL(t, s, "k"); !ok || d <= 29*time.Second || d > 30*time.Second {
			t.Fatalf("TTL = %v, %v; want just under 30s", d, ok)
		}
		storagetest.Lapse(t, s, clock, "k")
		if _, ok, _ := s.Get(ctx, "k"); ok {
			t.Error("key outlived its TTL")
		}
		// SetNX over an expired key succeeds.
		storagetest.Must(t, s.Set(ctx, "nx", []byte("old"), time.Minute))
		storagetest.Lapse(t, s, clock, "nx")
		if ok, err := s.SetNX(ctx, "nx", []byte("new"), time.Minute); !ok || err != nil {
			t.Errorf("SetNX over expired key = %v, %v", ok, err)
		}
		if d, ok := storagetest.TTL(t, s, "nx"); !ok || d <= 59*time.Second || d > time.Minute {
			t.Errorf("SetNX TTL = %v, %v", d, ok)
		}
	})
}

// Only the in-process store's clock can be moved: this checks expiry exactly
// at the boundary, and that memory stays flat as users come and go.
func TestMemorySessionsClock(t *testing.T) {
	ctx := context.Background()
	clock := storagetest.NewClock(storagetest.Epoch)
	s := storage.NewMemorySessions(clock.Now)
	storagetest.Must(t, s.Set(ctx, "k", []byte("v"), time.Minute))
	clock.Advance(time.Minute - time.Nanosecond)
	if _, ok, _ := s.Get(ctx, "k"); !ok {
		t.Error("expired early")
	}
	clock.Advance(time.Nanosecond)
	if _, ok, _ := s.Get(ctx, "k"); ok {
		t.Error("not expired at its TTL")
	}

	// 100k users an hour, each leaving a 30-minute session: entries held
	// stay near one hour's worth however many hours pass.
	const users = 100_000
	for hour := range 3 {
		for i := range users {
			storagetest.Must(t, s.Set(ctx, fmt.Sprintf("sess:%d:%d", hour, i), []byte("{}"), 30*time.Minute))
		}
		clock.Advance(time.Hour)
		if n := s.Len(); n > 2*users {
			t.Fatalf("hour %d: %d entries held, want at most %d", hour, n, 2*users)
		}
	}
	s.Sweep()
	if n := s.Len(); n != 0 {
		t.Errorf("after Sweep: %d entries, want 0", n)
	}
}

func TestSessionsSetNXConcurrent(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				ok, err := s.SetNX(ctx, "retry:msg1", []byte(fmt.Sprint(i)), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d SetNX calls won, want 1", wins.Load())
		}
	})
}

func TestSessionsIncr(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		for want := int64(1); want <= 3; want++ {
			n, err := s.Incr(ctx, "rate:oA", time.Minute)
			if err != nil || n != want {
				t.Fatalf("Incr = %d, %v; want %d", n, err, want)
			}
		}
		// The TTL was set by the first Incr and not pushed back by later ones.
		if d, ok := storagetest.TTL(t, s, "rate:oA"); !ok || d <= 59*time.Second || d > time.Minute {
			t.Errorf("TTL = %v, %v", d, ok)
		}
		if v, _, _ := s.Get(ctx, "rate:oA"); string(v) != "3" {
			t.Errorf("counter reads %q, want 3", v)
		}
		storagetest.Lapse(t, s, clock, "rate:oA")
		if n, _ := s.Incr(ctx, "rate:oA", time.Minute); n != 1 {
			t.Errorf("after expiry Incr = %d, want 1", n)
		}
		// Without ttl: no expiry.
		if n, _ := s.Incr(ctx, "total", 0); n != 1 {
			t.Errorf("Incr(total) = %d", n)
		}
		if d, ok := storagetest.TTL(t, s, "total"); !ok || d != 0 {
			t.Errorf("TTL(total) = %v, %v; want none", d, ok)
		}
		storagetest.Must(t, s.Set(ctx, "text", []byte("abc"), 0))
		if _, err := s.Incr(ctx, "text", 0); err == nil {
			t.Error("Incr of a non-number succeeded")
		}

		// Concurrent increments are all counted.
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, err := s.Incr(ctx, "many", time.Minute); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if v, _, _ := s.Get(ctx, "many"); string(v) != "50" {
			t.Errorf("50 concurrent Incr gave %q", v)
		}
	})
}

func TestSessionsLock(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		unlock, err := s.Lock(ctx, "lock:oA", time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lock(ctx, "lock:oA", time.Minute, 0); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("second Lock = %v, want ErrLocked", err)
		}
		// Another key is independent.
		unlockB, err := s.Lock(ctx, "lock:oB", time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		unlockB()
		unlock()
		unlock() // harmless twice
		unlock, err = s.Lock(ctx, "lock:oA", time.Minute, 0)
		if err != nil {
			t.Fatalf("Lock after unlock: %v", err)
		}
		unlock()

		if _, err := s.Lock(ctx, "lock:oA", 0, 0); err == nil {
			t.Error("Lock without ttl succeeded")
		}

		// A cancelled wait ends at once, with both errors visible.
		unlock, _ = s.Lock(ctx, "lock:busy", time.Minute, 0)
		defer unlock()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Lock(cctx, "lock:busy", time.Minute, time.Hour); !errors.Is(err, storage.ErrLocked) || !errors.Is(err, context.Canceled) {
			t.Errorf("Lock with cancelled ctx = %v", err)
		}
	})
}

// Holders take turns: a waiter gets the lock when it is released, and no two
// ever hold it at once.
func TestSessionsLockExclusive(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		var (
			inside  atomic.Int32
			counter int // guarded by the lock under test only
			wg      sync.WaitGroup
		)
		const workers, rounds = 16, 5
		for range workers {
			wg.Go(func() {
				for range rounds {
					unlock, err := s.Lock(ctx, "lock:shared", time.Minute, 30*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					if n := inside.Add(1); n != 1 {
						t.Errorf("%d holders at once", n)
					}
					counter++
					inside.Add(-1)
					unlock()
				}
			})
		}
		wg.Wait()
		if counter != workers*rounds {
			t.Errorf("counter = %d, want %d", counter, workers*rounds)
		}
	})
}

// A holder whose TTL ran out must not release the lock its successor took.
func TestSessionsUnlockAfterExpiry(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		unlockA, err := s.Lock(ctx, "lock:oA", 10*time.Second, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := storagetest.TTL(t, s, "lock:oA"); !ok || d <= 9*time.Second || d > 10*time.Second {
			t.Errorf("lock TTL = %v, %v", d, ok)
		}
		storagetest.Lapse(t, s, clock, "lock:oA")

		unlockB, err := s.Lock(ctx, "lock:oA", 10*time.Second, 0)
		if err != nil {
			t.Fatalf("Lock after expiry: %v", err)
		}
		unlockA() // late: must leave B's lock alone
		if _, err := s.Lock(ctx, "lock:oA", 10*time.Second, 0); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("A's late unlock released B's lock: %v", err)
		}
		unlockB()
		if unlock, err := s.Lock(ctx, "lock:oA", 10*time.Second, 0); err != nil {
			t.Errorf("Lock after B's unlock: %v", err)
		} else {
			unlock()
		}
	})
}

// A waiter on the in-process store wakes when the holder's lease lapses by
// the clock it was given — here the real one, lapsing in milliseconds.
func TestMemoryLockWaitsOutLease(t *testing.T) {
	ctx := context.Background()
	s := storage.NewMemorySessions(nil)
	if _, err := s.Lock(ctx, "lock:x", 20*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(ctx, "lock:x", time.Minute, 10*time.Second)
	if err != nil {
		t.Fatalf("waiter did not get the lapsed lock: %v", err)
	}
	unlock()
}

func TestSessionsMGet(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, s storage.Sessions, clock *storagetest.Clock) {
		ctx := context.Background()
		storagetest.Must(t, s.Set(ctx, "a", []byte("1"), time.Minute))
		storagetest.Must(t, s.Set(ctx, "c", []byte("3"), time.Second))
		storagetest.Lapse(t, s, clock, "c")
		got, err := s.MGet(ctx, "a", "b", "c")
		storagetest.Must(t, err)
		if len(got) != 3 || string(got[0]) != "1" || got[1] != nil || got[2] != nil {
			t.Fatalf("MGet = %q", got)
		}
	})
}

func TestRedisLockMGet(t *testing.T) {
	r := storagetest.NewRedis(t)
	ctx := context.Background()
	storagetest.Must(t, r.Set(ctx, "sess:o", []byte("s"), time.Minute))
	unlock, vals, err := r.LockMGet(ctx, "lock:o", time.Second, 0, "sess:o", "stash:o")
	storagetest.Must(t, err)
	if string(vals[0]) != "s" || vals[1] != nil {
		t.Fatalf("vals %q", vals)
	}
	if _, _, err := r.LockMGet(ctx, "lock:o", time.Second, 0, "sess:o"); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second holder: %v", err)
	}
	unlock()
	unlock2, vals, err := r.LockMGet(ctx, "lock:o", time.Second, time.Second, "sess:o")
	storagetest.Must(t, err)
	unlock2()
	if string(vals[0]) != "s" {
		t.Fatalf("after unlock: %q", vals)
	}
}
