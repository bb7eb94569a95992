package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Job statuses.
const (
	JobPending = "pending"
	JobRunning = "running"
	JobDone    = "done"
	JobDead    = "dead"
)

const (
	maxKindLen     = 64
	maxJobKeyLen   = 255
	maxLastErrLen  = 4000
	jobColumns     = "id, kind, dedup_key, payload, status, attempts, run_at, locked_until, last_error, created_at, updated_at"
	jobSelectByIDs = "SELECT " + jobColumns + " FROM jobs WHERE id IN (?) ORDER BY run_at, id"
)

// Job is one row of the outbox.
type Job struct {
	ID          int64
	Kind        string
	DedupKey    string // "" when enqueued without one
	Payload     []byte // JSON
	Status      string
	Attempts    int // claims so far, including the current one
	RunAt       time.Time
	LockedUntil time.Time // zero unless running
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

type jobRow struct {
	ID          int64          `db:"id"`
	Kind        string         `db:"kind"`
	DedupKey    sql.NullString `db:"dedup_key"`
	Payload     []byte         `db:"payload"`
	Status      string         `db:"status"`
	Attempts    int            `db:"attempts"`
	RunAt       time.Time      `db:"run_at"`
	LockedUntil sql.NullTime   `db:"locked_until"`
	LastError   string         `db:"last_error"`
	CreatedAt   time.Time      `db:"created_at"`
	UpdatedAt   time.Time      `db:"updated_at"`
}

func (r jobRow) job() Job {
	j := Job{
		ID: r.ID, Kind: r.Kind, DedupKey: r.DedupKey.String, Payload: r.Payload,
		Status: r.Status, Attempts: r.Attempts, RunAt: r.RunAt.UTC(), LastError: r.LastError,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.LockedUntil.Valid {
		j.LockedUntil = r.LockedUntil.Time.UTC()
	}
	return j
}

// Enqueue adds a job to the outbox, to run at runAt or later. Enqueueing a
// dedupKey that is already in the table (whatever its status) is a no-op and
// returns nil; "" means no deduplication. payload is JSON-marshalled, except
// that []byte and json.RawMessage are taken as already-encoded JSON.
func (s *Store) Enqueue(ctx context.Context, kind, dedupKey string, payload any, runAt time.Time) error {
	release, err := s.acquireWrite(ctx)
	if err != nil {
		return fmt.Errorf("storage: enqueue %s: %w", kind, err)
	}
	defer release()
	return enqueue(ctx, s.DB, s.Dialect, kind, dedupKey, payload, runAt, s.now())
}

// EnqueueTx is Enqueue inside the caller's transaction, so that a domain
// write and the outbox row that follows it up commit or roll back together.
// dialect is the Store's Dialect.
func EnqueueTx(ctx context.Context, tx *sqlx.Tx, dialect, kind, dedupKey string, payload any, runAt time.Time) error {
	return enqueue(ctx, tx, dialect, kind, dedupKey, payload, runAt, time.Now().UTC())
}

func enqueue(ctx context.Context, db sqlx.ExecerContext, dialect, kind, dedupKey string, payload any, runAt, now time.Time) error {
	if kind == "" || len(kind) > maxKindLen {
		return fmt.Errorf("storage: enqueue: invalid kind %q (want 1-%d bytes)", kind, maxKindLen)
	}
	if len(dedupKey) > maxJobKeyLen {
		return fmt.Errorf("storage: enqueue %s: dedup key longer than %d bytes", kind, maxJobKeyLen)
	}
	var body []byte
	switch p := payload.(type) {
	case json.RawMessage:
		body = p
	case []byte:
		body = p
	default:
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return fmt.Errorf("storage: enqueue %s: marshal payload: %w", kind, err)
		}
	}
	if !json.Valid(body) {
		return fmt.Errorf("storage: enqueue %s: payload is not valid JSON", kind)
	}
	key := sql.NullString{String: dedupKey, Valid: dedupKey != ""}
	q := `INSERT INTO jobs (kind, dedup_key, payload, status, attempts, run_at, last_error, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', 0, ?, '', ?, ?)`
	if dialect == DialectSQLite {
		q += " ON CONFLICT (dedup_key) DO NOTHING"
	}
	// payload goes in as a string: it is JSON text, and a []byte would be
	// stored as a BLOB on SQLite.
	_, err := db.ExecContext(ctx, q, kind, key, string(body), runAt.UTC(), now, now)
	if isDuplicate(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: enqueue %s: %w", kind, err)
	}
	return nil
}

// ClaimJobs leases up to limit due jobs for lease: pending jobs whose run_at
// has come, and running jobs whose lease ran out (their worker died). Each is
// set running with locked_until = now+lease and attempts+1, and returned
// oldest first. kinds, if given, restricts the kinds claimed.
//
// Concurrent callers never get the same job: on MySQL the rows are locked
// with SELECT … FOR UPDATE SKIP LOCKED, so claimers pass each other by; on
// SQLite the claim is one IMMEDIATE transaction behind the write gate.
func (s *Store) ClaimJobs(ctx context.Context, now time.Time, limit int, lease time.Duration, kinds ...string) ([]Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, errors.New("storage: claim jobs: lease must be positive")
	}
	now = now.UTC()
	until := now.Add(lease)

	release, err := s.acquireWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: claim jobs: %w", err)
	}
	defer release()

	var jobs []Job
	claim := func(tx *sqlx.Tx) error {
		var ids []int64
		var err error
		if s.Dialect == DialectMySQL {
			ids, err = lockDueMySQL(ctx, tx, now, limit, kinds)
		} else {
			// The IMMEDIATE transaction already excludes other writers.
			ids, err = dueJobIDs(ctx, tx, now, limit, kinds)
		}
		if err != nil || len(ids) == 0 {
			return err
		}
		q, args, err := sqlx.In(`UPDATE jobs SET status = 'running', locked_until = ?, attempts = attempts + 1,
			updated_at = ? WHERE id IN (?)`, until, now, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		q, args, err = sqlx.In(jobSelectByIDs, ids)
		if err != nil {
			return err
		}
		var rows []jobRow
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
			return err
		}
		jobs = make([]Job, len(rows))
		for i, r := range rows {
			jobs[i] = r.job()
		}
		return nil
	}

	var opts *sql.TxOptions
	if s.Dialect == DialectMySQL {
		// READ COMMITTED takes no gap locks, so claiming doesn't block
		// concurrent Enqueue inserts.
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	for try := 1; ; try++ {
		jobs = nil
		err = s.inTx(ctx, opts, claim)
		// InnoDB may still pick a claim as a deadlock victim; the whole
		// transaction was rolled back, so it is safe to run again.
		if !isDeadlock(err) || try == 3 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: claim jobs: %w", err)
	}
	return jobs, nil
}

// dueJobIDs lists up to limit claimable jobs, expired leases first (those
// jobs have waited longest), then pending ones by run_at. Two queries rather
// than one OR so that each walks the (status, run_at) index.
func dueJobIDs(ctx context.Context, tx *sqlx.Tx, now time.Time, limit int, kinds []string) ([]int64, error) {
	kindFilter, kindArgs := kindsFilter(kinds)
	var ids []int64
	err := tx.SelectContext(ctx, &ids, "SELECT id FROM jobs WHERE status = 'running' AND locked_until < ?"+
		kindFilter+" ORDER BY locked_until, id LIMIT ?", append(append([]any{now}, kindArgs...), limit)...)
	if err != nil || len(ids) >= limit {
		return ids, err
	}
	var due []int64
	err = tx.SelectContext(ctx, &due, "SELECT id FROM jobs WHERE status = 'pending' AND run_at <= ?"+
		kindFilter+" ORDER BY run_at, id LIMIT ?", append(append([]any{now}, kindArgs...), limit-len(ids))...)
	return append(ids, due...), err
}

// lockDueMySQL picks and locks up to limit claimable jobs on MySQL.
//
// A locking scan of the (status, run_at) index deadlocks under concurrent
// claimers on MariaDB: SKIP LOCKED does not skip the secondary-index entries
// that other claims' updates have just delete-marked. So candidates are read
// without locks (a consistent read, which never waits), and then locked
// through the primary key only, skipping the ones another claimer holds and
// re-checking that each is still claimable.
func lockDueMySQL(ctx context.Context, tx *sqlx.Tx, now time.Time, limit int, kinds []string) ([]int64, error) {
	// A window wider than limit leaves room for the candidates that
	// concurrent claimers are taking at this moment.
	candidates, err := dueJobIDs(ctx, tx, now, 2*limit+32, kinds)
	if err != nil || len(candidates) == 0 {
		return nil, err
	}
	// ORDER BY id walks the primary key, so rows are locked as they are
	// read and LIMIT stops the locking; ordering by run_at here would lock
	// the whole window before sorting it.
	q, args, err := sqlx.In(`SELECT id FROM jobs FORCE INDEX (PRIMARY) WHERE id IN (?)
		AND ((status = 'pending' AND run_at <= ?) OR (status = 'running' AND locked_until < ?))
		ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`, candidates, now, now, limit)
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = tx.SelectContext(ctx, &ids, q, args...)
	return ids, err
}

func kindsFilter(kinds []string) (string, []any) {
	if len(kinds) == 0 {
		return "", nil
	}
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return " AND kind IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ") + ")", args
}

// GetJob returns one job, or ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id int64) (Job, error) {
	var r jobRow
	err := s.DB.GetContext(ctx, &r, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("storage: get job: %w", err)
	}
	return r.job(), nil
}

// CompleteJob marks a job done.
func (s *Store) CompleteJob(ctx context.Context, id int64, now time.Time) error {
	return s.finishJob(ctx, "complete job", id,
		"status = 'done', locked_until = NULL, updated_at = ?", now.UTC())
}

// RetryJob puts a job back to pending, to run again at runAt, remembering
// why this attempt failed.
func (s *Store) RetryJob(ctx context.Context, id int64, runAt time.Time, errMsg string) error {
	return s.finishJob(ctx, "retry job", id,
		"status = 'pending', run_at = ?, locked_until = NULL, last_error = ?, updated_at = ?",
		runAt.UTC(), truncateUTF8(errMsg, maxLastErrLen), s.now())
}

// KillJob gives up on a job: it stays in the table as dead, with errMsg.
func (s *Store) KillJob(ctx context.Context, id int64, errMsg string) error {
	return s.finishJob(ctx, "kill job", id,
		"status = 'dead', locked_until = NULL, last_error = ?, updated_at = ?",
		truncateUTF8(errMsg, maxLastErrLen), s.now())
}

func (s *Store) finishJob(ctx context.Context, what string, id int64, set string, args ...any) error {
	res, err := s.exec(ctx, "UPDATE jobs SET "+set+" WHERE id = ?", append(args, id)...)
	if err != nil {
		return fmt.Errorf("storage: %s %d: %w", what, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: %s %d: %w", what, id, err)
	} else if n == 0 {
		return fmt.Errorf("storage: %s %d: %w", what, id, ErrNotFound)
	}
	return nil
}

// JobStats reports how many jobs are pending (due or not) and how long the
// oldest due one has waited past its run_at — the backlog a health check
// watches. oldest is 0 when nothing is due.
func (s *Store) JobStats(ctx context.Context, now time.Time) (pending int, oldest time.Duration, err error) {
	now = now.UTC()
	if err := s.DB.GetContext(ctx, &pending, "SELECT COUNT(*) FROM jobs WHERE status = 'pending'"); err != nil {
		return 0, 0, fmt.Errorf("storage: job stats: %w", err)
	}
	var first NullTime
	err = s.DB.GetContext(ctx, &first, "SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= ?", now)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: job stats: %w", err)
	}
	if first.Valid {
		oldest = now.Sub(first.Time)
	}
	return pending, oldest, nil
}

// PruneJobs deletes done jobs last updated before `before`, and reports how
// many. Dead jobs are kept for a person to look at. A pruned job's dedup key
// becomes free again, so keep jobs longer than a duplicate could arrive.
func (s *Store) PruneJobs(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, "DELETE FROM jobs WHERE status = 'done' AND updated_at < ?", before.UTC())
	if err != nil {
		return 0, fmt.Errorf("storage: prune jobs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
