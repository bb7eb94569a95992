package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
	"hazardbot/notices"
)

// This file stores notices and early warnings: the notices themselves,
// one delivery row per recipient, mass-send batches, WeChat's send reports,
// and residents' notice settings. Delivery rows are claimed like jobs (see
// ClaimJobs): SKIP LOCKED through the primary key on MySQL, one IMMEDIATE
// transaction behind the write gate on SQLite.

const noticeCols = `n.id, n.kind, n.level, n.hazard, n.msg_type, n.refs, n.title, n.body, n.instruction, n.audience,
	n.state, n.exercise, n.send_at, n.valid_from, n.valid_until, n.created_by, n.created_by_name, n.approved_by,
	n.approved_by_name, n.approved_at, n.reject_note, n.cancelled_by, n.cancelled_at, n.cancel_reason,
	n.superseded_by, n.published_at, n.finished_at, n.recipients, n.mass_mode, n.created_at, n.updated_at`

type noticeRow struct {
	ID             int64         `db:"id"`
	Kind           string        `db:"kind"`
	Level          string        `db:"level"`
	Hazard         string        `db:"hazard"`
	MsgType        string        `db:"msg_type"`
	Refs           sql.NullInt64 `db:"refs"`
	Title          string        `db:"title"`
	Body           string        `db:"body"`
	Instruction    string        `db:"instruction"`
	Audience       string        `db:"audience"`
	State          string        `db:"state"`
	Exercise       bool          `db:"exercise"`
	SendAt         sql.NullTime  `db:"send_at"`
	ValidFrom      sql.NullTime  `db:"valid_from"`
	ValidUntil     sql.NullTime  `db:"valid_until"`
	CreatedBy      string        `db:"created_by"`
	CreatedByName  string        `db:"created_by_name"`
	ApprovedBy     string        `db:"approved_by"`
	ApprovedByName string        `db:"approved_by_name"`
	ApprovedAt     sql.NullTime  `db:"approved_at"`
	RejectNote     string        `db:"reject_note"`
	CancelledBy    string        `db:"cancelled_by"`
	CancelledAt    sql.NullTime  `db:"cancelled_at"`
	CancelReason   string        `db:"cancel_reason"`
	SupersededBy   sql.NullInt64 `db:"superseded_by"`
	PublishedAt    sql.NullTime  `db:"published_at"`
	FinishedAt     sql.NullTime  `db:"finished_at"`
	Recipients     int           `db:"recipients"`
	MassMode       string        `db:"mass_mode"`
	CreatedAt      time.Time     `db:"created_at"`
	UpdatedAt      time.Time     `db:"updated_at"`
}

func (r noticeRow) notice() (notices.Notice, error) {
	n := notices.Notice{
		ID: r.ID, Kind: notices.Kind(r.Kind), Level: notices.Level(r.Level), Hazard: r.Hazard,
		MsgType: notices.MsgType(r.MsgType), Refs: r.Refs.Int64, Title: r.Title, Body: r.Body,
		Instruction: r.Instruction, State: notices.State(r.State), Exercise: r.Exercise,
		SendAt: utcOrZero(r.SendAt), ValidFrom: utcOrZero(r.ValidFrom), ValidUntil: utcOrZero(r.ValidUntil),
		CreatedBy: r.CreatedBy, CreatedByName: r.CreatedByName, ApprovedBy: r.ApprovedBy,
		ApprovedByName: r.ApprovedByName, ApprovedAt: utcOrZero(r.ApprovedAt), RejectNote: r.RejectNote,
		CancelledBy: r.CancelledBy, CancelledAt: utcOrZero(r.CancelledAt), CancelReason: r.CancelReason,
		SupersededBy: r.SupersededBy.Int64, PublishedAt: utcOrZero(r.PublishedAt), FinishedAt: utcOrZero(r.FinishedAt),
		Recipients: r.Recipients, MassMode: r.MassMode, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(r.Audience), &n.Audience); err != nil {
		return n, fmt.Errorf("storage: notice %d audience: %w", r.ID, err)
	}
	return n, nil
}

func noticeTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: t.UTC(), Valid: true}
}

func noticeID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// ignoreDup makes an INSERT skip rows whose unique key exists. On MySQL a
// no-op update does it: INSERT IGNORE would also swallow truncation.
func (s *Store) noticeIgnoreDup(keyCol string) string {
	if s.Dialect == DialectMySQL {
		return " ON DUPLICATE KEY UPDATE " + keyCol + " = " + keyCol
	}
	return " ON CONFLICT DO NOTHING"
}

func noticeAudit(ctx context.Context, tx *sqlx.Tx, at time.Time, actor, action string, id int64, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject_type, subject_id, detail)
		VALUES (?, ?, ?, 'notice', ?, ?)`, at.UTC(), actor, "notice."+action, strconv.FormatInt(id, 10), truncateUTF8(detail, 4000))
	return err
}

// CreateNotice stores a new notice (normally a draft) and sets n.ID.
func (s *Store) CreateNotice(ctx context.Context, n *notices.Notice, at time.Time) error {
	aud, err := json.Marshal(n.Audience)
	if err != nil {
		return fmt.Errorf("storage: create notice: %w", err)
	}
	at = at.UTC()
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO notices (kind, level, hazard, msg_type, refs, title, body, instruction,
			audience, audience_kind, state, exercise, send_at, valid_from, valid_until, created_by, created_by_name,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(n.Kind), string(n.Level), n.Hazard, string(n.MsgType), noticeID(n.Refs), n.Title, n.Body, n.Instruction,
			string(aud), n.Audience.Kind, string(n.State), n.Exercise, noticeTime(n.SendAt), noticeTime(n.ValidFrom),
			noticeTime(n.ValidUntil), n.CreatedBy, truncateUTF8(n.CreatedByName, 64), at, at)
		if err != nil {
			return err
		}
		if n.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return noticeAudit(ctx, tx, at, n.CreatedBy, "create", n.ID, n.Title)
	})
	if err != nil {
		return fmt.Errorf("storage: create notice: %w", err)
	}
	n.CreatedAt, n.UpdatedAt = at, at
	return nil
}

// SaveDraft replaces what staff wrote in a notice that is still a draft;
// ErrStale (as a *notices.Error) when it has moved on.
func (s *Store) SaveDraft(ctx context.Context, n *notices.Notice, by notices.Staff, at time.Time) error {
	aud, err := json.Marshal(n.Audience)
	if err != nil {
		return fmt.Errorf("storage: save notice draft: %w", err)
	}
	var res sql.Result
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err = tx.ExecContext(ctx, `UPDATE notices SET kind = ?, level = ?, hazard = ?, msg_type = ?, refs = ?, title = ?,
			body = ?, instruction = ?, audience = ?, audience_kind = ?, exercise = ?, send_at = ?, valid_from = ?,
			valid_until = ?, updated_at = ? WHERE id = ? AND state = 'draft'`,
			string(n.Kind), string(n.Level), n.Hazard, string(n.MsgType), noticeID(n.Refs), n.Title, n.Body, n.Instruction,
			string(aud), n.Audience.Kind, n.Exercise, noticeTime(n.SendAt), noticeTime(n.ValidFrom), noticeTime(n.ValidUntil),
			at.UTC(), n.ID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return nil
		}
		return noticeAudit(ctx, tx, at, by.ID, "edit", n.ID, n.Title)
	})
	if err != nil {
		return fmt.Errorf("storage: save notice draft: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return &notices.Error{Kind: notices.ErrStale, Msg: "这条通知已经提交，不能再修改草稿"}
	}
	return nil
}

// GetNotice returns a notice, or ErrNotFound.
func (s *Store) GetNotice(ctx context.Context, id int64) (notices.Notice, error) {
	var r noticeRow
	err := s.DB.GetContext(ctx, &r, "SELECT "+noticeCols+" FROM notices n WHERE n.id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return notices.Notice{}, ErrNotFound
	}
	if err != nil {
		return notices.Notice{}, fmt.Errorf("storage: get notice: %w", err)
	}
	return r.notice()
}

func (s *Store) selectNotices(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]notices.Notice, error) {
	var rows []noticeRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make([]notices.Notice, 0, len(rows))
	for _, r := range rows {
		n, err := r.notice()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ListNotices lists notices for staff, newest first.
func (s *Store) ListNotices(ctx context.Context, f notices.ListFilter) ([]notices.Notice, error) {
	q := "SELECT " + noticeCols + " FROM notices n WHERE 1 = 1"
	var args []any
	if len(f.States) > 0 {
		q += " AND n.state IN (?" + strings.Repeat(", ?", len(f.States)-1) + ")"
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Kind != "" {
		q += " AND n.kind = ?"
		args = append(args, string(f.Kind))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	q += " ORDER BY n.id DESC LIMIT ?"
	out, err := s.selectNotices(ctx, s.DB, q, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("storage: list notices: %w", err)
	}
	return out, nil
}

// ChangeNotice applies a state change while the notice is still in one of
// ch.From, with its audit entry; withdrawing a notice that is sending stops
// the deliveries not yet under way. It returns the notice as changed, or
// the notice as it is with an ErrState *notices.Error.
func (s *Store) ChangeNotice(ctx context.Context, ch notices.Change) (notices.Notice, error) {
	at := ch.At.UTC()
	var refused bool
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var state string
		err := tx.GetContext(ctx, &state, "SELECT state FROM notices WHERE id = ?"+s.forUpdate(), ch.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !slices.Contains(ch.From, notices.State(state)) {
			refused = true
			return nil
		}
		set := "state = ?, updated_at = ?"
		args := []any{string(ch.To), at}
		if ch.SendAt != nil {
			set += ", send_at = ?"
			args = append(args, noticeTime(*ch.SendAt))
		}
		if ch.Approve {
			set += ", approved_by = ?, approved_by_name = ?, approved_at = ?, reject_note = ''"
			args = append(args, ch.By.ID, truncateUTF8(ch.By.Name, 64), at)
		}
		if ch.Reject != "" {
			set += ", reject_note = ?"
			args = append(args, truncateUTF8(ch.Reject, 500))
		}
		if ch.To == notices.StateCanceled {
			set += ", cancelled_by = ?, cancelled_at = ?, cancel_reason = ?"
			args = append(args, ch.By.ID, at, truncateUTF8(ch.CancelWhy, 500))
		}
		if _, err := tx.ExecContext(ctx, "UPDATE notices SET "+set+" WHERE id = ?", append(args, ch.ID)...); err != nil {
			return err
		}
		if ch.To == notices.StateCanceled && state == string(notices.StateSending) {
			if err := cancelNoticeDeliveries(ctx, tx, ch.ID, at); err != nil {
				return err
			}
		}
		return noticeAudit(ctx, tx, at, ch.By.ID, ch.Action, ch.ID, ch.Note)
	})
	if errors.Is(err, ErrNotFound) {
		return notices.Notice{}, ErrNotFound
	}
	if err != nil {
		return notices.Notice{}, fmt.Errorf("storage: change notice %d: %w", ch.ID, err)
	}
	n, err := s.GetNotice(ctx, ch.ID)
	if err != nil {
		return n, err
	}
	if refused {
		return n, &notices.Error{Kind: notices.ErrState, Msg: fmt.Sprintf("第%d号当前为“%s”，不能执行此操作", n.ID, n.State.Name())}
	}
	return n, nil
}

// cancelNoticeDeliveries stops the deliveries of a notice that are not under
// way: pending rows, rows waiting for a mass send, and mass batches not yet
// sent. Rows being sent right now finish.
func cancelNoticeDeliveries(ctx context.Context, tx *sqlx.Tx, id int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE notice_mass_batches SET state = 'cancelled', updated_at = ?
		WHERE notice_id = ? AND state = 'pending'`, at, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'cancelled', updated_at = ?
		WHERE notice_id = ? AND (state = 'pending' OR (state = 'massq' AND (batch IS NULL OR batch IN
		(SELECT clientmsgid FROM notice_mass_batches WHERE notice_id = ? AND state = 'cancelled'))))`, at, id, id)
	return err
}

// DueNotices lists scheduled notices whose time has come.
func (s *Store) DueNotices(ctx context.Context, now time.Time) ([]int64, error) {
	var ids []int64
	err := s.DB.SelectContext(ctx, &ids, `SELECT id FROM notices WHERE state = 'scheduled'
		AND (send_at IS NULL OR send_at <= ?) ORDER BY id`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("storage: due notices: %w", err)
	}
	return ids, nil
}

// StartSending moves a scheduled notice to sending, fixes its validity and
// how a mass send goes, and retires the notice it updates or lifts (whose
// deliveries not yet under way stop). False when another instance started
// it first or it was withdrawn.
func (s *Store) StartSending(ctx context.Context, id int64, from, until time.Time, massMode string, now time.Time) (bool, error) {
	now = now.UTC()
	started := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notices SET state = 'sending', published_at = ?, valid_from = ?,
			valid_until = ?, mass_mode = ?, updated_at = ? WHERE id = ? AND state = 'scheduled'`,
			now, from.UTC(), until.UTC(), massMode, now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		started = true
		var refs sql.NullInt64
		if err := tx.GetContext(ctx, &refs, "SELECT refs FROM notices WHERE id = ?", id); err != nil {
			return err
		}
		if refs.Valid {
			if _, err := tx.ExecContext(ctx, `UPDATE notices SET superseded_by = ?, updated_at = ?
				WHERE id = ? AND superseded_by IS NULL`, id, now, refs.Int64); err != nil {
				return err
			}
			if err := cancelNoticeDeliveries(ctx, tx, refs.Int64, now); err != nil {
				return err
			}
		}
		return noticeAudit(ctx, tx, now, "system", "start", id, "mass="+massMode)
	})
	if err != nil {
		return false, fmt.Errorf("storage: start sending notice %d: %w", id, err)
	}
	return started, nil
}

// UnexpandedNotices lists sending notices whose audience is not yet fully
// resolved into delivery rows.
func (s *Store) UnexpandedNotices(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.DB.SelectContext(ctx, &ids, "SELECT id FROM notices WHERE state = 'sending' AND expanded = ? ORDER BY id", false)
	if err != nil {
		return nil, fmt.Errorf("storage: unexpanded notices: %w", err)
	}
	return ids, nil
}

const noticeInsertRows = 500

// ExpandNotice resolves the next chunk of up to limit followers (by openid)
// of a sending notice into delivery rows: pick says, for each, the row's
// state (notices.RowPending or notices.RowMassQueue) or "" to leave them
// out. The chunk's rows and the cursor commit together, so a crash resumes
// where it stopped; done is true once every follower has been considered.
func (s *Store) ExpandNotice(ctx context.Context, id int64, month string, limit int, pick func(notices.Candidate) string, now time.Time) (bool, error) {
	now = now.UTC()
	done := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var st struct {
			Cursor   string `db:"expand_cursor"`
			Expanded bool   `db:"expanded"`
			State    string `db:"state"`
		}
		// The row lock serialises instances expanding the same notice.
		if err := tx.GetContext(ctx, &st, "SELECT expand_cursor, expanded, state FROM notices WHERE id = ?"+s.forUpdate(), id); err != nil {
			return err
		}
		if st.Expanded || st.State != string(notices.StateSending) {
			done = true
			return nil
		}
		var cands []struct {
			OpenID string          `db:"openid"`
			Role   string          `db:"role"`
			Lat    sql.NullFloat64 `db:"last_lat"`
			Lng    sql.NullFloat64 `db:"last_lng"`
			Muted  bool            `db:"muted"`
			MassN  int             `db:"mass_n"`
		}
		err := tx.SelectContext(ctx, &cands, `SELECT u.openid, u.role, u.last_lat, u.last_lng,
			COALESCE(p.muted, ?) AS muted, COALESCE(m.n, 0) AS mass_n
			FROM users u LEFT JOIN notice_prefs p ON p.openid = u.openid
			LEFT JOIN notice_mass_counts m ON m.openid = u.openid AND m.month = ?
			WHERE u.subscribed = ? AND u.openid > ? ORDER BY u.openid LIMIT ?`, false, month, true, st.Cursor, limit)
		if err != nil {
			return err
		}
		var openids, states []string
		for _, c := range cands {
			cand := notices.Candidate{OpenID: c.OpenID, Role: c.Role, Muted: c.Muted, MassCount: c.MassN}
			if c.Lat.Valid && c.Lng.Valid {
				cand.HasLocation, cand.Lat, cand.Lng = true, c.Lat.Float64, c.Lng.Float64
			}
			if state := pick(cand); state != "" {
				openids, states = append(openids, c.OpenID), append(states, state)
			}
		}
		if err := s.insertDeliveries(ctx, tx, id, openids, states, now); err != nil {
			return err
		}
		if len(cands) < limit {
			done = true
			return finishNoticeExpansion(ctx, tx, id, now)
		}
		_, err = tx.ExecContext(ctx, "UPDATE notices SET expand_cursor = ?, updated_at = ? WHERE id = ?",
			cands[len(cands)-1].OpenID, now, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("storage: expand notice %d: %w", id, err)
	}
	return done, nil
}

func finishNoticeExpansion(ctx context.Context, tx *sqlx.Tx, id int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE notices SET expanded = ?, updated_at = ?,
		recipients = (SELECT COUNT(*) FROM notice_deliveries WHERE notice_id = ?) WHERE id = ?`, true, now, id, id)
	return err
}

func (s *Store) insertDeliveries(ctx context.Context, tx *sqlx.Tx, id int64, openids, states []string, now time.Time) error {
	for start := 0; start < len(openids); start += noticeInsertRows {
		end := min(start+noticeInsertRows, len(openids))
		q := "INSERT INTO notice_deliveries (notice_id, openid, state, due_at, updated_at) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", end-start), ", ") + s.noticeIgnoreDup("id")
		args := make([]any, 0, 5*(end-start))
		for i := start; i < end; i++ {
			args = append(args, id, openids[i], states[i], now, now)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// AddRecipients resolves a notice whose audience WeChat knows (a tag) in
// one go: a row in state (notices.RowPending, or RowMassQueue for one mass
// send to the tag) per openid, leaving out residents who muted notices
// unless the notice is important, and marks it resolved. Repeating it is
// harmless.
func (s *Store) AddRecipients(ctx context.Context, id int64, openids []string, state string, now time.Time) error {
	now = now.UTC()
	n, err := s.GetNotice(ctx, id)
	if err != nil {
		return err
	}
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		states := make([]string, len(openids))
		for i := range states {
			states[i] = state
		}
		if err := s.insertDeliveries(ctx, tx, id, openids, states, now); err != nil {
			return err
		}
		if !n.Important() {
			res, err := tx.ExecContext(ctx, `DELETE FROM notice_deliveries WHERE notice_id = ? AND state IN ('pending', 'massq')
				AND openid IN (SELECT openid FROM notice_prefs WHERE muted = ?)`, id, true)
			if err != nil {
				return err
			}
			// A mass send to the tag would reach the members who muted
			// notices too: then everyone gets a message of their own.
			if k, _ := res.RowsAffected(); k > 0 && state == notices.RowMassQueue {
				if _, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'pending' WHERE notice_id = ?
					AND state = 'massq'`, id); err != nil {
					return err
				}
			}
		}
		return finishNoticeExpansion(ctx, tx, id, now)
	})
	if err != nil {
		return fmt.Errorf("storage: add recipients to notice %d: %w", id, err)
	}
	return nil
}

// ReportersIn lists the residents who reported hazards in these grids.
func (s *Store) ReportersIn(ctx context.Context, grids []string) ([]string, error) {
	if len(grids) == 0 {
		return nil, nil
	}
	q, args, err := sqlx.In("SELECT DISTINCT openid FROM reports WHERE grid_id IN (?)", grids)
	if err != nil {
		return nil, err
	}
	var out []string
	if err := s.DB.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("storage: reporters in grids: %w", err)
	}
	return out, nil
}

// MassQuota reports how much of the month's mass-send allowance is used.
func (s *Store) MassQuota(ctx context.Context, month string) (notices.MassQuota, error) {
	var q notices.MassQuota
	err := s.DB.GetContext(ctx, &q.Broadcasts, `SELECT COUNT(*) FROM notice_mass_batches
		WHERE month = ? AND mode IN ('all', 'tag') AND state = 'sent'`, month)
	if err == nil {
		err = s.DB.GetContext(ctx, &q.MaxList, "SELECT COALESCE(MAX(n), 0) FROM notice_mass_counts WHERE month = ?", month)
	}
	if err != nil {
		return q, fmt.Errorf("storage: mass quota: %w", err)
	}
	return q, nil
}

// MutedFollowers counts followers who muted notices.
func (s *Store) MutedFollowers(ctx context.Context) (int, error) {
	var n int
	err := s.DB.GetContext(ctx, &n, `SELECT COUNT(*) FROM notice_prefs p JOIN users u ON u.openid = p.openid
		WHERE p.muted = ? AND u.subscribed = ?`, true, true)
	if err != nil {
		return 0, fmt.Errorf("storage: muted followers: %w", err)
	}
	return n, nil
}

// FinishNotices marks sending notices sent once nothing of theirs is left
// to send, and reports how many.
func (s *Store) FinishNotices(ctx context.Context, now time.Time) (int, error) {
	var ids []int64
	if err := s.DB.SelectContext(ctx, &ids, "SELECT id FROM notices WHERE state = 'sending' AND expanded = ?", true); err != nil {
		return 0, fmt.Errorf("storage: finish notices: %w", err)
	}
	finished := 0
	for _, id := range ids {
		var open int
		err := s.DB.GetContext(ctx, &open, `SELECT
			(SELECT COUNT(*) FROM (SELECT 1 FROM notice_deliveries WHERE notice_id = ? AND state IN ('pending', 'sending', 'massq') LIMIT 1) d) +
			(SELECT COUNT(*) FROM notice_mass_batches WHERE notice_id = ? AND state IN ('pending', 'sending'))`, id, id)
		if err != nil {
			return finished, fmt.Errorf("storage: finish notice %d: %w", id, err)
		}
		if open > 0 {
			continue
		}
		res, err := s.exec(ctx, `UPDATE notices SET state = 'sent', finished_at = ?, updated_at = ?
			WHERE id = ? AND state = 'sending'`, now.UTC(), now.UTC(), id)
		if err != nil {
			return finished, fmt.Errorf("storage: finish notice %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			finished++
		}
	}
	return finished, nil
}

// ClaimDeliveries leases up to limit due delivery rows for lease: pending
// rows whose time has come, and sending rows whose lease ran out (their
// sender died; they come back with Doubt set). window is how many
// candidates to look at, enough for every concurrent claimer's share.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit, window int, lease time.Duration) ([]notices.Delivery, error) {
	if limit <= 0 || lease <= 0 {
		return nil, errors.New("storage: claim deliveries: limit and lease must be positive")
	}
	now = now.UTC()
	window = max(window, 2*limit+32)
	release, err := s.acquireWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: claim deliveries: %w", err)
	}
	defer release()

	var out []notices.Delivery
	claim := func(tx *sqlx.Tx) error {
		ids, err := dueNoticeDeliveryIDs(ctx, tx, now, window)
		if err != nil || len(ids) == 0 {
			return err
		}
		if s.Dialect == DialectMySQL {
			// As in lockDueMySQL: candidates come from a consistent read,
			// and only the primary key is locked, skipping what another
			// claimer holds and re-checking each row.
			q, args, err := sqlx.In(`SELECT id FROM notice_deliveries FORCE INDEX (PRIMARY) WHERE id IN (?)
				AND ((state = 'pending' AND due_at <= ?) OR (state = 'sending' AND due_at < ?))
				ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`, ids, now, now, limit)
			if err != nil {
				return err
			}
			ids = nil
			if err := tx.SelectContext(ctx, &ids, q, args...); err != nil || len(ids) == 0 {
				return err
			}
		} else if len(ids) > limit {
			ids = ids[:limit]
		}
		// doubt and channel are assigned before state: MySQL evaluates SET
		// left to right with the new values, SQLite with the old ones.
		// A row taken over from a dead sender keeps the channel that
		// sender had started (see MarkAttempt); a fresh claim starts clean.
		q, args, err := sqlx.In(`UPDATE notice_deliveries SET doubt = CASE WHEN state = 'sending' THEN ? ELSE doubt END,
			channel = CASE WHEN state = 'sending' THEN channel ELSE '' END,
			state = 'sending', due_at = ?, attempts = attempts + 1, attempt_at = COALESCE(attempt_at, ?), updated_at = ?
			WHERE id IN (?)`, true, now.Add(lease), now, now, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		q, args, err = sqlx.In(`SELECT d.id, d.notice_id, d.openid, d.attempts, d.doubt, d.channel, d.attempt_at, u.last_interaction
			FROM notice_deliveries d LEFT JOIN users u ON u.openid = d.openid WHERE d.id IN (?) ORDER BY d.id`, ids)
		if err != nil {
			return err
		}
		var rows []struct {
			ID        int64        `db:"id"`
			NoticeID  int64        `db:"notice_id"`
			OpenID    string       `db:"openid"`
			Attempts  int          `db:"attempts"`
			Doubt     bool         `db:"doubt"`
			Channel   string       `db:"channel"`
			AttemptAt sql.NullTime `db:"attempt_at"`
			LastSeen  sql.NullTime `db:"last_interaction"`
		}
		if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
			return err
		}
		out = make([]notices.Delivery, len(rows))
		for i, r := range rows {
			out[i] = notices.Delivery{ID: r.ID, NoticeID: r.NoticeID, OpenID: r.OpenID, Attempts: r.Attempts,
				Doubt: r.Doubt, Started: r.Channel, AttemptAt: utcOrZero(r.AttemptAt), LastInteraction: utcOrZero(r.LastSeen)}
		}
		return nil
	}
	var opts *sql.TxOptions
	if s.Dialect == DialectMySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	for try := 1; ; try++ {
		out = nil
		err = s.inTx(ctx, opts, claim)
		if !isDeadlock(err) || try == 3 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: claim deliveries: %w", err)
	}
	return out, nil
}

// dueNoticeDeliveryIDs lists claimable rows, expired leases first; two queries so
// each walks the (state, due_at) index.
func dueNoticeDeliveryIDs(ctx context.Context, tx *sqlx.Tx, now time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := tx.SelectContext(ctx, &ids, `SELECT id FROM notice_deliveries WHERE state = 'sending' AND due_at < ?
		ORDER BY due_at, id LIMIT ?`, now, limit)
	if err != nil || len(ids) >= limit {
		return ids, err
	}
	var due []int64
	err = tx.SelectContext(ctx, &due, `SELECT id FROM notice_deliveries WHERE state = 'pending' AND due_at <= ?
		ORDER BY due_at, id LIMIT ?`, now, limit-len(ids))
	return append(ids, due...), err
}

// MarkAttempt records, before the call, that a claimed row's message is
// going out on channel: if the sender dies before recording the outcome,
// whoever takes the row over knows the call was made.
func (s *Store) MarkAttempt(ctx context.Context, id int64, channel string, now time.Time) error {
	_, err := s.exec(ctx, "UPDATE notice_deliveries SET channel = ?, updated_at = ? WHERE id = ? AND state = 'sending'",
		channel, now.UTC(), id)
	if err != nil {
		return fmt.Errorf("storage: mark delivery attempt: %w", err)
	}
	return nil
}

// RecordDeliveries records what became of claimed rows, in one
// transaction, and applies any send reports that arrived before it.
func (s *Store) RecordDeliveries(ctx context.Context, out []notices.Outcome, now time.Time) error {
	if len(out) == 0 {
		return nil
	}
	now = now.UTC()
	var msgids []int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		for start := 0; start < len(out); start += noticeRecordRows {
			part := out[start:min(start+noticeRecordRows, len(out))]
			if err := recordNoticeOutcomes(ctx, tx, part, now); err != nil {
				return err
			}
		}
		for _, o := range out {
			if o.MsgID != 0 {
				msgids = append(msgids, o.MsgID)
			}
		}
		return applyOrphanNoticeReceipts(ctx, tx, msgids, now)
	})
	if err != nil {
		return fmt.Errorf("storage: record deliveries: %w", err)
	}
	return nil
}

// noticeRecordRows bounds the rows one UPDATE records.
const noticeRecordRows = 64

// recordNoticeOutcomes records outcomes in one statement: a round trip per row
// would make the database, not WeChat, the limit of a broadcast.
func recordNoticeOutcomes(ctx context.Context, tx *sqlx.Tx, out []notices.Outcome, now time.Time) error {
	cols := []string{"state", "channel", "msgid", "reason", "detail", "due_at", "sent_at"}
	vals := make([][]any, len(cols))
	ids := make([]any, len(out))
	for i, o := range out {
		due, sent := now, sql.NullTime{}
		switch o.State {
		case notices.RowPending:
			due = o.DueAt.UTC()
		case notices.RowSent:
			sent = noticeTime(now)
		}
		row := []any{o.State, o.Channel, noticeID(o.MsgID), o.Reason, truncateUTF8(o.Detail, 255), due, sent}
		for c := range cols {
			vals[c] = append(vals[c], o.ID, row[c])
		}
		ids[i] = o.ID
	}
	var q strings.Builder
	var args []any
	q.WriteString("UPDATE notice_deliveries SET ")
	whens := strings.Repeat(" WHEN ? THEN ?", len(out))
	for c, col := range cols {
		fmt.Fprintf(&q, "%s = CASE id%s END, ", col, whens)
		args = append(args, vals[c]...)
	}
	q.WriteString("updated_at = ? WHERE id IN (?" + strings.Repeat(", ?", len(out)-1) + ") AND state = 'sending'")
	args = append(append(args, now), ids...)
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// applyOrphanNoticeReceipts applies send reports that arrived before the rows
// they are about were recorded.
func applyOrphanNoticeReceipts(ctx context.Context, tx *sqlx.Tx, msgids []int64, now time.Time) error {
	if len(msgids) == 0 {
		return nil
	}
	q, args, err := sqlx.In("SELECT msgid, status FROM notice_receipts WHERE msgid IN (?)", msgids)
	if err != nil {
		return err
	}
	var rcpts []struct {
		MsgID  int64  `db:"msgid"`
		Status string `db:"status"`
	}
	if err := tx.SelectContext(ctx, &rcpts, q, args...); err != nil {
		return err
	}
	for _, r := range rcpts {
		if _, err := applyTemplateReport(ctx, tx, "msgid = ?", []any{r.MsgID}, r.Status, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM notice_receipts WHERE msgid = ?", r.MsgID); err != nil {
			return err
		}
	}
	return nil
}

// applyTemplateReport applies a TEMPLATESENDJOBFINISH status to the template
// deliveries matching where, and reports how many matched. A refusal by
// the resident is final; a system failure sends the message again.
func applyTemplateReport(ctx context.Context, tx *sqlx.Tx, where string, args []any, status string, now time.Time) (int64, error) {
	set := "confirmed = ?"
	vals := []any{true}
	switch {
	case status == "success":
	case strings.Contains(status, "user block"):
		set = "state = 'failed', reason = ?, detail = ?, confirmed = ?"
		vals = []any{notices.ReasonUserBlock, truncateUTF8(status, 255), false}
	default: // "failed: system failed": nothing reached the resident
		set = "state = 'pending', due_at = ?, msgid = NULL, detail = ?, confirmed = ?"
		vals = []any{now.Add(time.Minute), truncateUTF8(status, 255), false}
	}
	res, err := tx.ExecContext(ctx, "UPDATE notice_deliveries SET "+set+", updated_at = ? WHERE channel = 'template' AND "+where,
		append(append(vals, now), args...)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// TemplateReport records WeChat's TEMPLATESENDJOBFINISH for msgid. A report
// that matches no row yet is kept: it may belong to a row whose sender died
// before recording it (see AdoptReceipt), or have overtaken our record.
func (s *Store) TemplateReport(ctx context.Context, msgid int64, openid, status string, at, now time.Time) error {
	now = now.UTC()
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		n, err := applyTemplateReport(ctx, tx, "msgid = ? AND openid = ?", []any{msgid, openid}, status, now)
		if err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO notice_receipts (msgid, openid, status, at, created_at) VALUES (?, ?, ?, ?, ?)"+
			s.noticeIgnoreDup("msgid"), msgid, openid, truncateUTF8(status, 64), at.UTC(), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: template report: %w", err)
	}
	return nil
}

// PruneNoticeReceipts forgets send reports that no row claimed before
// `before`: they matter only while a row in doubt waits for them, minutes
// after a crash, and TEMPLATESENDJOBFINISH also arrives for template
// messages that are not notices (report status, digests).
func (s *Store) PruneNoticeReceipts(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, "DELETE FROM notice_receipts WHERE created_at < ?", before.UTC())
	if err != nil {
		return 0, fmt.Errorf("storage: prune notice receipts: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// AdoptReceipt settles a claimed row whose earlier attempt is in doubt: a
// send report for the resident that arrived after that attempt began, and
// that no row claims, is that attempt's. It reports whether one was found;
// the row is then recorded as the report says.
func (s *Store) AdoptReceipt(ctx context.Context, d notices.Delivery, slack time.Duration, now time.Time) (bool, error) {
	now = now.UTC()
	found := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var r struct {
			MsgID  int64  `db:"msgid"`
			Status string `db:"status"`
		}
		err := tx.GetContext(ctx, &r, `SELECT msgid, status FROM notice_receipts WHERE openid = ? AND at >= ?
			ORDER BY at, msgid LIMIT 1`, d.OpenID, d.AttemptAt.Add(-slack).UTC())
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM notice_receipts WHERE msgid = ?", r.MsgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another instance adopted it
		}
		_, err = tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'sent', channel = 'template', msgid = ?,
			sent_at = ?, updated_at = ? WHERE id = ? AND state = 'sending'`, r.MsgID, now, now, d.ID)
		if err != nil {
			return err
		}
		found = true
		_, err = applyTemplateReport(ctx, tx, "id = ?", []any{d.ID}, r.Status, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("storage: adopt receipt: %w", err)
	}
	return found, nil
}

// maxNoticeMassList is WeChat's limit on openids per mass send by list.
const maxNoticeMassList = 10000

// ClaimMassBatch leases the next mass-send batch for lease: one whose send
// must be repeated (its lease ran out, or it is due for a retry), else a new
// one formed from a sending notice's rows waiting for mass send — up to
// 10,000 of them by openid list, or all of them for a send to all or to a
// tag. A lone row left for a list batch goes back to one message of its own
// (WeChat wants at least two openids).
func (s *Store) ClaimMassBatch(ctx context.Context, now time.Time, lease time.Duration, month string) (notices.MassClaim, bool, error) {
	now = now.UTC()
	var c notices.MassClaim
	found := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var due []string
		err := tx.SelectContext(ctx, &due, `SELECT clientmsgid FROM notice_mass_batches WHERE
			(state = 'pending' AND due_at <= ?) OR (state = 'sending' AND due_at < ?) ORDER BY due_at LIMIT 8`, now, now)
		if err != nil {
			return err
		}
		for _, id := range due {
			var b struct {
				ClientMsgID string `db:"clientmsgid"`
				NoticeID    int64  `db:"notice_id"`
				Mode        string `db:"mode"`
				Attempts    int    `db:"attempts"`
			}
			q := `SELECT clientmsgid, notice_id, mode, attempts FROM notice_mass_batches WHERE clientmsgid = ?
				AND ((state = 'pending' AND due_at <= ?) OR (state = 'sending' AND due_at < ?))`
			if s.Dialect == DialectMySQL {
				q += " FOR UPDATE SKIP LOCKED"
			}
			if err := tx.GetContext(ctx, &b, q, id, now, now); errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return err
			}
			c = notices.MassClaim{ClientMsgID: b.ClientMsgID, NoticeID: b.NoticeID, Mode: b.Mode, Attempts: b.Attempts + 1}
			found = true
			break
		}
		if !found {
			if err := s.formMassBatch(ctx, tx, &c, &found, now, lease, month); err != nil || !found {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE notice_mass_batches SET state = 'sending', due_at = ?,
			attempts = attempts + 1, updated_at = ? WHERE clientmsgid = ?`, now.Add(lease), now, c.ClientMsgID); err != nil {
			return err
		}
		if c.Mode == notices.MassList {
			return tx.SelectContext(ctx, &c.OpenIDs, "SELECT openid FROM notice_deliveries WHERE batch = ? ORDER BY id", c.ClientMsgID)
		}
		return nil
	})
	if err != nil {
		return notices.MassClaim{}, false, fmt.Errorf("storage: claim mass batch: %w", err)
	}
	return c, found, nil
}

func (s *Store) formMassBatch(ctx context.Context, tx *sqlx.Tx, c *notices.MassClaim, found *bool, now time.Time, lease time.Duration, month string) error {
	var cands []struct {
		ID   int64  `db:"id"`
		Mode string `db:"mass_mode"`
	}
	err := tx.SelectContext(ctx, &cands, `SELECT n.id, n.mass_mode FROM notices n WHERE n.state = 'sending'
		AND n.expanded = ? AND n.mass_mode <> '' AND EXISTS (SELECT 1 FROM notice_deliveries d
		WHERE d.notice_id = n.id AND d.state = 'massq' AND d.batch IS NULL) ORDER BY n.id LIMIT 1`, true)
	if err != nil || len(cands) == 0 {
		return err
	}
	id, mode := cands[0].ID, cands[0].Mode
	var state string
	if err := tx.GetContext(ctx, &state, "SELECT state FROM notices WHERE id = ?"+s.forUpdate(), id); err != nil || state != "sending" {
		return err
	}
	limit := maxNoticeMassList
	if mode != notices.MassList {
		limit = 1 << 30 // one call reaches every follower
	}
	var rows []int64
	if err := tx.SelectContext(ctx, &rows, `SELECT id FROM notice_deliveries WHERE notice_id = ? AND state = 'massq'
		AND batch IS NULL ORDER BY id LIMIT ?`, id, limit); err != nil || len(rows) == 0 {
		return err
	}
	if mode == notices.MassList && len(rows) == 1 {
		_, err := tx.ExecContext(ctx, "UPDATE notice_deliveries SET state = 'pending', due_at = ?, updated_at = ? WHERE id = ?",
			now, now, rows[0])
		return err
	}
	// Named after its first row, the batch keeps its clientmsgid through
	// every retry, so WeChat refuses a repeat of a send that went out.
	cid := fmt.Sprintf("hb-n%d-r%d", id, rows[0])
	if _, err := tx.ExecContext(ctx, `INSERT INTO notice_mass_batches (clientmsgid, notice_id, mode, state, due_at,
		attempts, size, month, created_at, updated_at) VALUES (?, ?, ?, 'sending', ?, 1, ?, ?, ?, ?)`,
		cid, id, mode, now.Add(lease), len(rows), month, now, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET batch = ?, updated_at = ? WHERE notice_id = ?
		AND state = 'massq' AND batch IS NULL AND id <= ?`, cid, now, id, rows[len(rows)-1]); err != nil {
		return err
	}
	*c = notices.MassClaim{ClientMsgID: cid, NoticeID: id, Mode: mode, Attempts: 1}
	*found = true
	return nil
}

// RecordMassBatch records the outcome of a mass-send call: sent (its rows
// are delivered and counted against each resident's month), pending (to be
// repeated with the same clientmsgid), or failed (its rows fall back to one
// message each).
func (s *Store) RecordMassBatch(ctx context.Context, cid string, out notices.MassOutcome, now time.Time) error {
	now = now.UTC()
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var b struct {
			Mode  string `db:"mode"`
			Month string `db:"month"`
		}
		if err := tx.GetContext(ctx, &b, "SELECT mode, month FROM notice_mass_batches WHERE clientmsgid = ?", cid); err != nil {
			return err
		}
		switch out.State {
		case "sent":
			if _, err := tx.ExecContext(ctx, `UPDATE notice_mass_batches SET state = 'sent', msg_id = ?, last_error = '',
				updated_at = ? WHERE clientmsgid = ?`, noticeID(out.MsgID), now, cid); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'sent', channel = 'mass', msgid = ?,
				sent_at = ?, updated_at = ? WHERE batch = ? AND state = 'massq'`, noticeID(out.MsgID), now, now, cid); err != nil {
				return err
			}
			if b.Mode != notices.MassList {
				return nil // counted per month in the batches table
			}
			q := `INSERT INTO notice_mass_counts (openid, month, n) SELECT openid, ?, 1 FROM notice_deliveries WHERE batch = ?`
			if s.Dialect == DialectMySQL {
				q += " ON DUPLICATE KEY UPDATE n = n + 1"
			} else {
				q += " ON CONFLICT (openid, month) DO UPDATE SET n = notice_mass_counts.n + 1"
			}
			_, err := tx.ExecContext(ctx, q, b.Month, cid)
			return err
		case "pending":
			_, err := tx.ExecContext(ctx, `UPDATE notice_mass_batches SET state = 'pending', due_at = ?, last_error = ?,
				updated_at = ? WHERE clientmsgid = ?`, out.DueAt.UTC(), truncateUTF8(out.Detail, 255), now, cid)
			return err
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE notice_mass_batches SET state = 'failed', last_error = ?, updated_at = ?
				WHERE clientmsgid = ?`, truncateUTF8(out.Detail, 255), now, cid); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE notice_deliveries SET state = 'pending', batch = NULL, due_at = ?,
				updated_at = ? WHERE batch = ? AND state = 'massq'`, now, now, cid)
			return err
		}
	})
	if err != nil {
		return fmt.Errorf("storage: record mass batch %s: %w", cid, err)
	}
	return nil
}

// MassReport records WeChat's MASSSENDJOBFINISH for a mass send.
func (s *Store) MassReport(ctx context.Context, msgID int64, status string, total, filtered, sent, errs int64, now time.Time) error {
	_, err := s.exec(ctx, `UPDATE notice_mass_batches SET report = ?, total = ?, filtered = ?, sent = ?, errors = ?,
		updated_at = ? WHERE msg_id = ?`, truncateUTF8(status, 64), total, filtered, sent, errs, now.UTC(), msgID)
	if err != nil {
		return fmt.Errorf("storage: mass report: %w", err)
	}
	return nil
}

// NoticeProgress counts a notice's deliveries by state, channel and reason.
func (s *Store) NoticeProgress(ctx context.Context, id int64) (notices.Progress, error) {
	p := notices.Progress{ByChannel: map[string]int{}, ByReason: map[string]int{}}
	var rows []struct {
		State   string `db:"state"`
		Channel string `db:"channel"`
		Reason  string `db:"reason"`
		N       int    `db:"n"`
	}
	err := s.DB.SelectContext(ctx, &rows, `SELECT state, channel, reason, COUNT(*) AS n FROM notice_deliveries
		WHERE notice_id = ? GROUP BY state, channel, reason`, id)
	if err != nil {
		return p, fmt.Errorf("storage: notice progress: %w", err)
	}
	for _, r := range rows {
		p.Recipients += r.N
		switch r.State {
		case notices.RowSent:
			p.Delivered += r.N
			p.ByChannel[r.Channel] += r.N
			if r.Reason == notices.ReasonUnconfirmed {
				p.Unconfirmed += r.N
			}
		case notices.RowFailed:
			p.Failed += r.N
			p.ByReason[r.Reason] += r.N
		case notices.RowCancelled:
			p.Cancelled += r.N
		default:
			p.Pending += r.N
		}
	}
	var batches []struct {
		ClientMsgID string        `db:"clientmsgid"`
		Mode        string        `db:"mode"`
		State       string        `db:"state"`
		MsgID       sql.NullInt64 `db:"msg_id"`
		Size        int           `db:"size"`
		Total       int64         `db:"total"`
		Filtered    int64         `db:"filtered"`
		Sent        int64         `db:"sent"`
		Errors      int64         `db:"errors"`
	}
	err = s.DB.SelectContext(ctx, &batches, `SELECT clientmsgid, mode, state, msg_id, size, total, filtered, sent, errors
		FROM notice_mass_batches WHERE notice_id = ? ORDER BY created_at, clientmsgid`, id)
	if err != nil {
		return p, fmt.Errorf("storage: notice progress: %w", err)
	}
	for _, b := range batches {
		p.Mass = append(p.Mass, notices.MassBatch{ClientMsgID: b.ClientMsgID, Mode: b.Mode, State: b.State,
			MsgID: b.MsgID.Int64, Size: b.Size, Total: b.Total, Filter: b.Filtered, Sent: b.Sent, Errors: b.Errors})
	}
	return p, nil
}

// InForce lists the notices in force now, newest first: for a resident
// (openid set), the all-followers ones and those sent to them; for the CAP
// feed (openid ""), all of them. warningsOnly leaves ordinary notices out.
func (s *Store) InForce(ctx context.Context, now time.Time, openid string, warningsOnly bool, limit int) ([]notices.Notice, error) {
	now = now.UTC()
	q := "SELECT " + noticeCols + ` FROM notices n WHERE n.state IN ('sending', 'sent') AND n.superseded_by IS NULL
		AND n.valid_from <= ? AND n.valid_until > ?`
	args := []any{now, now}
	if warningsOnly {
		q += " AND n.kind = 'warning'"
	}
	if openid != "" {
		q += ` AND (n.audience_kind = 'all' OR EXISTS (SELECT 1 FROM notice_deliveries d
			WHERE d.notice_id = n.id AND d.openid = ?))`
		args = append(args, openid)
	}
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY n.published_at DESC, n.id DESC LIMIT ?"
	out, err := s.selectNotices(ctx, s.DB, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("storage: notices in force: %w", err)
	}
	return out, nil
}

// Chain returns the messages a notice updates or lifts, oldest first.
func (s *Store) Chain(ctx context.Context, id int64) ([]notices.Notice, error) {
	n, err := s.GetNotice(ctx, id)
	if err != nil {
		return nil, err
	}
	var chain []notices.Notice
	for ref := n.Refs; ref != 0 && len(chain) < 50; {
		r, err := s.GetNotice(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("storage: chain of notice %d: %w", id, err)
		}
		chain = append([]notices.Notice{r}, chain...)
		ref = r.Refs
	}
	return chain, nil
}

// NoticesMuted reports whether the resident muted ordinary notices.
func (s *Store) NoticesMuted(ctx context.Context, openid string) (bool, error) {
	var muted bool
	err := s.DB.GetContext(ctx, &muted, "SELECT muted FROM notice_prefs WHERE openid = ?", openid)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: notice settings: %w", err)
	}
	return muted, nil
}

// SetNoticesMuted records the resident's choice under 通知设置.
func (s *Store) SetNoticesMuted(ctx context.Context, openid string, muted bool, at time.Time) error {
	if err := checkOpenID(openid); err != nil {
		return fmt.Errorf("storage: set notice settings: %w", err)
	}
	q := "INSERT INTO notice_prefs (openid, muted, updated_at) VALUES (?, ?, ?)"
	if s.Dialect == DialectMySQL {
		q += " ON DUPLICATE KEY UPDATE muted = VALUES(muted), updated_at = VALUES(updated_at)"
	} else {
		q += " ON CONFLICT (openid) DO UPDATE SET muted = excluded.muted, updated_at = excluded.updated_at"
	}
	if _, err := s.exec(ctx, q, openid, muted, at.UTC()); err != nil {
		return fmt.Errorf("storage: set notice settings: %w", err)
	}
	return nil
}

// NoticeStaff says whether a WeChat account belongs to staff who may act on
// notices: a console account bound to it (and not disabled), or a follower
// given users.role = 'staff', who counts as street staff.
func (s *Store) NoticeStaff(ctx context.Context, openid string) (notices.Staff, bool, error) {
	st, err := s.StaffByOpenID(ctx, openid)
	switch {
	case err == nil:
		// The console account decides, also when it is disabled or
		// read-only: binding set users.role = 'staff' as well.
		if st.Disabled || st.Role == hazardbot.RoleViewer {
			return notices.Staff{}, false, nil
		}
		name := st.Name
		if name == "" {
			name = st.Username
		}
		return notices.Staff{ID: "staff:" + st.Username, Name: name, Role: st.Role, CommunityID: st.CommunityID}, true, nil
	case !errors.Is(err, ErrNotFound):
		return notices.Staff{}, false, err
	}
	u, err := s.GetUser(ctx, openid)
	if errors.Is(err, ErrNotFound) {
		return notices.Staff{}, false, nil
	}
	if err != nil {
		return notices.Staff{}, false, err
	}
	if u.Role != RoleStaff {
		return notices.Staff{}, false, nil
	}
	return notices.Staff{ID: "wechat:" + openid, Name: "工作人员（微信）", Role: hazardbot.RoleStreet}, true, nil
}
