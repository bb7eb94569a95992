package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// The points ledger: append-only entries with a unique idempotency key, and
// a running balance per resident that is locked while an entry is added, so
// an event delivered twice counts once and no balance ever goes below zero.
//
// Every transaction here that touches a balance takes the locks in one
// order — a redemption row, then the balance, then a reward row — so
// concurrent redemptions, expiries and awards queue rather than deadlock.
// On MySQL they run at READ COMMITTED: once a transaction holds a resident's
// balance lock, its plain reads (the idempotency check, the per-person
// limit) see everything committed before it, with no gap locks.

// ErrInsufficientPoints means an entry would take a balance below zero;
// nothing was written.
var ErrInsufficientPoints = hazardbot.ErrInsufficientPoints

// maxLedgerKeyLen matches points_ledger.idem_key VARCHAR(191).
const maxLedgerKeyLen = 191

// Award adds one entry to the points ledger. It reports false, writing
// nothing, when an entry with the same key exists: an award event delivered
// twice counts once. The balance is locked in the same transaction and never
// goes below zero (ErrInsufficientPoints).
func (s *Store) Award(ctx context.Context, a hazardbot.Award) (bool, error) {
	res, err := s.ApplyPoints(ctx, PointsChange{Awards: []hazardbot.Award{a}})
	if err != nil {
		if errors.Is(err, ErrInsufficientPoints) {
			return false, ErrInsufficientPoints
		}
		return false, fmt.Errorf("storage: award: %w", err)
	}
	return res.Added > 0, nil
}

// FollowUp is an outbox row written in the same transaction as a change it
// follows up, such as the message that tells a resident about it.
type FollowUp struct {
	Kind    string
	Key     string // dedup key; "" for none
	Payload any
	RunAt   time.Time // zero: at once
}

func enqueueFollowUps(ctx context.Context, tx *sqlx.Tx, dialect string, at time.Time, fs []FollowUp) error {
	for _, f := range fs {
		run := f.RunAt
		if run.IsZero() {
			run = at
		}
		if err := EnqueueTx(ctx, tx, dialect, f.Kind, f.Key, f.Payload, run); err != nil {
			return err
		}
	}
	return nil
}

// PointsChange is one or more ledger entries for one resident, written in
// one transaction with what goes with them.
type PointsChange struct {
	Awards []hazardbot.Award // all for the same resident; entries whose key exists are skipped
	// Clamp lets a deduction larger than the balance take it to zero (the
	// entry records what was actually deducted) instead of failing with
	// ErrInsufficientPoints: a penalty is applied as far as it can be.
	Clamp     bool
	Audit     *AuditEntry // appended in the transaction when an entry is added
	FollowUps []FollowUp  // enqueued when an entry is added
	// Then, when set, gives more follow-ups from what was written (say, a
	// message with the new balance); called in the transaction when an
	// entry is added.
	Then func(PointsResult) []FollowUp
}

// PointsResult is what ApplyPoints did.
type PointsResult struct {
	Added   int   // entries written (the rest had been written before)
	Applied []int // the delta written for each award, 0 for those skipped
	Balance int   // the balance afterwards
}

// ApplyPoints writes a PointsChange: all of it or nothing.
func (s *Store) ApplyPoints(ctx context.Context, ch PointsChange) (PointsResult, error) {
	if len(ch.Awards) == 0 {
		return PointsResult{}, errors.New("storage: apply points: no entries")
	}
	openid := ch.Awards[0].OpenID
	for _, a := range ch.Awards {
		if err := checkAward(a, false); err != nil {
			return PointsResult{}, fmt.Errorf("storage: apply points: %w", err)
		}
		if a.OpenID != openid {
			return PointsResult{}, errors.New("storage: apply points: entries for several residents")
		}
	}
	if err := s.ensureBalance(ctx, openid); err != nil {
		return PointsResult{}, fmt.Errorf("storage: apply points: %w", err)
	}
	var res PointsResult
	err := s.pointsTx(ctx, func(tx *sqlx.Tx) error {
		res = PointsResult{Applied: make([]int, len(ch.Awards))}
		var err error
		if res.Balance, err = s.lockBalance(ctx, tx, openid); err != nil {
			return err
		}
		for i, a := range ch.Awards {
			added, applied, bal, err := s.addEntry(ctx, tx, a, ch.Clamp)
			if err != nil {
				return err
			}
			if added {
				res.Added++
				res.Applied[i], res.Balance = applied, bal
			}
		}
		if res.Added == 0 {
			return nil
		}
		if ch.Audit != nil {
			if err := appendAuditTx(ctx, tx, *ch.Audit); err != nil {
				return err
			}
		}
		follow := ch.FollowUps
		if ch.Then != nil {
			follow = append(follow[:len(follow):len(follow)], ch.Then(res)...)
		}
		return enqueueFollowUps(ctx, tx, s.Dialect, ch.Awards[0].At, follow)
	})
	switch {
	case isDuplicate(err):
		// A concurrent delivery of the same event won after our check.
		res.Added, res.Applied = 0, make([]int, len(ch.Awards))
		res.Balance, err = s.Balance(ctx, openid)
		return res, err
	case errors.Is(err, ErrInsufficientPoints):
		return PointsResult{}, ErrInsufficientPoints
	case err != nil:
		return PointsResult{}, fmt.Errorf("storage: apply points: %w", err)
	}
	return res, nil
}

func checkAward(a hazardbot.Award, allowZero bool) error {
	if err := checkOpenID(a.OpenID); err != nil {
		return err
	}
	if a.Key == "" || len(a.Key) > maxLedgerKeyLen {
		return fmt.Errorf("need a key of 1-%d bytes", maxLedgerKeyLen)
	}
	if a.Points == 0 && !allowZero {
		return errors.New("need non-zero points")
	}
	if a.At.IsZero() {
		return errors.New("need a time")
	}
	return nil
}

// ensureBalance creates a resident's balance row, outside any transaction:
// two transactions inserting the same row and then locking it would
// deadlock each other on MySQL, while locking a row that exists just queues.
func (s *Store) ensureBalance(ctx context.Context, openid string) error {
	var n int
	if err := s.DB.GetContext(ctx, &n, "SELECT COUNT(*) FROM points_balances WHERE openid = ?", openid); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	q := "INSERT INTO points_balances (openid, balance) VALUES (?, 0)"
	if s.Dialect == DialectSQLite {
		q += " ON CONFLICT DO NOTHING"
	}
	if _, err := s.exec(ctx, q, openid); err != nil && !isDuplicate(err) {
		return err
	}
	return nil
}

// lockBalance reads a resident's balance and locks it until the
// transaction ends; the row must exist (ensureBalance).
func (s *Store) lockBalance(ctx context.Context, tx *sqlx.Tx, openid string) (int, error) {
	var b int
	err := tx.GetContext(ctx, &b, "SELECT balance FROM points_balances WHERE openid = ?"+s.forUpdate(), openid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("no balance row for the resident")
	}
	return b, err
}

// addEntry writes one ledger entry and moves the balance, which the caller
// has locked. It writes nothing (false) when the key exists.
func (s *Store) addEntry(ctx context.Context, tx *sqlx.Tx, a hazardbot.Award, clamp bool) (added bool, applied, balance int, err error) {
	var seen int
	if err := tx.GetContext(ctx, &seen, "SELECT COUNT(*) FROM points_ledger WHERE idem_key = ?", a.Key); err != nil {
		return false, 0, 0, err
	}
	if err := tx.GetContext(ctx, &balance, "SELECT balance FROM points_balances WHERE openid = ?", a.OpenID); err != nil {
		return false, 0, 0, err
	}
	if seen > 0 {
		return false, 0, balance, nil
	}
	applied = a.Points
	if balance+applied < 0 {
		if !clamp {
			return false, 0, balance, ErrInsufficientPoints
		}
		applied = -balance
	}
	balance += applied
	if _, err := tx.ExecContext(ctx, "UPDATE points_balances SET balance = ? WHERE openid = ?", balance, a.OpenID); err != nil {
		return false, 0, 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO points_ledger (openid, delta, balance, reason, source_type, source_id, idem_key, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.OpenID, applied, balance, truncateUTF8(a.Reason, 255), a.SourceType,
		truncateUTF8(a.SourceID, 64), a.Key, a.At.UTC())
	if err != nil {
		return false, 0, 0, err
	}
	return true, applied, balance, nil
}

// pointsTx runs fn in a transaction for the points tables: READ COMMITTED
// on MySQL (see the top of this file), retried from the start after a
// deadlock, which MySQL may still pick when unrelated rows share an index
// page. fn must have no effects outside tx.
func (s *Store) pointsTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var opts *sql.TxOptions
	if s.Dialect == DialectMySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	const attempts = 5
	for i := 1; ; i++ {
		release, err := s.acquireWrite(ctx)
		if err != nil {
			return fmt.Errorf("storage: begin: %w", err)
		}
		err = s.inTx(ctx, opts, fn)
		release()
		if !isDeadlock(err) || i == attempts {
			return err
		}
	}
}

// appendAuditTx is AppendAudit inside a transaction, so an audited change
// and its audit entry commit together.
func appendAuditTx(ctx context.Context, tx *sqlx.Tx, e AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("audit: actor and action are required")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject_type, subject_id, detail)
		VALUES (?, ?, ?, ?, ?, ?)`, e.At.UTC(), e.Actor, e.Action, e.SubjectType, e.SubjectID, e.Detail)
	return err
}

// forUpdate locks selected rows on MySQL; SQLite's write transactions are
// already exclusive.
func (s *Store) forUpdate() string {
	if s.Dialect == DialectMySQL {
		return " FOR UPDATE"
	}
	return ""
}

// Balance is a resident's points balance.
func (s *Store) Balance(ctx context.Context, openid string) (int, error) {
	var b int
	err := s.DB.GetContext(ctx, &b, "SELECT balance FROM points_balances WHERE openid = ?", openid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: balance: %w", err)
	}
	return b, nil
}

// LedgerEntry is one line of a resident's points ledger.
type LedgerEntry struct {
	ID         int64     `db:"id"`
	OpenID     string    `db:"openid"`
	Delta      int       `db:"delta"`
	Balance    int       `db:"balance"`
	Reason     string    `db:"reason"`
	SourceType string    `db:"source_type"`
	SourceID   string    `db:"source_id"`
	At         time.Time `db:"at"`
}

func (e LedgerEntry) entry() hazardbot.PointsEntry {
	return hazardbot.PointsEntry{ID: e.ID, OpenID: e.OpenID, Delta: e.Delta, Balance: e.Balance, Reason: e.Reason,
		SourceType: e.SourceType, SourceID: e.SourceID, At: e.At.UTC()}
}

const ledgerCols = "id, openid, delta, balance, reason, source_type, source_id, at"

// Ledger lists a resident's latest entries, newest first.
func (s *Store) Ledger(ctx context.Context, openid string, limit int) ([]LedgerEntry, error) {
	var out []LedgerEntry
	err := s.DB.SelectContext(ctx, &out, "SELECT "+ledgerCols+` FROM points_ledger WHERE openid = ?
		ORDER BY id DESC LIMIT ?`, openid, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: ledger: %w", err)
	}
	return out, nil
}

// PointsHistory lists a resident's latest entries, newest first, each
// redemption entry with its redemption's current status.
func (s *Store) PointsHistory(ctx context.Context, openid string, limit int) ([]hazardbot.PointsEntry, error) {
	rows, err := s.Ledger(ctx, openid, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: points history: %w", err)
	}
	out := make([]hazardbot.PointsEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	if err := s.holdStatuses(ctx, out); err != nil {
		return nil, fmt.Errorf("storage: points history: %w", err)
	}
	return out, nil
}

// holdStatuses fills in HoldStatus; done in Go rather than by a join on
// source_id, which is text, because the two dialects cast differently.
func (s *Store) holdStatuses(ctx context.Context, es []hazardbot.PointsEntry) error {
	var ids []int64
	for _, e := range es {
		if e.SourceType == hazardbot.SourceRedemption {
			if id, err := strconv.ParseInt(e.SourceID, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In("SELECT id, status FROM redemptions WHERE id IN (?)", ids)
	if err != nil {
		return err
	}
	var rows []struct {
		ID     int64  `db:"id"`
		Status string `db:"status"`
	}
	if err := s.DB.SelectContext(ctx, &rows, s.Rebind(q), args...); err != nil {
		return err
	}
	status := map[string]hazardbot.RedemptionStatus{}
	for _, r := range rows {
		status[strconv.FormatInt(r.ID, 10)] = hazardbot.RedemptionStatus(r.Status)
	}
	for i := range es {
		if es[i].SourceType == hazardbot.SourceRedemption {
			es[i].HoldStatus = status[es[i].SourceID]
		}
	}
	return nil
}

// MonthStart is the first instant of t's calendar month in Shanghai.
func MonthStart(t time.Time) time.Time {
	y, m, _ := t.In(hazardbot.Shanghai).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, hazardbot.Shanghai)
}

// PointsMonth sums a resident's entries in the Shanghai calendar month of t.
func (s *Store) PointsMonth(ctx context.Context, openid string, t time.Time) (hazardbot.PointsMonth, error) {
	start := MonthStart(t)
	m := hazardbot.PointsMonth{Month: start.Format("2006-01"), Earned: map[string]int{}}
	var rows []struct {
		Source string `db:"source_type"`
		Plus   int    `db:"plus"`
		Minus  int    `db:"minus"`
	}
	err := s.DB.SelectContext(ctx, &rows, `SELECT source_type,
		COALESCE(SUM(CASE WHEN delta > 0 THEN delta ELSE 0 END), 0) AS plus,
		COALESCE(SUM(CASE WHEN delta < 0 THEN delta ELSE 0 END), 0) AS minus
		FROM points_ledger WHERE openid = ? AND at >= ? AND at < ? GROUP BY source_type`,
		openid, start.UTC(), start.AddDate(0, 1, 0).UTC())
	if err != nil {
		return m, fmt.Errorf("storage: points month: %w", err)
	}
	for _, r := range rows {
		if r.Source == hazardbot.SourceRedemption {
			// A hold and its return cancel out: only what was kept counts.
			m.Redeemed += r.Plus + r.Minus
			continue
		}
		if r.Plus > 0 {
			m.Earned[r.Source] += r.Plus
		}
		m.Deducted += r.Minus
	}
	return m, nil
}

// PointsAccount is one resident's points as the console lists them.
type PointsAccount struct {
	OpenID        string `db:"openid"`
	Balance       int    `db:"balance"`
	Held          int    `db:"held"` // points in redemptions not yet picked up
	Entries       int    `db:"entries"`
	VolunteerName string `db:"volunteer_name"`
}

// PointsAccounts lists residents with a points balance, highest first;
// search matches a volunteer's name or mobile, or an openid exactly.
func (s *Store) PointsAccounts(ctx context.Context, search string, limit, offset int) ([]PointsAccount, error) {
	q := `SELECT b.openid, b.balance,
		COALESCE((SELECT SUM(r.points) FROM redemptions r WHERE r.openid = b.openid AND r.status = 'held'), 0) AS held,
		(SELECT COUNT(*) FROM points_ledger l WHERE l.openid = b.openid) AS entries,
		COALESCE(v.name, '') AS volunteer_name
		FROM points_balances b LEFT JOIN volunteers v ON v.openid = b.openid`
	var args []any
	if search = strings.TrimSpace(search); search != "" {
		q += " WHERE b.openid = ? OR v.name LIKE ? OR v.mobile LIKE ?"
		like := "%" + escapeLike(search) + "%"
		args = append(args, search, like, like)
	}
	q += " ORDER BY b.balance DESC, b.openid LIMIT ? OFFSET ?"
	args = append(args, limit, offset)
	var out []PointsAccount
	if err := s.DB.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("storage: points accounts: %w", err)
	}
	return out, nil
}

// escapeLike drops LIKE's wildcards from a search term, so that it matches
// as typed inside '%…%' on both dialects (whose escape rules differ).
func escapeLike(s string) string {
	return strings.NewReplacer("%", "", "_", "").Replace(s)
}

// EachLedgerEntry calls fn for every entry written in [from, to), oldest
// first, for the console's export.
func (s *Store) EachLedgerEntry(ctx context.Context, from, to time.Time, fn func(hazardbot.PointsEntry) error) error {
	rows, err := s.DB.QueryxContext(ctx, "SELECT "+ledgerCols+" FROM points_ledger WHERE at >= ? AND at < ? ORDER BY at, id",
		from.UTC(), to.UTC())
	if err != nil {
		return fmt.Errorf("storage: export ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e LedgerEntry
		if err := rows.StructScan(&e); err != nil {
			return fmt.Errorf("storage: export ledger: %w", err)
		}
		if err := fn(e.entry()); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("storage: export ledger: %w", err)
	}
	return nil
}

// LedgerSums is the whole ledger against the balances, for checks: the sum
// of every entry, and of every balance, which must be equal.
func (s *Store) LedgerSums(ctx context.Context) (entries, balances int, err error) {
	if err = s.DB.GetContext(ctx, &entries, "SELECT COALESCE(SUM(delta), 0) FROM points_ledger"); err != nil {
		return 0, 0, fmt.Errorf("storage: ledger sums: %w", err)
	}
	if err = s.DB.GetContext(ctx, &balances, "SELECT COALESCE(SUM(balance), 0) FROM points_balances"); err != nil {
		return 0, 0, fmt.Errorf("storage: ledger sums: %w", err)
	}
	return entries, balances, nil
}
