// Package storagetest runs tests against real backends: SQLite always,
// MySQL/MariaDB when HAZARDBOT_TEST_MYSQL holds a DSN, and for the session
// store the in-process one always and Redis when HAZARDBOT_TEST_REDIS holds a
// URL. Each test gets a fresh database or key prefix, removed afterwards.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"hazardbot/storage"
)

// Environment variables that switch on the external backends.
const (
	EnvMySQL = "HAZARDBOT_TEST_MYSQL" // e.g. root@tcp(127.0.0.1:3306)/test?parseTime=true
	EnvRedis = "HAZARDBOT_TEST_REDIS" // e.g. redis://127.0.0.1:6379/0
)

// Epoch is the time NewClock-based helpers start at: a fixed instant, so
// tests don't depend on when they run.
var Epoch = time.Date(2025, 3, 14, 1, 30, 0, 0, time.UTC)

// Clock is a settable clock for tests; safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Stores runs fn once per database backend, each in its own subtest on a
// fresh, migrated database: "sqlite" always, "mysql" when EnvMySQL is set.
func Stores(t *testing.T, fn func(t *testing.T, s *storage.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite(t)) })
	if os.Getenv(EnvMySQL) != "" {
		t.Run("mysql", func(t *testing.T) { fn(t, OpenMySQL(t)) })
	}
}

// OpenSQLite opens and migrates a SQLite store in t.TempDir(), closed when
// the test ends.
func OpenSQLite(t testing.TB) *storage.Store {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return s
}

// OpenMySQL creates a database hb_test_<random> on the server named by
// EnvMySQL, migrates it, and drops it when the test ends. It skips the test
// when EnvMySQL is unset.
func OpenMySQL(t testing.TB) *storage.Store {
	t.Helper()
	s, _ := OpenMySQLDSN(t)
	return s
}

// OpenMySQLDSN is OpenMySQL that also returns the new database's DSN, for
// tests that open it again as another instance would.
func OpenMySQLDSN(t testing.TB) (*storage.Store, string) {
	t.Helper()
	dsn := os.Getenv(EnvMySQL)
	if dsn == "" {
		t.Skipf("%s not set", EnvMySQL)
	}
	ctx := context.Background()
	cfg, err := storage.MySQLConfig(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQL, err)
	}
	admin, err := sqlx.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("connect to mysql: %v", err)
	}
	t.Cleanup(func() { admin.Close() })

	name := "hb_test_" + randomHex(4)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})

	cfg.DBName = name
	s, err := storage.Open(ctx, cfg.FormatDSN(), "")
	if err != nil {
		t.Fatalf("open mysql: %v", err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the drop above
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate mysql: %v", err)
	}
	return s, cfg.FormatDSN()
}

// Sessions runs fn once per session store, each in its own subtest with a
// clock at Epoch: "memory" always (its expiry follows the clock), "redis"
// when EnvRedis is set (Redis keeps its own time: check expiry with TTL and
// Lapse, which work on both).
func Sessions(t *testing.T, fn func(t *testing.T, s storage.Sessions, clock *Clock)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		clock := NewClock(Epoch)
		fn(t, storage.NewMemorySessions(clock.Now), clock)
	})
	if os.Getenv(EnvRedis) != "" {
		t.Run("redis", func(t *testing.T) {
			fn(t, NewRedis(t), NewClock(Epoch))
		})
	}
}

// NewRedis returns a Redis session store under a unique key prefix on the
// server named by EnvRedis, deleting its keys when the test ends. It skips
// the test when EnvRedis is unset.
func NewRedis(t testing.TB) *storage.RedisSessions {
	t.Helper()
	u := os.Getenv(EnvRedis)
	if u == "" {
		t.Skipf("%s not set", EnvRedis)
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", EnvRedis, err)
	}
	c := redis.NewClient(opts)
	prefix := "hbtest:" + randomHex(6) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up redis keys %s*: %v", prefix, err)
		}
		c.Close()
	})
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", opts.Addr, err)
	}
	return storage.NewRedisSessions(c, prefix)
}

// ttler is what both session stores offer tests beyond storage.Sessions.
type ttler interface {
	TTL(ctx context.Context, key string) (time.Duration, bool, error)
}

// TTL returns the time key has left (0 if it has no expiry) and whether it
// exists, on either session store.
func TTL(t testing.TB, s storage.Sessions, key string) (time.Duration, bool) {
	t.Helper()
	tt, ok := s.(ttler)
	if !ok {
		t.Fatalf("session store %T cannot report TTLs", s)
	}
	d, exists, err := tt.TTL(context.Background(), key)
	if err != nil {
		t.Fatalf("TTL %q: %v", key, err)
	}
	return d, exists
}

// Lapse makes key's TTL run out now, as if its time had passed: on the
// memory store by advancing clock by the key's remaining TTL, on Redis by
// expiring the key server-side (the clock cannot move Redis's time, and
// tests never sleep).
func Lapse(t testing.TB, s storage.Sessions, clock *Clock, key string) {
	t.Helper()
	d, ok := TTL(t, s, key)
	if !ok {
		t.Fatalf("lapse %q: key does not exist", key)
	}
	if d == 0 {
		t.Fatalf("lapse %q: key has no TTL", key)
	}
	switch st := s.(type) {
	case *storage.MemorySessions:
		clock.Advance(d)
	case *storage.RedisSessions:
		if err := st.Client().PExpire(context.Background(), st.Key(key), 0).Err(); err != nil {
			t.Fatalf("lapse %q: %v", key, err)
		}
	default:
		t.Fatalf("lapse: unknown session store %T", s)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Must fails the test on err; for the setup steps of a test.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("setup: %w", err))
	}
}
