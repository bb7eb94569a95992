package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// Cases are reports as staff manage them: the lifecycle's transitions
// applied atomically, the console's list, filters and figures, overdue
// marking and the digests sent to staff.

type caseRow struct {
	reportRow
	AssigneeType    string       `db:"assignee_type"`
	AssigneeID      string       `db:"assignee_id"`
	AssigneeName    string       `db:"assignee_name"`
	Deadline        sql.NullTime `db:"deadline"`
	Overdue         bool         `db:"overdue"`
	OverdueAt       sql.NullTime `db:"overdue_at"`
	Supervised      bool         `db:"supervised"`
	SupervisingUnit string       `db:"supervising_unit"`
	DuplicateOf     string       `db:"duplicate_of"`
	Rectification   string       `db:"rectification"`
	VerifiedAt      sql.NullTime `db:"verified_at"`
	ClosedAt        sql.NullTime `db:"closed_at"`
}

const caseCols = reportCols + `, r.assignee_type, r.assignee_id, r.assignee_name, r.deadline, r.overdue, r.overdue_at,
	r.supervised, r.supervising_unit, r.duplicate_of, COALESCE(r.rectification, '') AS rectification, r.verified_at, r.closed_at`

func (r caseRow) caseOf() hazardbot.Case {
	return hazardbot.Case{Report: r.report(), AssigneeType: r.AssigneeType, AssigneeID: r.AssigneeID,
		AssigneeName: r.AssigneeName, Deadline: utcOrZero(r.Deadline), Overdue: r.Overdue, OverdueAt: utcOrZero(r.OverdueAt),
		Supervised: r.Supervised, SupervisingUnit: r.SupervisingUnit, DuplicateOf: r.DuplicateOf,
		Rectification: r.Rectification, VerifiedAt: utcOrZero(r.VerifiedAt), ClosedAt: utcOrZero(r.ClosedAt)}
}

func (s *Store) caseBy(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (hazardbot.Case, error) {
	var row caseRow
	err := sqlx.GetContext(ctx, q, &row, "SELECT "+caseCols+" FROM reports r WHERE "+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Case{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Case{}, fmt.Errorf("storage: get case: %w", err)
	}
	c := row.caseOf()
	if c.Photos, err = s.photos(ctx, q, c.ID); err != nil {
		return hazardbot.Case{}, err
	}
	return c, nil
}

// Case returns a report with everything staff manage about it.
func (s *Store) Case(ctx context.Context, id int64) (hazardbot.Case, error) {
	return s.caseBy(ctx, s.DB, "r.id = ?", id)
}

// CaseByTicket returns a case by its ticket number.
func (s *Store) CaseByTicket(ctx context.Context, ticket string) (hazardbot.Case, error) {
	return s.caseBy(ctx, s.DB, "r.ticket = ?", strings.ToUpper(strings.TrimSpace(ticket)))
}

// CasePhoto is a rectification photo uploaded in the console.
type CasePhoto struct {
	ID         int64     `db:"id"`
	ReportID   int64     `db:"report_id"`
	EventID    int64     `db:"event_id"`
	Path       string    `db:"path"` // relative to the data directory
	SHA256     string    `db:"sha256"`
	Size       int64     `db:"size"`
	MIME       string    `db:"mime"`
	UploadedBy string    `db:"uploaded_by"`
	CreatedAt  time.Time `db:"created_at"`
}

const casePhotoCols = "id, report_id, event_id, path, sha256, size, mime, uploaded_by, created_at"

// CasePhotos lists a case's rectification photos, oldest first.
func (s *Store) CasePhotos(ctx context.Context, reportID int64) ([]CasePhoto, error) {
	var out []CasePhoto
	if err := s.DB.SelectContext(ctx, &out, "SELECT "+casePhotoCols+" FROM case_photos WHERE report_id = ? ORDER BY id", reportID); err != nil {
		return nil, fmt.Errorf("storage: case photos: %w", err)
	}
	return out, nil
}

// CasePhotoByID returns one rectification photo.
func (s *Store) CasePhotoByID(ctx context.Context, id int64) (CasePhoto, error) {
	var p CasePhoto
	err := s.DB.GetContext(ctx, &p, "SELECT "+casePhotoCols+" FROM case_photos WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("storage: case photo: %w", err)
	}
	return p, nil
}

// ApplyTransition carries out a planned transition in one transaction: the
// status moves only if the case is still in t.From (else ErrConflict and
// nothing is written — another staff member acted first); the fields the
// action sets, the history entry, an audit entry, the rectification photos'
// rows, the residents' notifications for a public action and, on
// verification, the points job all commit together.
func (s *Store) ApplyTransition(ctx context.Context, t hazardbot.Transition, photos []CasePhoto) (hazardbot.Event, error) {
	at := t.At.UTC()
	ev := hazardbot.Event{ReportID: t.ReportID, At: at, Actor: t.Actor.Label(), From: t.From, To: t.To, Note: t.Note, Public: t.Public}
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		set := []string{"status = ?", "updated_at = ?"}
		args := []any{string(t.To), at}
		where := "id = ? AND status = ?"
		switch t.Action {
		case hazardbot.ActVerify:
			set = append(set, "risk_level = ?", "category = ?", "verified_at = ?")
			args = append(args, string(t.Risk), t.Category, at)
		case hazardbot.ActDuplicate:
			set = append(set, "duplicate_of = ?")
			args = append(args, t.Target)
		case hazardbot.ActAssign:
			set = append(set, "assignee_type = ?", "assignee_id = ?", "assignee_name = ?", "deadline = ?", "overdue = FALSE")
			args = append(args, t.AssigneeType, t.AssigneeID, t.AssigneeName, t.Deadline.UTC())
			if t.AssigneeCommunity != "" {
				set = append(set, "community_id = ?")
				args = append(args, t.AssigneeCommunity)
			}
			if t.AssigneeType == hazardbot.AssignGrid {
				set = append(set, "grid_id = ?")
				args = append(args, t.AssigneeID)
			}
		case hazardbot.ActSubmit:
			set = append(set, "rectification = ?", "overdue = FALSE")
			args = append(args, t.Rectification)
		case hazardbot.ActClose:
			set = append(set, "closed_at = ?", "overdue = FALSE")
			args = append(args, at)
		case hazardbot.ActSupervise:
			set = append(set, "supervised = TRUE", "supervising_unit = ?")
			args = append(args, t.SupervisingUnit)
			where += " AND supervised = FALSE"
		}
		args = append(args, t.ReportID, string(t.From))
		res, err := tx.ExecContext(ctx, "UPDATE reports SET "+strings.Join(set, ", ")+" WHERE "+where, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrConflict
		}
		if t.Action == hazardbot.ActDuplicate {
			if err := s.mergeInto(ctx, tx, t, at); err != nil {
				return err
			}
		}
		if ev.ID, err = s.addEvent(ctx, tx, ev); err != nil {
			return err
		}
		for _, p := range photos {
			if _, err := tx.ExecContext(ctx, `INSERT INTO case_photos (report_id, event_id, path, sha256, size, mime, uploaded_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ReportID, ev.ID, p.Path, p.SHA256, p.Size, p.MIME, ev.Actor, at); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("%s: %s → %s", t.Ticket, t.From, t.To)
		if t.Note != "" {
			detail += ": " + t.Note
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject_type, subject_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			at, ev.Actor, "case."+string(t.Action), "report", fmt.Sprint(t.ReportID), truncateUTF8(detail, 1000)); err != nil {
			return err
		}
		if t.Action == hazardbot.ActVerify {
			if err := EnqueueTx(ctx, tx, s.Dialect, hazardbot.JobReportVerified, fmt.Sprintf("verified:%d", t.ReportID),
				hazardbot.ReportVerified{ReportID: t.ReportID, OpenID: t.ReporterOpenID, RiskLevel: string(t.Risk)}, at); err != nil {
				return err
			}
		}
		if t.Public {
			return s.notifyTx(ctx, tx, ev)
		}
		return nil
	})
	var ce *hazardbot.CaseError
	switch {
	case errors.Is(err, ErrConflict):
		return ev, ErrConflict
	case errors.As(err, &ce):
		return ev, ce
	case err != nil:
		return ev, fmt.Errorf("storage: apply %s to report %d: %w", t.Action, t.ReportID, err)
	}
	return ev, nil
}

// mergeInto checks the target of a duplicate and makes the merged case's
// reporter and followers followers of the target, so they hear of its
// progress from now on.
func (s *Store) mergeInto(ctx context.Context, tx *sqlx.Tx, t hazardbot.Transition, at time.Time) error {
	var target struct {
		ID     int64  `db:"id"`
		OpenID string `db:"openid"`
		Status string `db:"status"`
	}
	err := tx.GetContext(ctx, &target, "SELECT id, openid, status FROM reports WHERE ticket = ?"+s.forUpdate(), t.Target)
	if errors.Is(err, sql.ErrNoRows) {
		return &hazardbot.CaseError{Kind: hazardbot.ErrInvalid, Msg: "没有找到工单 " + t.Target}
	}
	if err != nil {
		return err
	}
	if target.ID == t.ReportID {
		return &hazardbot.CaseError{Kind: hazardbot.ErrInvalid, Msg: "不能把工单合并到它自己"}
	}
	if st := hazardbot.Status(target.Status); !st.Open() {
		return &hazardbot.CaseError{Kind: hazardbot.ErrInvalid,
			Msg: fmt.Sprintf("工单 %s 已是“%s”，请合并到仍在处理的工单", t.Target, st.Name())}
	}
	var people []string
	if err := tx.SelectContext(ctx, &people, `SELECT openid FROM reports WHERE id = ?
		UNION SELECT openid FROM report_followers WHERE report_id = ?`, t.ReportID, t.ReportID); err != nil {
		return err
	}
	ins := "INSERT INTO report_followers (report_id, openid, created_at) VALUES (?, ?, ?)"
	if s.Dialect == DialectSQLite {
		ins += " ON CONFLICT DO NOTHING"
	} else {
		ins += " ON DUPLICATE KEY UPDATE openid = openid"
	}
	for _, openid := range people {
		if openid == target.OpenID {
			continue // the target's own reporter hears anyway
		}
		if _, err := tx.ExecContext(ctx, ins, target.ID, openid, at); err != nil {
			return err
		}
	}
	return nil
}

// notifyTx queues a notification of ev to the report's reporter and each
// follower.
func (s *Store) notifyTx(ctx context.Context, tx *sqlx.Tx, ev hazardbot.Event) error {
	var people []string
	if err := tx.SelectContext(ctx, &people, `SELECT openid FROM reports WHERE id = ?
		UNION SELECT openid FROM report_followers WHERE report_id = ?`, ev.ReportID, ev.ReportID); err != nil {
		return err
	}
	for _, openid := range people {
		if err := EnqueueTx(ctx, tx, s.Dialect, hazardbot.JobNotifyStatus, fmt.Sprintf("notify:%d:%s", ev.ID, openid),
			hazardbot.NotifyStatus{EventID: ev.ID, OpenID: openid}, ev.At); err != nil {
			return err
		}
	}
	return nil
}

// CaseQuery selects cases for the console's list and the ledger export.
// Every value is bound as a placeholder; Sort is looked up in a whitelist.
type CaseQuery struct {
	Scope      string             // community staff's community; "" = every case
	Statuses   []hazardbot.Status // any of these; none = all
	Category   string
	Community  string
	Risk       hazardbot.Risk
	Overdue    bool
	Urgent     bool
	Supervised bool
	From, To   time.Time // filed in [From, To); zero = open-ended
	Text       string    // a ticket number, or words in the description or address
	Sort       string    // created (default), updated, deadline, risk, status
	Asc        bool
	Offset     int
	Limit      int // default 20, at most 10000
}

// CaseSorts are the sort keys CaseQuery accepts.
var CaseSorts = map[string]string{
	"created":  "r.created_at",
	"updated":  "r.updated_at",
	"deadline": "COALESCE(r.deadline, r.created_at)",
	"risk":     "CASE r.risk_level WHEN 'red' THEN 4 WHEN 'orange' THEN 3 WHEN 'yellow' THEN 2 WHEN 'blue' THEN 1 ELSE 0 END",
	"status": "CASE r.status WHEN 'pending' THEN 1 WHEN 'verified' THEN 2 WHEN 'assigned' THEN 3 WHEN 'fixing' THEN 4 " +
		"WHEN 'review' THEN 5 WHEN 'closed' THEN 6 WHEN 'rejected' THEN 7 ELSE 8 END",
}

// likeEscape makes text match itself in LIKE … ESCAPE '!': a resident's %
// or _ is a character, not a wildcard.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

func (q CaseQuery) where() (string, []any) {
	conds := []string{"1 = 1"}
	var args []any
	add := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	if q.Scope != "" {
		add("r.community_id = ?", q.Scope)
	}
	if len(q.Statuses) > 0 {
		marks := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			marks[i] = "?"
			args = append(args, string(st))
		}
		conds = append(conds, "r.status IN ("+strings.Join(marks, ", ")+")")
	}
	if q.Category != "" {
		add("r.category = ?", q.Category)
	}
	if q.Community != "" {
		add("r.community_id = ?", q.Community)
	}
	if q.Risk != "" {
		add("r.risk_level = ?", string(q.Risk))
	}
	if q.Overdue {
		add("r.overdue = TRUE")
	}
	if q.Urgent {
		add("r.urgent = TRUE")
	}
	if q.Supervised {
		add("r.supervised = TRUE")
	}
	if !q.From.IsZero() {
		add("r.created_at >= ?", q.From.UTC())
	}
	if !q.To.IsZero() {
		add("r.created_at < ?", q.To.UTC())
	}
	if text := strings.TrimSpace(q.Text); text != "" {
		if t := hazardbot.TicketPattern.FindString(text); t == text {
			add("r.ticket = ?", normalTicket(t))
		} else {
			like := "%" + likeEscape(text) + "%"
			add("(r.ticket LIKE ? ESCAPE '!' OR r.description LIKE ? ESCAPE '!' OR r.address LIKE ? ESCAPE '!')", like, like, like)
		}
	}
	return strings.Join(conds, " AND "), args
}

// normalTicket writes a ticket as stored: YH-20250314-0001.
func normalTicket(t string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, t)
	if len(digits) < 12 {
		return strings.ToUpper(t)
	}
	return "YH-" + digits[:8] + "-" + digits[8:]
}

// Cases lists the cases a query selects — overdue ones first, then in the
// query's order — and how many there are in all.
func (s *Store) Cases(ctx context.Context, q CaseQuery) ([]hazardbot.Case, int, error) {
	where, args := q.where()
	var total int
	if err := s.DB.GetContext(ctx, &total, "SELECT COUNT(*) FROM reports r WHERE "+where, args...); err != nil {
		return nil, 0, fmt.Errorf("storage: count cases: %w", err)
	}
	order, ok := CaseSorts[q.Sort]
	if !ok {
		order = CaseSorts["created"]
	}
	dir := " DESC"
	if q.Asc {
		dir = " ASC"
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 10000)
	query := "SELECT " + caseCols + " FROM reports r WHERE " + where +
		" ORDER BY r.overdue DESC, " + order + dir + ", r.id" + dir + " LIMIT ? OFFSET ?"
	var rows []caseRow
	if err := s.DB.SelectContext(ctx, &rows, query, append(args, limit, max(q.Offset, 0))...); err != nil {
		return nil, 0, fmt.Errorf("storage: list cases: %w", err)
	}
	out := make([]hazardbot.Case, len(rows))
	for i, r := range rows {
		out[i] = r.caseOf()
	}
	return out, total, nil
}

// openStatuses are the statuses of hazards still being handled.
var openStatuses = []any{string(hazardbot.StatusPending), string(hazardbot.StatusVerified), string(hazardbot.StatusAssigned),
	string(hazardbot.StatusFixing), string(hazardbot.StatusReview)}

const openIn = "r.status IN (?, ?, ?, ?, ?)"

// OpenCases lists the open cases in a scope ("" = all) for the risk map,
// highest risk last so that its pin is drawn on top.
func (s *Store) OpenCases(ctx context.Context, scope string) ([]hazardbot.Case, error) {
	q := "SELECT " + caseCols + " FROM reports r WHERE " + openIn
	args := append([]any{}, openStatuses...)
	if scope != "" {
		q += " AND r.community_id = ?"
		args = append(args, scope)
	}
	var rows []caseRow
	if err := s.DB.SelectContext(ctx, &rows, q+" ORDER BY r.id LIMIT 5000", args...); err != nil {
		return nil, fmt.Errorf("storage: open cases: %w", err)
	}
	out := make([]hazardbot.Case, len(rows))
	for i, r := range rows {
		out[i] = r.caseOf()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Risk().Rank() < out[j].Risk().Rank() })
	return out, nil
}

// Count is a figure under a key (a status, category, community or level).
type Count struct {
	Key   string `db:"k"`
	Total int    `db:"total"`
	Open  int    `db:"open"`
}

// DayCount is one day of the trend: reports filed and cases closed.
type DayCount struct {
	Day    string // 2006-01-02, Asia/Shanghai
	Filed  int
	Closed int
}

// CaseStats are the dashboard's figures.
type CaseStats struct {
	Total, Open, Overdue, Supervised, Urgent int
	ByStatus, ByCategory, ByCommunity        []Count
	ByRisk                                   []Count // open cases by level
	Closed                                   int
	AvgToClose                               time.Duration // filed → closed, over closed cases
	Week                                     []DayCount    // the last 7 days, oldest first
}

// Stats computes the dashboard's figures for a scope ("" = all).
func (s *Store) Stats(ctx context.Context, scope string, now time.Time) (CaseStats, error) {
	var st CaseStats
	where, args := "1 = 1", []any{}
	if scope != "" {
		where, args = "r.community_id = ?", []any{scope}
	}
	group := func(col string, dst *[]Count) error {
		q := "SELECT " + col + " AS k, COUNT(*) AS total, SUM(CASE WHEN " + openIn + " THEN 1 ELSE 0 END) AS open FROM reports r WHERE " +
			where + " GROUP BY " + col + " ORDER BY total DESC, k"
		return s.DB.SelectContext(ctx, dst, q, append(append([]any{}, openStatuses...), args...)...)
	}
	if err := group("r.status", &st.ByStatus); err != nil {
		return st, fmt.Errorf("storage: stats by status: %w", err)
	}
	if err := group("r.category", &st.ByCategory); err != nil {
		return st, fmt.Errorf("storage: stats by category: %w", err)
	}
	if err := group("r.community_id", &st.ByCommunity); err != nil {
		return st, fmt.Errorf("storage: stats by community: %w", err)
	}
	if err := group("r.risk_level", &st.ByRisk); err != nil {
		return st, fmt.Errorf("storage: stats by risk: %w", err)
	}
	for _, c := range st.ByStatus {
		st.Total += c.Total
		st.Open += c.Open
		if c.Key == string(hazardbot.StatusClosed) {
			st.Closed = c.Total
		}
	}
	var flags struct {
		Overdue    sql.NullInt64 `db:"overdue"`
		Supervised sql.NullInt64 `db:"supervised"`
		Urgent     sql.NullInt64 `db:"urgent"`
	}
	err := s.DB.GetContext(ctx, &flags, `SELECT SUM(CASE WHEN r.overdue THEN 1 ELSE 0 END) AS overdue,
		SUM(CASE WHEN r.supervised AND `+openIn+` THEN 1 ELSE 0 END) AS supervised,
		SUM(CASE WHEN r.urgent AND `+openIn+` THEN 1 ELSE 0 END) AS urgent FROM reports r WHERE `+where,
		append(append(append([]any{}, openStatuses...), openStatuses...), args...)...)
	if err != nil {
		return st, fmt.Errorf("storage: stats flags: %w", err)
	}
	st.Overdue, st.Supervised, st.Urgent = int(flags.Overdue.Int64), int(flags.Supervised.Int64), int(flags.Urgent.Int64)

	// Averages and day buckets are computed here rather than in SQL, where
	// date arithmetic differs between the dialects.
	var spans []struct {
		Created time.Time `db:"created_at"`
		Closed  NullTime  `db:"closed_at"`
	}
	if err := s.DB.SelectContext(ctx, &spans, "SELECT r.created_at, r.closed_at FROM reports r WHERE r.status = ? AND "+where,
		append([]any{string(hazardbot.StatusClosed)}, args...)...); err != nil {
		return st, fmt.Errorf("storage: stats close times: %w", err)
	}
	var sum time.Duration
	var n int
	for _, sp := range spans {
		if sp.Closed.Valid {
			sum += sp.Closed.Time.Sub(sp.Created)
			n++
		}
	}
	if n > 0 {
		st.AvgToClose = sum / time.Duration(n)
	}
	start := hazardbot.StartOfDay(now).AddDate(0, 0, -6)
	index := map[string]int{}
	for i := range 7 {
		day := hazardbot.Day(start.AddDate(0, 0, i))
		index[day] = i
		st.Week = append(st.Week, DayCount{Day: day})
	}
	var times []struct {
		Created time.Time `db:"created_at"`
		Closed  NullTime  `db:"closed_at"`
	}
	if err := s.DB.SelectContext(ctx, &times, `SELECT r.created_at, r.closed_at FROM reports r
		WHERE (r.created_at >= ? OR r.closed_at >= ?) AND `+where, append([]any{start.UTC(), start.UTC()}, args...)...); err != nil {
		return st, fmt.Errorf("storage: stats trend: %w", err)
	}
	for _, t := range times {
		if i, ok := index[hazardbot.Day(t.Created)]; ok {
			st.Week[i].Filed++
		}
		if t.Closed.Valid {
			if i, ok := index[hazardbot.Day(t.Closed.Time)]; ok {
				st.Week[i].Closed++
			}
		}
	}
	return st, nil
}

// MarkOverdue flags the cases under rectification whose deadline passed
// before now, each with a staff-only history entry, and returns them.
// Cases already flagged are left alone, so running it again is harmless.
func (s *Store) MarkOverdue(ctx context.Context, now time.Time) ([]hazardbot.Case, error) {
	now = now.UTC()
	var marked []hazardbot.Case
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var rows []caseRow
		if err := tx.SelectContext(ctx, &rows, "SELECT "+caseCols+` FROM reports r
			WHERE r.status IN (?, ?) AND r.overdue = FALSE AND r.deadline < ? ORDER BY r.deadline`+s.forUpdate(),
			string(hazardbot.StatusAssigned), string(hazardbot.StatusFixing), now); err != nil {
			return err
		}
		for _, row := range rows {
			c := row.caseOf()
			if _, err := tx.ExecContext(ctx, `UPDATE reports SET overdue = TRUE, overdue_at = COALESCE(overdue_at, ?) WHERE id = ?`,
				now, c.ID); err != nil {
				return err
			}
			note := "已超过整改期限 " + c.Deadline.In(hazardbot.Shanghai).Format("2006-01-02 15:04")
			if _, err := s.addEvent(ctx, tx, hazardbot.Event{ReportID: c.ID, At: now, Actor: "system", From: c.Status, To: c.Status,
				Note: note}); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject_type, subject_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
				now, "system", "case.overdue", "report", fmt.Sprint(c.ID), c.Ticket+": "+note); err != nil {
				return err
			}
			c.Overdue, c.OverdueAt = true, now
			marked = append(marked, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: mark overdue: %w", err)
	}
	return marked, nil
}

// DigestRecipients lists the staff who get the daily overdue digest: street
// and community staff with a bound WeChat account and an enabled login.
func (s *Store) DigestRecipients(ctx context.Context) ([]Staff, error) {
	var rows []staffRow
	err := s.DB.SelectContext(ctx, &rows, "SELECT "+staffCols+` FROM staff s
		WHERE s.openid IS NOT NULL AND s.disabled = FALSE AND s.role IN (?, ?) ORDER BY s.id`,
		string(hazardbot.RoleStreet), string(hazardbot.RoleCommunity))
	if err != nil {
		return nil, fmt.Errorf("storage: digest recipients: %w", err)
	}
	out := make([]Staff, len(rows))
	for i, r := range rows {
		out[i] = r.staff()
	}
	return out, nil
}

// Digest is the record of one staff member's daily overdue digest.
type Digest struct {
	StaffID int64  `db:"staff_id"`
	Day     string `db:"day"`
	Cases   int    `db:"cases"`
	Channel string `db:"channel"`
	Outcome string `db:"outcome"`
	Detail  string `db:"detail"`
}

// RecordDigest records how a daily digest went (the last attempt wins).
func (s *Store) RecordDigest(ctx context.Context, d Digest, now time.Time) error {
	q := `INSERT INTO staff_digests (staff_id, day, cases, channel, outcome, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	if s.Dialect == DialectSQLite {
		q += " ON CONFLICT (staff_id, day) DO UPDATE SET cases = excluded.cases, channel = excluded.channel, outcome = excluded.outcome, detail = excluded.detail"
	} else {
		q += " ON DUPLICATE KEY UPDATE cases = VALUES(cases), channel = VALUES(channel), outcome = VALUES(outcome), detail = VALUES(detail)"
	}
	if _, err := s.exec(ctx, q, d.StaffID, d.Day, d.Cases, d.Channel, d.Outcome, truncateUTF8(d.Detail, 255), now.UTC()); err != nil {
		return fmt.Errorf("storage: record digest: %w", err)
	}
	return nil
}

// Digests lists the digest records of a day.
func (s *Store) Digests(ctx context.Context, day string) ([]Digest, error) {
	var out []Digest
	err := s.DB.SelectContext(ctx, &out, "SELECT staff_id, day, cases, channel, outcome, detail FROM staff_digests WHERE day = ? ORDER BY staff_id", day)
	if err != nil {
		return nil, fmt.Errorf("storage: digests: %w", err)
	}
	return out, nil
}
