// Package storage is hazardbot's persistence layer: sqlx over SQLite (the
// embedded default, so that one command runs the product) or MySQL/MariaDB
// (production), with goose migrations kept per dialect; the users table, the
// durable dedup guard, the append-only audit log and the jobs outbox; and the
// session store (in-process or Redis) for conversation state, locks and
// counters.
//
// Queries are written once with ? placeholders and time.Time arguments; both
// backends read times back as time.Time in UTC (see Open for how SQLite does
// it).
package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"hazardbot"
)

// Dialects, as found in Store.Dialect.
const (
	DialectSQLite = "sqlite"
	DialectMySQL  = "mysql"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = hazardbot.ErrNotFound

//go:embed migrations/sqlite/*.sql migrations/mysql/*.sql
var migrationsFS embed.FS

// Store wraps sqlx over SQLite or MySQL/MariaDB.
type Store struct {
	DB      *sqlx.DB
	Dialect string // DialectSQLite or DialectMySQL

	// Now stamps updated_at on writes that take no time argument. Nil means
	// time.Now; tests set it to their clock.
	Now func() time.Time

	// writeGate serialises SQLite write transactions inside the process, so
	// writers queue in Go (FIFO-ish, no sleeping) instead of spinning in
	// SQLite's busy handler. Nil on MySQL, which has row locks.
	writeGate chan struct{}
}

const (
	// sqliteBusyTimeout bounds how long a writer that bypasses the write gate
	// (another process such as `hazardbot migrate`, or a plain DB.Exec) waits
	// for SQLite's lock before failing with SQLITE_BUSY.
	sqliteBusyTimeout = 10 * time.Second
	// sqliteMaxConns: WAL lets readers run beside the one writer; a few
	// connections are enough for a sub-district's traffic on two cores.
	sqliteMaxConns = 8
	mysqlMaxConns  = 16
)

// dsnForms is quoted by every DSN error so an operator sees what to write.
const dsnForms = `expected "" (SQLite in the data directory), "sqlite:/path/to/file.db", ` +
	`"user:pass@tcp(host:3306)/db?param=value" or "mysql://user:pass@host:3306/db?param=value"`

// Open connects to the database named by dsn and pings it.
//
// dsn "" opens (creating it and dataDir if needed) the SQLite file
// <dataDir>/hazardbot.db; "sqlite:PATH" opens the SQLite file at PATH. A
// go-sql-driver DSN ("user:pass@tcp(host:3306)/db?...") or a URL
// ("mysql://user:pass@host:3306/db?...") opens MySQL/MariaDB.
//
// SQLite runs in WAL mode with synchronous=NORMAL, foreign keys on and a busy
// timeout; transactions begin IMMEDIATE (they take the write lock up front,
// so a read-then-write transaction cannot fail with SQLITE_BUSY half-way),
// and InTx additionally queues writers in-process. Times are bound as integer
// Unix microseconds and DATETIME columns are read back as UTC time.Time, so
// they sort and compare as numbers and carry the same precision as MySQL's
// DATETIME(6).
//
// MySQL always gets parseTime=true, loc=UTC, time_zone='+00:00',
// charset=utf8mb4, multiStatements=true and clientFoundRows=true; the last
// makes RowsAffected count matched rows, as SQLite does, so code that checks
// it behaves the same on both backends.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		if dataDir == "" {
			dataDir = "."
		}
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("storage: open: create data directory: %w", err)
		}
		return openSQLite(ctx, filepath.Join(dataDir, "hazardbot.db"))
	case strings.HasPrefix(dsn, "sqlite:"):
		path, err := sqlitePath(dsn)
		if err != nil {
			return nil, fmt.Errorf("storage: open: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("storage: open: create data directory: %w", err)
		}
		return openSQLite(ctx, path)
	default:
		cfg, err := MySQLConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("storage: open: %w", err)
		}
		return openMySQL(ctx, cfg)
	}
}

// CheckDSN reports whether dsn has one of the forms Open accepts, without
// connecting, so configuration errors surface before startup.
func CheckDSN(dsn string) error {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return nil
	case strings.HasPrefix(dsn, "sqlite:"):
		if _, err := sqlitePath(dsn); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		return nil
	default:
		if _, err := MySQLConfig(dsn); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		return nil
	}
}

func sqlitePath(dsn string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
	if path == "" || strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("invalid SQLite DSN: want a file path after \"sqlite:\"; %s", dsnForms)
	}
	return path, nil
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	q.Set("_time_integer_format", "unix_micro")
	q.Set("_inttotime", "true")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	db.SetMaxIdleConns(sqliteMaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	return &Store{DB: db, Dialect: DialectSQLite, writeGate: make(chan struct{}, 1)}, nil
}

// MySQLConfig parses a MySQL DSN in either accepted form and applies the
// settings the store relies on (see Open). Test helpers use it to point at
// another database on the same server.
func MySQLConfig(dsn string) (*mysql.Config, error) {
	var cfg *mysql.Config
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		if scheme != "mysql" && scheme != "mariadb" {
			return nil, fmt.Errorf("invalid DSN: unsupported scheme %q; %s", scheme, dsnForms)
		}
		u, err := url.Parse("mysql://" + rest)
		if err != nil {
			// url errors quote the whole input, password included.
			return nil, fmt.Errorf("invalid DSN: malformed URL; %s", dsnForms)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("invalid DSN: missing host; %s", dsnForms)
		}
		host := u.Host
		if u.Port() == "" {
			host += ":3306"
		}
		// Parse the address, database and parameters through the driver so the
		// URL form accepts exactly the driver's parameters; the credentials
		// are set afterwards because a password may hold '/', '@' or ':'.
		native := "tcp(" + host + ")" + "/" + strings.TrimPrefix(u.EscapedPath(), "/")
		if u.RawQuery != "" {
			native += "?" + u.RawQuery
		}
		cfg, err = mysql.ParseDSN(native)
		if err != nil {
			return nil, fmt.Errorf("%w; %s", err, dsnForms)
		}
		if db, err := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), "/")); err == nil {
			cfg.DBName = db
		}
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
	} else {
		var err error
		cfg, err = mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("%w; %s", err, dsnForms)
		}
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("invalid DSN: missing database name; %s", dsnForms)
	}
	if strings.Contains(cfg.DBName, "/") {
		return nil, fmt.Errorf("invalid DSN: database name contains '/'; %s", dsnForms)
	}

	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = true
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// DATETIME columns hold no zone, but CURRENT_TIMESTAMP/NOW() in SQL would
	// use the session zone: pin it to UTC like everything else.
	cfg.Params["time_zone"] = "'+00:00'"
	if err := cfg.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, fmt.Errorf("invalid DSN: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg, nil
}

func openMySQL(ctx context.Context, cfg *mysql.Config) (*Store, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: open mysql: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "mysql")
	db.SetMaxOpenConns(mysqlMaxConns)
	db.SetMaxIdleConns(mysqlMaxConns)
	// Recycle before the server's wait_timeout closes idle connections on us.
	db.SetConnMaxLifetime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return &Store{DB: db, Dialect: DialectMySQL}, nil
}

// Migrate applies the embedded migrations of the store's dialect that have
// not run yet. Running it again is a no-op.
func (s *Store) Migrate(ctx context.Context) error {
	var dialect goose.Dialect
	switch s.Dialect {
	case DialectSQLite:
		dialect = goose.DialectSQLite3
	case DialectMySQL:
		dialect = goose.DialectMySQL
	default:
		return fmt.Errorf("storage: migrate: unknown dialect %q", s.Dialect)
	}
	fsys, err := fs.Sub(migrationsFS, "migrations/"+s.Dialect)
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	p, err := goose.NewProvider(dialect, s.DB.DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	return s.DB.Close()
}

// Rebind turns a query written with ? placeholders into the driver's form.
// Both dialects use ?, so today it returns q unchanged; it exists so that
// callers don't have to know that.
func (s *Store) Rebind(q string) string {
	return s.DB.Rebind(q)
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// acquireWrite takes the in-process SQLite write gate; release must be
// called. It is a no-op on MySQL.
func (s *Store) acquireWrite(ctx context.Context) (release func(), err error) {
	if s.writeGate == nil {
		return func() {}, nil
	}
	select {
	case s.writeGate <- struct{}{}:
		return func() { <-s.writeGate }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// InTx runs fn in a transaction, committing if it returns nil and rolling
// back if it returns an error or panics (the panic is re-raised).
//
// On SQLite, write transactions are serialised: fn must not call InTx again
// or wait for another InTx to finish, and should use tx, not s.DB, for its
// queries.
func (s *Store) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	release, err := s.acquireWrite(ctx)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	defer release()
	return s.inTx(ctx, nil, fn)
}

func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.DB.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	committed = true
	return nil
}

// exec runs one write statement outside a caller's transaction, through the
// SQLite write gate.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	release, err := s.acquireWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.DB.ExecContext(ctx, query, args...)
}
