package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// User roles.
const (
	RoleResident  = "resident"
	RoleVolunteer = "volunteer"
	RoleStaff     = "staff"
)

// maxOpenIDLen matches users.openid VARCHAR(64); SQLite would not enforce it.
const maxOpenIDLen = 64

// User is a WeChat follower as the bot knows them.
type User struct {
	OpenID          string
	FirstSeen       time.Time
	LastInteraction time.Time // the 48-hour customer-service window runs from here
	Subscribed      bool
	Role            string
	Blocked         bool
	LastLat         *float64 // GCJ-02; nil until the resident sends a location
	LastLng         *float64
	LastLocationAt  *time.Time
}

type userRow struct {
	OpenID          string          `db:"openid"`
	FirstSeen       time.Time       `db:"first_seen"`
	LastInteraction time.Time       `db:"last_interaction"`
	Subscribed      bool            `db:"subscribed"`
	Role            string          `db:"role"`
	Blocked         bool            `db:"blocked"`
	LastLat         sql.NullFloat64 `db:"last_lat"`
	LastLng         sql.NullFloat64 `db:"last_lng"`
	LastLocationAt  sql.NullTime    `db:"last_location_at"`
}

func checkOpenID(openid string) error {
	if openid == "" || len(openid) > maxOpenIDLen {
		return fmt.Errorf("invalid openid (want 1-%d bytes, got %d)", maxOpenIDLen, len(openid))
	}
	return nil
}

// upsertUser inserts a new user seen at `at` with the extra columns, or on
// conflict runs the dialect's update clause. Each dialect's clause refers to
// the proposed row in its own way (excluded.x / VALUES(x)).
func (s *Store) upsertUser(ctx context.Context, openid string, at time.Time, cols []string, vals []any, sqliteSet, mysqlSet string) error {
	if err := checkOpenID(openid); err != nil {
		return err
	}
	at = at.UTC()
	q := "INSERT INTO users (openid, first_seen, last_interaction, created_at, updated_at"
	args := []any{openid, at, at, at, at}
	for _, c := range cols {
		q += ", " + c
	}
	q += ") VALUES (?, ?, ?, ?, ?"
	for range cols {
		q += ", ?"
	}
	q += ")"
	args = append(args, vals...)
	if s.Dialect == DialectMySQL {
		q += " ON DUPLICATE KEY UPDATE " + mysqlSet
	} else {
		q += " ON CONFLICT (openid) DO UPDATE SET " + sqliteSet
	}
	_, err := s.exec(ctx, q, args...)
	return err
}

// TouchUser records that the user interacted at `at`, creating the user if
// new. last_interaction only moves forward and first_seen only backward, so
// pushes handled out of order cannot shorten the customer-service window.
func (s *Store) TouchUser(ctx context.Context, openid string, at time.Time) error {
	err := s.upsertUser(ctx, openid, at, nil, nil,
		`first_seen = MIN(users.first_seen, excluded.first_seen),
		 last_interaction = MAX(users.last_interaction, excluded.last_interaction),
		 updated_at = excluded.updated_at`,
		`first_seen = LEAST(first_seen, VALUES(first_seen)),
		 last_interaction = GREATEST(last_interaction, VALUES(last_interaction)),
		 updated_at = VALUES(updated_at)`)
	if err != nil {
		return fmt.Errorf("storage: touch user: %w", err)
	}
	return nil
}

// SetSubscribed records a subscribe or unsubscribe event, creating the user
// if new (with first_seen and last_interaction = at: the event was theirs).
func (s *Store) SetSubscribed(ctx context.Context, openid string, subscribed bool, at time.Time) error {
	err := s.upsertUser(ctx, openid, at, []string{"subscribed"}, []any{subscribed},
		`subscribed = excluded.subscribed, updated_at = excluded.updated_at`,
		`subscribed = VALUES(subscribed), updated_at = VALUES(updated_at)`)
	if err != nil {
		return fmt.Errorf("storage: set subscribed: %w", err)
	}
	return nil
}

// SetLastLocation remembers the last location (GCJ-02) the user sent,
// creating the user if new. It does not move last_interaction: that is
// TouchUser's job for every push.
func (s *Store) SetLastLocation(ctx context.Context, openid string, lat, lng float64, at time.Time) error {
	if lat < -90 || lat > 90 || lng < -180 || lng > 180 {
		return fmt.Errorf("storage: set last location: coordinates out of range")
	}
	at = at.UTC()
	err := s.upsertUser(ctx, openid, at,
		[]string{"last_lat", "last_lng", "last_location_at"}, []any{lat, lng, at},
		`last_lat = excluded.last_lat, last_lng = excluded.last_lng,
		 last_location_at = excluded.last_location_at, updated_at = excluded.updated_at`,
		`last_lat = VALUES(last_lat), last_lng = VALUES(last_lng),
		 last_location_at = VALUES(last_location_at), updated_at = VALUES(updated_at)`)
	if err != nil {
		return fmt.Errorf("storage: set last location: %w", err)
	}
	return nil
}

// GetUser returns the user, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, openid string) (User, error) {
	var r userRow
	err := s.DB.GetContext(ctx, &r, `SELECT openid, first_seen, last_interaction, subscribed, role, blocked,
		last_lat, last_lng, last_location_at FROM users WHERE openid = ?`, openid)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("storage: get user: %w", err)
	}
	u := User{
		OpenID:          r.OpenID,
		FirstSeen:       r.FirstSeen.UTC(),
		LastInteraction: r.LastInteraction.UTC(),
		Subscribed:      r.Subscribed,
		Role:            r.Role,
		Blocked:         r.Blocked,
	}
	if r.LastLat.Valid && r.LastLng.Valid {
		lat, lng := r.LastLat.Float64, r.LastLng.Float64
		u.LastLat, u.LastLng = &lat, &lng
	}
	if r.LastLocationAt.Valid {
		t := r.LastLocationAt.Time.UTC()
		u.LastLocationAt = &t
	}
	return u, nil
}

// SetRole changes a known user's role; ErrNotFound if the user never wrote.
func (s *Store) SetRole(ctx context.Context, openid, role string) error {
	switch role {
	case RoleResident, RoleVolunteer, RoleStaff:
	default:
		return fmt.Errorf("storage: set role: unknown role %q", role)
	}
	return s.updateUser(ctx, "set role", openid, "role = ?", role)
}

// SetBlocked blocks or unblocks a known user; ErrNotFound if unknown.
func (s *Store) SetBlocked(ctx context.Context, openid string, blocked bool) error {
	return s.updateUser(ctx, "set blocked", openid, "blocked = ?", blocked)
}

func (s *Store) updateUser(ctx context.Context, what, openid, set string, arg any) error {
	res, err := s.exec(ctx, "UPDATE users SET "+set+", updated_at = ? WHERE openid = ?", arg, s.now(), openid)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", what, err)
	}
	// RowsAffected counts matched rows on both backends (clientFoundRows).
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: %s: %w", what, err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// maxDedupKeyLen matches dedup.key VARCHAR(128).
const maxDedupKeyLen = 128

// MarkSeen records key as seen at `at`. first is true only for the call that
// inserted it, so the effect guarded by the key runs once even across
// restarts and replicas.
func (s *Store) MarkSeen(ctx context.Context, key string, at time.Time) (first bool, err error) {
	if key == "" || len(key) > maxDedupKeyLen {
		return false, fmt.Errorf("storage: mark seen: invalid key (want 1-%d bytes, got %d)", maxDedupKeyLen, len(key))
	}
	q := "INSERT INTO dedup (`key`, created_at) VALUES (?, ?)"
	if s.Dialect == DialectSQLite {
		q += " ON CONFLICT DO NOTHING"
	}
	res, err := s.exec(ctx, q, key, at.UTC())
	if isDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: mark seen: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("storage: mark seen: %w", err)
	}
	return n == 1, nil
}

// PruneSeen forgets dedup keys recorded before `before` (WeChat stops
// retrying a push within seconds, so days of history is plenty) and reports
// how many it removed.
func (s *Store) PruneSeen(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, "DELETE FROM dedup WHERE created_at < ?", before.UTC())
	if err != nil {
		return 0, fmt.Errorf("storage: prune seen: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// isDuplicate reports a unique-key violation on either backend. On MySQL we
// insert plainly and catch it: INSERT IGNORE would also swallow truncation
// and other errors, and ON DUPLICATE KEY UPDATE cannot tell insert from
// duplicate under clientFoundRows. SQLite code mostly avoids the error with
// ON CONFLICT DO NOTHING, but a transaction that races another on a unique
// key gets it there too.
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isDeadlock reports a MySQL deadlock or lock-wait timeout, after which the
// transaction was rolled back and may be retried.
func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// AuditEntry is one line of the append-only audit trail.
type AuditEntry struct {
	At          time.Time
	Actor       string // "staff:zhang", "system", "wechat:<openid>"
	Action      string
	SubjectType string
	SubjectID   string
	Detail      string
}

// AppendAudit appends e to the audit log; entries are never changed.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("storage: append audit: actor and action are required")
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO audit_log (at, actor, action, subject_type, subject_id, detail)
		VALUES (?, ?, ?, ?, ?, ?)`, e.At.UTC(), e.Actor, e.Action, e.SubjectType, e.SubjectID, e.Detail)
	if err != nil {
		return fmt.Errorf("storage: append audit: %w", err)
	}
	return nil
}

// AuditFor returns the audit entries about one subject, oldest first.
func (s *Store) AuditFor(ctx context.Context, subjectType, subjectID string) ([]AuditEntry, error) {
	var rows []struct {
		At          time.Time `db:"at"`
		Actor       string    `db:"actor"`
		Action      string    `db:"action"`
		SubjectType string    `db:"subject_type"`
		SubjectID   string    `db:"subject_id"`
		Detail      string    `db:"detail"`
	}
	err := s.DB.SelectContext(ctx, &rows, `SELECT at, actor, action, subject_type, subject_id, detail
		FROM audit_log WHERE subject_type = ? AND subject_id = ? ORDER BY at, id`, subjectType, subjectID)
	if err != nil {
		return nil, fmt.Errorf("storage: audit for: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{At: r.At.UTC(), Actor: r.Actor, Action: r.Action,
			SubjectType: r.SubjectType, SubjectID: r.SubjectID, Detail: r.Detail}
	}
	return out, nil
}
