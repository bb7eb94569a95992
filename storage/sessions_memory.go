package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"time"
)

// memShards spreads keys over independently locked maps so that 64
// concurrent requests for different users rarely wait on each other.
const memShards = 64

// minSweepEvery keeps tiny shards from sweeping on every write.
const minSweepEvery = 256

// MemorySessions is the in-process session store, for one-binary setups and
// tests. Expiry follows the injected clock. Expired entries are dropped when
// touched, and each shard sweeps itself once it has seen as many writes as
// its last sweep kept entries, so memory tracks the live set (amortised O(1)
// per write, no background goroutine to stop).
type MemorySessions struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memShards]memShard
}

type memShard struct {
	mu      sync.Mutex
	m       map[string]memEntry
	waiters map[string]chan struct{} // closed when the key is removed
	writes  int                      // since the last sweep
	kept    int                      // entries the last sweep left
}

type memEntry struct {
	val []byte
	exp time.Time // zero: no expiry
}

func (e memEntry) expired(now time.Time) bool {
	return !e.exp.IsZero() && !now.Before(e.exp)
}

// NewMemorySessions returns an empty in-process store whose expiry follows
// now (time.Now if nil).
func NewMemorySessions(now func() time.Time) *MemorySessions {
	if now == nil {
		now = time.Now
	}
	s := &MemorySessions{now: now, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]memEntry)
		s.shards[i].waiters = make(map[string]chan struct{})
	}
	return s
}

func (s *MemorySessions) shard(key string) *memShard {
	return &s.shards[maphash.String(s.seed, key)%memShards]
}

// get returns the live entry for key, dropping it if it has expired. The
// caller holds sh.mu.
func (sh *memShard) get(key string, now time.Time) (memEntry, bool) {
	e, ok := sh.m[key]
	if !ok {
		return memEntry{}, false
	}
	if e.expired(now) {
		sh.remove(key)
		return memEntry{}, false
	}
	return e, true
}

// remove deletes key and wakes anyone waiting to lock it. The caller holds sh.mu.
func (sh *memShard) remove(key string) {
	delete(sh.m, key)
	sh.wake(key)
}

func (sh *memShard) wake(key string) {
	if ch, ok := sh.waiters[key]; ok {
		close(ch)
		delete(sh.waiters, key)
	}
}

// put stores e and pays for the shard's periodic sweep. The caller holds
// sh.mu. It wakes no lock waiters: the key is taken, not free.
func (sh *memShard) put(key string, e memEntry, now time.Time) {
	sh.m[key] = e
	sh.writes++
	// Sweeping costs len(m) = kept + at most writes, so sweeping once
	// writes reach kept makes it O(1) per write, and lets the map grow to
	// at most about twice what was live at the last sweep.
	if sh.writes >= max(sh.kept, minSweepEvery) {
		sh.sweep(now)
	}
}

func (sh *memShard) sweep(now time.Time) {
	for k, e := range sh.m {
		if e.expired(now) {
			sh.remove(k)
		}
	}
	sh.writes = 0
	sh.kept = len(sh.m)
}

func expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

// Get implements Sessions.
func (s *MemorySessions) Get(_ context.Context, key string) ([]byte, bool, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.get(key, s.now())
	if !ok {
		return nil, false, nil
	}
	return bytes.Clone(e.val), true, nil
}

// MGet implements Sessions.
func (s *MemorySessions) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _, _ = s.Get(ctx, k)
	}
	return out, nil
}

// Set implements Sessions.
func (s *MemorySessions) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return fmt.Errorf("storage: session set: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	sh.put(key, memEntry{val: bytes.Clone(val), exp: expiry(now, ttl)}, now)
	return nil
}

// SetNX implements Sessions.
func (s *MemorySessions) SetNX(_ context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(ttl); err != nil {
		return false, fmt.Errorf("storage: session setnx: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	if _, ok := sh.get(key, now); ok {
		return false, nil
	}
	sh.put(key, memEntry{val: bytes.Clone(val), exp: expiry(now, ttl)}, now)
	return true, nil
}

// Del implements Sessions.
func (s *MemorySessions) Del(_ context.Context, key string) error {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.remove(key)
	return nil
}

// Incr implements Sessions.
func (s *MemorySessions) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, fmt.Errorf("storage: session incr: %w", err)
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e, ok := sh.get(key, now)
	var n int64
	if ok {
		v, err := strconv.ParseInt(string(e.val), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("storage: session incr %q: value is not an integer", key)
		}
		n = v
	} else {
		e.exp = expiry(now, ttl)
	}
	n++
	e.val = strconv.AppendInt(nil, n, 10)
	sh.put(key, e, now)
	return n, nil
}

// Lock implements Sessions. A waiter sleeps on a channel that is closed when
// the key is removed, and otherwise until the holder's lease lapses or its
// own wait runs out, so it never spins.
func (s *MemorySessions) Lock(ctx context.Context, key string, ttl, wait time.Duration) (func(), error) {
	if ttl <= 0 {
		return nil, errors.New("storage: session lock: ttl must be positive")
	}
	token := lockToken()
	deadline := time.Now().Add(wait)
	sh := s.shard(key)
	for {
		sh.mu.Lock()
		now := s.now()
		held, busy := sh.get(key, now)
		if !busy {
			sh.put(key, memEntry{val: token, exp: now.Add(ttl)}, now)
			sh.mu.Unlock()
			return s.unlocker(key, token), nil
		}
		sleep := time.Until(deadline)
		if sleep <= 0 {
			sh.mu.Unlock()
			return nil, ErrLocked
		}
		if lapse := held.exp.Sub(now); !held.exp.IsZero() && lapse < sleep {
			sleep = lapse
		}
		ch, ok := sh.waiters[key]
		if !ok {
			ch = make(chan struct{})
			sh.waiters[key] = ch
		}
		sh.mu.Unlock()

		t := time.NewTimer(sleep)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		}
		t.Stop()
	}
}

func (s *MemorySessions) unlocker(key string, token []byte) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			sh := s.shard(key)
			sh.mu.Lock()
			defer sh.mu.Unlock()
			if e, ok := sh.m[key]; ok && bytes.Equal(e.val, token) {
				sh.remove(key)
			}
		})
	}
}

// Ping implements Sessions.
func (s *MemorySessions) Ping(context.Context) error { return nil }

// TTL reports how long key has left: ok is false if it is absent, and ttl is
// 0 for a key without expiry. Tests use it to assert expiry the same way on
// both stores.
func (s *MemorySessions) TTL(_ context.Context, key string) (ttl time.Duration, ok bool, err error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	e, ok := sh.get(key, now)
	if !ok {
		return 0, false, nil
	}
	if e.exp.IsZero() {
		return 0, true, nil
	}
	return e.exp.Sub(now), true, nil
}

// Len counts the entries held, expired ones not yet swept included.
func (s *MemorySessions) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Sweep drops every expired entry now. Writes sweep as they go, so calling
// it is only needed to free memory after a burst followed by silence.
func (s *MemorySessions) Sweep() {
	now := s.now()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.sweep(now)
		sh.mu.Unlock()
	}
}

var _ Sessions = (*MemorySessions)(nil)
