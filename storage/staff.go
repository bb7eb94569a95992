package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// Staff errors.
var (
	// ErrExists means the username (or the WeChat account) is taken.
	ErrExists = errors.New("storage: already exists")
	// ErrBindCode means the bind code is unknown or expired.
	ErrBindCode = errors.New("storage: no such bind code")
)

// Staff is a console user.
type Staff struct {
	ID           int64
	Username     string
	Name         string
	PasswordHash []byte // bcrypt
	Role         hazardbot.Role
	CommunityID  string
	Disabled     bool
	FailedLogins int
	LockedUntil  time.Time // zero when not locked
	OpenID       string    // bound WeChat account, "" when unbound
	BoundAt      time.Time
	LastLoginAt  time.Time
	CreatedAt    time.Time
}

// Actor is the staff member as the lifecycle sees them.
func (s Staff) Actor() hazardbot.Actor {
	return hazardbot.Actor{Username: s.Username, Role: s.Role, CommunityID: s.CommunityID}
}

type staffRow struct {
	ID           int64          `db:"id"`
	Username     string         `db:"username"`
	Name         string         `db:"display_name"`
	PasswordHash string         `db:"password_hash"`
	Role         string         `db:"role"`
	CommunityID  string         `db:"community_id"`
	Disabled     bool           `db:"disabled"`
	FailedLogins int            `db:"failed_logins"`
	LockedUntil  sql.NullTime   `db:"locked_until"`
	OpenID       sql.NullString `db:"openid"`
	BoundAt      sql.NullTime   `db:"bound_at"`
	LastLoginAt  sql.NullTime   `db:"last_login_at"`
	CreatedAt    time.Time      `db:"created_at"`
}

const staffCols = `s.id, s.username, s.display_name, s.password_hash, s.role, s.community_id, s.disabled, s.failed_logins,
	s.locked_until, s.openid, s.bound_at, s.last_login_at, s.created_at`

func utcOrZero(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func (r staffRow) staff() Staff {
	return Staff{ID: r.ID, Username: r.Username, Name: r.Name, PasswordHash: []byte(r.PasswordHash),
		Role: hazardbot.Role(r.Role), CommunityID: r.CommunityID, Disabled: r.Disabled, FailedLogins: r.FailedLogins,
		LockedUntil: utcOrZero(r.LockedUntil), OpenID: r.OpenID.String, BoundAt: utcOrZero(r.BoundAt),
		LastLoginAt: utcOrZero(r.LastLoginAt), CreatedAt: r.CreatedAt.UTC()}
}

func (s *Store) staffBy(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (Staff, error) {
	var row staffRow
	err := sqlx.GetContext(ctx, q, &row, "SELECT "+staffCols+" FROM staff s WHERE "+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return Staff{}, ErrNotFound
	}
	if err != nil {
		return Staff{}, fmt.Errorf("storage: get staff: %w", err)
	}
	return row.staff(), nil
}

// CreateStaff adds a console user with a bcrypt hash made by the caller;
// ErrExists when the username is taken. It returns the new id.
func (s *Store) CreateStaff(ctx context.Context, st Staff, now time.Time) (int64, error) {
	if st.Username == "" || len(st.Username) > 32 || len(st.PasswordHash) == 0 || !st.Role.Valid() {
		return 0, fmt.Errorf("storage: create staff: need a username of 1-32 bytes, a password hash and a known role")
	}
	if (st.Role == hazardbot.RoleCommunity) != (st.CommunityID != "") {
		return 0, fmt.Errorf("storage: create staff: community staff, and only they, belong to a community")
	}
	now = now.UTC()
	res, err := s.exec(ctx, `INSERT INTO staff (username, display_name, password_hash, role, community_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, st.Username, truncateUTF8(st.Name, 64), string(st.PasswordHash), string(st.Role),
		st.CommunityID, now, now)
	if isDuplicate(err) {
		return 0, ErrExists
	}
	if err != nil {
		return 0, fmt.Errorf("storage: create staff: %w", err)
	}
	return res.LastInsertId()
}

// StaffByUsername returns a console user, or ErrNotFound.
func (s *Store) StaffByUsername(ctx context.Context, username string) (Staff, error) {
	return s.staffBy(ctx, s.DB, "s.username = ?", username)
}

// StaffByID returns a console user, or ErrNotFound.
func (s *Store) StaffByID(ctx context.Context, id int64) (Staff, error) {
	return s.staffBy(ctx, s.DB, "s.id = ?", id)
}

// StaffByOpenID returns the console user whose WeChat account this is, or
// ErrNotFound.
func (s *Store) StaffByOpenID(ctx context.Context, openid string) (Staff, error) {
	if openid == "" {
		return Staff{}, ErrNotFound
	}
	return s.staffBy(ctx, s.DB, "s.openid = ?", openid)
}

// ListStaff lists every console user by username.
func (s *Store) ListStaff(ctx context.Context) ([]Staff, error) {
	var rows []staffRow
	if err := s.DB.SelectContext(ctx, &rows, "SELECT "+staffCols+" FROM staff s ORDER BY s.username"); err != nil {
		return nil, fmt.Errorf("storage: list staff: %w", err)
	}
	out := make([]Staff, len(rows))
	for i, r := range rows {
		out[i] = r.staff()
	}
	return out, nil
}

// RecordLoginFailure counts a wrong password; the max-th failure in a row
// locks the account until now+lockFor (and restarts the count). It reports
// whether the account is now locked.
func (s *Store) RecordLoginFailure(ctx context.Context, id int64, now time.Time, max int, lockFor time.Duration) (bool, error) {
	locked := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, "SELECT failed_logins FROM staff WHERE id = ?"+s.forUpdate(), id); err != nil {
			return err
		}
		n++
		var until sql.NullTime
		if n >= max {
			locked, n = true, 0
			until = sql.NullTime{Time: now.UTC().Add(lockFor), Valid: true}
			_, err := tx.ExecContext(ctx, "UPDATE staff SET failed_logins = 0, locked_until = ?, updated_at = ? WHERE id = ?",
				until, now.UTC(), id)
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE staff SET failed_logins = ?, updated_at = ? WHERE id = ?", n, now.UTC(), id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("storage: record login failure: %w", err)
	}
	return locked, nil
}

// RecordLogin notes a successful login: the failure count and any lock end.
func (s *Store) RecordLogin(ctx context.Context, id int64, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE staff SET failed_logins = 0, locked_until = NULL, last_login_at = ?, updated_at = ? WHERE id = ?",
		now.UTC(), now.UTC(), id)
	if err != nil {
		return fmt.Errorf("storage: record login: %w", err)
	}
	return nil
}

// UpdateStaff changes a console user's name, role and community.
func (s *Store) UpdateStaff(ctx context.Context, id int64, name string, role hazardbot.Role, community string) error {
	if !role.Valid() || (role == hazardbot.RoleCommunity) != (community != "") {
		return fmt.Errorf("storage: update staff: a known role; community staff, and only they, belong to a community")
	}
	return s.updateStaff(ctx, "update staff", id, "display_name = ?, role = ?, community_id = ?",
		truncateUTF8(name, 64), string(role), community)
}

// SetStaffPassword replaces the password hash and ends the user's sessions.
func (s *Store) SetStaffPassword(ctx context.Context, id int64, hash []byte) error {
	if err := s.updateStaff(ctx, "set staff password", id, "password_hash = ?, failed_logins = 0, locked_until = NULL", string(hash)); err != nil {
		return err
	}
	return s.EndStaffSessions(ctx, id)
}

// SetStaffDisabled disables or enables an account; disabling ends its sessions.
func (s *Store) SetStaffDisabled(ctx context.Context, id int64, disabled bool) error {
	if err := s.updateStaff(ctx, "set staff disabled", id, "disabled = ?", disabled); err != nil {
		return err
	}
	if disabled {
		return s.EndStaffSessions(ctx, id)
	}
	return nil
}

// UnlockStaff lifts a lockout.
func (s *Store) UnlockStaff(ctx context.Context, id int64) error {
	return s.updateStaff(ctx, "unlock staff", id, "failed_logins = 0, locked_until = NULL")
}

// UnbindWeChat forgets the staff member's WeChat account.
func (s *Store) UnbindWeChat(ctx context.Context, id int64) error {
	return s.updateStaff(ctx, "unbind wechat", id, "openid = NULL, bound_at = NULL")
}

func (s *Store) updateStaff(ctx context.Context, what string, id int64, set string, args ...any) error {
	res, err := s.exec(ctx, "UPDATE staff SET "+set+", updated_at = ? WHERE id = ?", append(args, s.now(), id)...)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: %s: %w", what, err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ConsoleSession is a logged-in console session.
type ConsoleSession struct {
	StaffID   int64     `db:"staff_id"`
	CSRF      string    `db:"csrf"`
	CreatedAt time.Time `db:"created_at"`
	LastSeen  time.Time `db:"last_seen_at"`
}

// CreateSession stores a new session under the SHA-256 of its token.
func (s *Store) CreateSession(ctx context.Context, tokenHash string, staffID int64, csrf string, now time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO staff_sessions (token_hash, staff_id, csrf, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, staffID, csrf, now.UTC(), now.UTC())
	if err != nil {
		return fmt.Errorf("storage: create session: %w", err)
	}
	return nil
}

// Session returns a session and its user, or ErrNotFound.
func (s *Store) Session(ctx context.Context, tokenHash string) (ConsoleSession, Staff, error) {
	var sess ConsoleSession
	err := s.DB.GetContext(ctx, &sess, "SELECT staff_id, csrf, created_at, last_seen_at FROM staff_sessions WHERE token_hash = ?", tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, Staff{}, ErrNotFound
	}
	if err != nil {
		return sess, Staff{}, fmt.Errorf("storage: session: %w", err)
	}
	sess.CreatedAt, sess.LastSeen = sess.CreatedAt.UTC(), sess.LastSeen.UTC()
	st, err := s.StaffByID(ctx, sess.StaffID)
	return sess, st, err
}

// TouchSession moves a session's last activity forward.
func (s *Store) TouchSession(ctx context.Context, tokenHash string, now time.Time) error {
	if _, err := s.exec(ctx, "UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?", now.UTC(), tokenHash); err != nil {
		return fmt.Errorf("storage: touch session: %w", err)
	}
	return nil
}

// EndSession deletes one session.
func (s *Store) EndSession(ctx context.Context, tokenHash string) error {
	if _, err := s.exec(ctx, "DELETE FROM staff_sessions WHERE token_hash = ?", tokenHash); err != nil {
		return fmt.Errorf("storage: end session: %w", err)
	}
	return nil
}

// EndStaffSessions deletes every session of a user.
func (s *Store) EndStaffSessions(ctx context.Context, staffID int64) error {
	if _, err := s.exec(ctx, "DELETE FROM staff_sessions WHERE staff_id = ?", staffID); err != nil {
		return fmt.Errorf("storage: end staff sessions: %w", err)
	}
	return nil
}

// PruneSessions deletes sessions idle since before `before`.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, "DELETE FROM staff_sessions WHERE last_seen_at < ?", before.UTC())
	if err != nil {
		return 0, fmt.Errorf("storage: prune sessions: %w", err)
	}
	return res.RowsAffected()
}

// SetBindCode gives a staff member a new one-time bind code, replacing any
// earlier one; ErrExists if another staff member holds the same code (the
// caller draws again).
func (s *Store) SetBindCode(ctx context.Context, staffID int64, code string, expires, now time.Time) error {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM staff_bind_codes WHERE staff_id = ? OR expires_at < ?", staffID, now.UTC()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO staff_bind_codes (code, staff_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
			code, staffID, expires.UTC(), now.UTC())
		return err
	})
	if isDuplicate(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("storage: set bind code: %w", err)
	}
	return nil
}

// BindWeChat uses a bind code: the WeChat account openid becomes the code's
// staff member's, and the code is spent. ErrBindCode for an unknown or
// expired code; ErrExists when the account is bound to someone else.
func (s *Store) BindWeChat(ctx context.Context, code, openid string, now time.Time) (Staff, error) {
	if err := checkOpenID(openid); err != nil {
		return Staff{}, fmt.Errorf("storage: bind wechat: %w", err)
	}
	var st Staff
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var id int64
		err := tx.GetContext(ctx, &id, "SELECT staff_id FROM staff_bind_codes WHERE code = ? AND expires_at >= ?"+s.forUpdate(), code, now.UTC())
		if errors.Is(err, sql.ErrNoRows) {
			return ErrBindCode
		}
		if err != nil {
			return err
		}
		var other int64
		err = tx.GetContext(ctx, &other, "SELECT id FROM staff WHERE openid = ? AND id <> ?", openid, id)
		if err == nil {
			return ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM staff_bind_codes WHERE code = ?", code); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE staff SET openid = ?, bound_at = ?, updated_at = ? WHERE id = ?",
			openid, now.UTC(), now.UTC(), id); err != nil {
			return err
		}
		st, err = s.staffBy(ctx, tx, "s.id = ?", id)
		return err
	})
	switch {
	case errors.Is(err, ErrBindCode), errors.Is(err, ErrExists):
		return Staff{}, err
	case isDuplicate(err):
		return Staff{}, ErrExists
	case err != nil:
		return Staff{}, fmt.Errorf("storage: bind wechat: %w", err)
	}
	return st, nil
}
