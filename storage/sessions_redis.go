package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisSessions is the session store on Redis, shared by every replica.
type RedisSessions struct {
	c      *redis.Client
	prefix string
}

// NewRedisSessions stores keys in c under prefix ("hazardbot:" in
// production, a unique one per test).
func NewRedisSessions(c *redis.Client, prefix string) *RedisSessions {
	return &RedisSessions{c: c, prefix: prefix}
}

// Key returns the Redis key that holds key.
func (r *RedisSessions) Key(key string) string { return r.prefix + key }

// Client returns the underlying client.
func (r *RedisSessions) Client() *redis.Client { return r.c }

// Get implements Sessions.
func (r *RedisSessions) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := r.c.Get(ctx, r.Key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: redis get: %w", err)
	}
	return v, true, nil
}

// MGet implements Sessions.
func (r *RedisSessions) MGet(ctx context.Context, keys ...string) ([][]byte, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.Key(k)
	}
	vals, err := r.c.MGet(ctx, full...).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: redis mget: %w", err)
	}
	out := make([][]byte, len(keys))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}

// Set implements Sessions.
func (r *RedisSessions) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return fmt.Errorf("storage: redis set: %w", err)
	}
	if err := r.c.Set(ctx, r.Key(key), val, ttl).Err(); err != nil {
		return fmt.Errorf("storage: redis set: %w", err)
	}
	return nil
}

// SetNX implements Sessions.
func (r *RedisSessions) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL(ttl); err != nil {
		return false, fmt.Errorf("storage: redis setnx: %w", err)
	}
	ok, err := r.c.SetNX(ctx, r.Key(key), val, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("storage: redis setnx: %w", err)
	}
	return ok, nil
}

// Del implements Sessions.
func (r *RedisSessions) Del(ctx context.Context, key string) error {
	if err := r.c.Del(ctx, r.Key(key)).Err(); err != nil {
		return fmt.Errorf("storage: redis del: %w", err)
	}
	return nil
}

// incrScript sets the TTL only when INCR created the key, atomically, so a
// crash between the two commands can't leave an immortal counter.
var incrScript = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
local n = redis.call('INCR', KEYS[1])
if existed == 0 and tonumber(ARGV[1]) > 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`)

// Incr implements Sessions.
func (r *RedisSessions) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL(ttl); err != nil {
		return 0, fmt.Errorf("storage: redis incr: %w", err)
	}
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1
	}
	n, err := incrScript.Run(ctx, r.c, []string{r.Key(key)}, ms).Int64()
	if err != nil {
		return 0, fmt.Errorf("storage: redis incr: %w", err)
	}
	return n, nil
}

// unlockScript deletes the lock only if it still holds our token: once our
// TTL has passed, the key may be someone else's lock.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// Lock implements Sessions with SET NX PX; a waiter polls with jittered
// exponential backoff (Redis has no cheap way to block on a key's deletion).
func (r *RedisSessions) Lock(ctx context.Context, key string, ttl, wait time.Duration) (func(), error) {
	if ttl <= 0 {
		return nil, errors.New("storage: redis lock: ttl must be positive")
	}
	k := r.Key(key)
	token := lockToken()
	deadline := time.Now().Add(wait)
	backoff := lockPollMin
	for {
		ok, err := r.c.SetNX(ctx, k, token, ttl).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
			}
			return nil, fmt.Errorf("storage: redis lock: %w", err)
		}
		if ok {
			return r.unlocker(k, token), nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrLocked
		}
		sleep := min(backoff/2+rand.N(backoff/2+1), left)
		backoff = min(backoff*2, lockPollMax)
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		}
	}
}

// lockGet takes a lock and reads keys in one script, one round trip.
var lockGet = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local out = {1}
  for i = 2, #KEYS do out[i] = redis.call('GET', KEYS[i]) end
  return out
end
return {0}`)

// LockMGet is Lock followed by MGet. When the lock is free, as it nearly
// always is, both take one round trip; the per-resident lock and the
// conversation's state are what every message needs first.
func (r *RedisSessions) LockMGet(ctx context.Context, key string, ttl, wait time.Duration, keys ...string) (func(), [][]byte, error) {
	if ttl <= 0 {
		return nil, nil, errors.New("storage: redis lock: ttl must be positive")
	}
	k := r.Key(key)
	token := lockToken()
	full := []string{k}
	for _, kk := range keys {
		full = append(full, r.Key(kk))
	}
	res, err := lockGet.Run(ctx, r.c, full, token, ttl.Milliseconds()).Slice()
	if err == nil && len(res) > 0 && res[0] == int64(1) {
		out := make([][]byte, len(keys))
		for i := range keys {
			if i+1 < len(res) {
				if s, ok := res[i+1].(string); ok {
					out[i] = []byte(s)
				}
			}
		}
		return r.unlocker(k, token), out, nil
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("storage: redis lock: %w", err)
	}
	// Taken: wait for it the ordinary way, then read.
	unlock, err := r.Lock(ctx, key, ttl, wait)
	if err != nil {
		return nil, nil, err
	}
	vals, err := r.MGet(ctx, keys...)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return unlock, vals, nil
}

func (r *RedisSessions) unlocker(k string, token []byte) func() {
	var once sync.Once
	return func() {
		once.Do(func() { r.unlock(k, token) })
	}
}

// unlock runs on a fresh context: it must work even when the request that
// took the lock has been cancelled. If it fails anyway, the TTL frees the lock.
func (r *RedisSessions) unlock(k string, token []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = unlockScript.Run(ctx, r.c, []string{k}, token).Err()
}

// Ping implements Sessions.
func (r *RedisSessions) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("storage: redis ping: %w", err)
	}
	return nil
}

// TTL reports how long key has left: ok is false if it is absent, and ttl is
// 0 for a key without expiry (as MemorySessions.TTL).
func (r *RedisSessions) TTL(ctx context.Context, key string) (ttl time.Duration, ok bool, err error) {
	d, err := r.c.PTTL(ctx, r.Key(key)).Result()
	if err != nil {
		return 0, false, fmt.Errorf("storage: redis ttl: %w", err)
	}
	switch {
	case d == -2 || d == -2*time.Millisecond:
		return 0, false, nil
	case d == -1 || d == -1*time.Millisecond:
		return 0, true, nil
	}
	return d, true, nil
}

var _ Sessions = (*RedisSessions)(nil)
