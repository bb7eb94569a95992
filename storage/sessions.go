package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// ErrLocked is returned by Sessions.Lock when the lock stays taken for the
// whole wait.
var ErrLocked = errors.New("storage: lock busy")

// Sessions is the session store: conversation state, retry dedup, short
// per-user locks, counters and the shared WeChat access token. Nothing in it
// may be data whose loss matters — Redis may restart — and every key should
// carry a TTL unless it is truly small and bounded.
//
// Locks share the key space with values: name lock keys apart
// ("lock:user:<openid>").
type Sessions interface {
	// Get returns the value of key; ok is false if it is absent or expired.
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// MGet returns the values of several keys in one round trip; an absent
	// or expired key gives nil.
	MGet(ctx context.Context, keys ...string) ([][]byte, error)
	// Set stores val under key; ttl 0 means no expiry.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	// SetNX stores val only if key is absent, and reports whether it did.
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
	// Del removes key; removing an absent key is not an error.
	Del(ctx context.Context, key string) error
	// Incr adds one to the decimal counter at key and returns the new value.
	// ttl (0 = none) applies only when the key is created, so a counter
	// counts over a fixed window from its first hit.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Lock takes a mutex on key that lapses after ttl, waiting up to wait
	// for it; it returns ErrLocked when it can't get it in time. unlock
	// releases the lock only if it is still ours: after the ttl has passed
	// someone else may hold it, and theirs must survive.
	Lock(ctx context.Context, key string, ttl, wait time.Duration) (unlock func(), err error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// lockToken returns a random value that identifies one holder of a lock.
func lockToken() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return []byte(hex.EncodeToString(b))
}

func checkTTL(ttl time.Duration) error {
	if ttl < 0 {
		return errors.New("negative ttl")
	}
	return nil
}
