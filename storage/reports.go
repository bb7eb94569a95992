package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// ErrConflict means the row changed since the caller read it (another staff
// member acted first); nothing was written.
var ErrConflict = errors.New("storage: changed meanwhile")

type reportRow struct {
	ID          int64           `db:"id"`
	Ticket      string          `db:"ticket"`
	OpenID      string          `db:"openid"`
	Source      string          `db:"source"`
	Category    string          `db:"category"`
	Description string          `db:"description"`
	Lat         sql.NullFloat64 `db:"lat"`
	Lng         sql.NullFloat64 `db:"lng"`
	CoordSys    string          `db:"coord_sys"`
	Address     string          `db:"address"`
	CommunityID string          `db:"community_id"`
	GridID      string          `db:"grid_id"`
	Phone       string          `db:"phone"`
	Anonymous   bool            `db:"anonymous"`
	Urgent      bool            `db:"urgent"`
	Status      string          `db:"status"`
	RiskLevel   string          `db:"risk_level"`
	CreatedAt   time.Time       `db:"created_at"`
	UpdatedAt   time.Time       `db:"updated_at"`
	Followers   int             `db:"followers"`
}

const reportCols = `r.id, r.ticket, r.openid, r.source, r.category, r.description, r.lat, r.lng, r.coord_sys,
	r.address, r.community_id, r.grid_id, r.phone, r.anonymous, r.urgent, r.status, r.risk_level,
	r.created_at, r.updated_at,
	(SELECT COUNT(*) FROM report_followers f WHERE f.report_id = r.id) AS followers`

func (r reportRow) report() hazardbot.Report {
	return hazardbot.Report{
		ID: r.ID, Ticket: r.Ticket, OpenID: r.OpenID, Source: r.Source, Category: r.Category,
		Description: r.Description, HasLocation: r.Lat.Valid && r.Lng.Valid, Lat: r.Lat.Float64, Lng: r.Lng.Float64,
		CoordSys: r.CoordSys, Address: r.Address, CommunityID: r.CommunityID, GridID: r.GridID, Phone: r.Phone,
		Anonymous: r.Anonymous, Urgent: r.Urgent, Status: hazardbot.Status(r.Status), RiskLevel: r.RiskLevel,
		Followers: r.Followers, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func nullFloat(ok bool, f float64) sql.NullFloat64 { return sql.NullFloat64{Float64: f, Valid: ok} }

// SubmitReport stores a new report with its photos, the first entry of its
// timeline and the jobs that fetch its photos, all in one transaction. key
// makes it idempotent: submitting the same key again returns the report
// stored the first time. r gets its ID, Ticket, Status and times.
func (s *Store) SubmitReport(ctx context.Context, r *hazardbot.Report, key string, now time.Time) error {
	if err := checkOpenID(r.OpenID); err != nil {
		return fmt.Errorf("storage: submit report: %w", err)
	}
	if key == "" || len(key) > 128 {
		return fmt.Errorf("storage: submit report: invalid key")
	}
	now = now.UTC()
	if existing, err := s.reportBy(ctx, s.DB, "r.submit_key = ?", key); err == nil {
		*r = existing
		return nil
	}
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		day := hazardbot.Day(now)
		upsert := "INSERT INTO ticket_counters (day, n) VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1"
		if s.Dialect == DialectSQLite {
			upsert = "INSERT INTO ticket_counters (day, n) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET n = n + 1"
		}
		if _, err := tx.ExecContext(ctx, upsert, day); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, "SELECT n FROM ticket_counters WHERE day = ?", day); err != nil {
			return err
		}
		r.Ticket = hazardbot.Ticket(now, n)
		r.Status = hazardbot.StatusPending
		r.CoordSys = hazardbot.CoordGCJ02
		if r.Source == "" {
			r.Source = "wechat"
		}
		r.CreatedAt, r.UpdatedAt = now, now
		res, err := tx.ExecContext(ctx, `INSERT INTO reports (ticket, submit_key, openid, source, category, description,
			lat, lng, coord_sys, address, community_id, grid_id, phone, anonymous, urgent, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Ticket, key, r.OpenID, r.Source, r.Category, r.Description, nullFloat(r.HasLocation, r.Lat),
			nullFloat(r.HasLocation, r.Lng), r.CoordSys, truncateUTF8(r.Address, 255), r.CommunityID, r.GridID,
			r.Phone, r.Anonymous, r.Urgent, string(r.Status), now, now)
		if err != nil {
			return err
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for i := range r.Photos {
			p := &r.Photos[i]
			p.ReportID, p.Seq, p.Status = r.ID, i+1, hazardbot.PhotoPending
			res, err := tx.ExecContext(ctx, `INSERT INTO report_photos (report_id, seq, media_id, pic_url, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, p.Seq, p.MediaID, truncateUTF8(p.PicURL, 1024), p.Status, now, now)
			if err != nil {
				return err
			}
			if p.ID, err = res.LastInsertId(); err != nil {
				return err
			}
			if err := EnqueueTx(ctx, tx, s.Dialect, hazardbot.JobFetchPhoto, fmt.Sprintf("photo:%d", p.ID),
				hazardbot.FetchPhoto{PhotoID: p.ID}, now); err != nil {
				return err
			}
		}
		_, err = s.addEvent(ctx, tx, hazardbot.Event{ReportID: r.ID, At: now, Actor: "resident", To: r.Status, Public: true})
		return err
	})
	if isDuplicate(err) {
		// The same submission won a race with us.
		existing, gerr := s.reportBy(ctx, s.DB, "r.submit_key = ?", key)
		if gerr == nil {
			*r = existing
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("storage: submit report: %w", err)
	}
	return nil
}

func (s *Store) addEvent(ctx context.Context, tx *sqlx.Tx, e hazardbot.Event) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO report_events (report_id, at, actor, from_status, to_status, note, public)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, e.ReportID, e.At.UTC(), e.Actor, string(e.From), string(e.To), e.Note, e.Public)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *Store) reportBy(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (hazardbot.Report, error) {
	var row reportRow
	err := sqlx.GetContext(ctx, q, &row, "SELECT "+reportCols+" FROM reports r WHERE "+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Report{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Report{}, fmt.Errorf("storage: get report: %w", err)
	}
	r := row.report()
	if r.Photos, err = s.photos(ctx, q, r.ID); err != nil {
		return hazardbot.Report{}, err
	}
	return r, nil
}

// Report returns a report with its photos.
func (s *Store) Report(ctx context.Context, id int64) (hazardbot.Report, error) {
	return s.reportBy(ctx, s.DB, "r.id = ?", id)
}

// ReportByTicket returns a report with its photos.
func (s *Store) ReportByTicket(ctx context.Context, ticket string) (hazardbot.Report, error) {
	return s.reportBy(ctx, s.DB, "r.ticket = ?", strings.ToUpper(ticket))
}

type photoRow struct {
	ID       int64  `db:"id"`
	ReportID int64  `db:"report_id"`
	Seq      int    `db:"seq"`
	MediaID  string `db:"media_id"`
	PicURL   string `db:"pic_url"`
	Status   string `db:"status"`
	SHA256   string `db:"sha256"`
	Size     int64  `db:"size"`
	Path     string `db:"path"`
}

const photoCols = "id, report_id, seq, media_id, pic_url, status, sha256, size, path"

func (p photoRow) photo() hazardbot.Photo {
	return hazardbot.Photo{ID: p.ID, ReportID: p.ReportID, Seq: p.Seq, MediaID: p.MediaID, PicURL: p.PicURL,
		Status: p.Status, SHA256: p.SHA256, Size: p.Size, Path: p.Path}
}

func (s *Store) photos(ctx context.Context, q sqlx.QueryerContext, reportID int64) ([]hazardbot.Photo, error) {
	var rows []photoRow
	if err := sqlx.SelectContext(ctx, q, &rows, "SELECT "+photoCols+" FROM report_photos WHERE report_id = ? ORDER BY seq", reportID); err != nil {
		return nil, fmt.Errorf("storage: photos: %w", err)
	}
	out := make([]hazardbot.Photo, len(rows))
	for i, r := range rows {
		out[i] = r.photo()
	}
	return out, nil
}

// Photo returns one photo.
func (s *Store) Photo(ctx context.Context, id int64) (hazardbot.Photo, error) {
	var row photoRow
	err := s.DB.GetContext(ctx, &row, "SELECT "+photoCols+" FROM report_photos WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Photo{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Photo{}, fmt.Errorf("storage: photo: %w", err)
	}
	return row.photo(), nil
}

// SetPhotoStored records a fetched photo's file.
func (s *Store) SetPhotoStored(ctx context.Context, id int64, sha string, size int64, path string, now time.Time) error {
	_, err := s.exec(ctx, `UPDATE report_photos SET status = ?, sha256 = ?, size = ?, path = ?, updated_at = ? WHERE id = ?`,
		hazardbot.PhotoStored, sha, size, path, now.UTC(), id)
	if err != nil {
		return fmt.Errorf("storage: photo stored: %w", err)
	}
	return nil
}

// SetPhotoLost marks a photo WeChat could not give us; it reports whether
// this call made the change (so the reporter is told once).
func (s *Store) SetPhotoLost(ctx context.Context, id int64, now time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE report_photos SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		hazardbot.PhotoLost, now.UTC(), id, hazardbot.PhotoPending)
	if err != nil {
		return false, fmt.Errorf("storage: photo lost: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReportsFor lists the reports a resident filed or follows, newest first.
// The two halves are read apart, each through its own index: one query with
// "openid = ? OR id IN (…)" can use neither and reads the whole table.
func (s *Store) ReportsFor(ctx context.Context, openid string, limit int) ([]hazardbot.Report, error) {
	var ids []int64
	if err := s.DB.SelectContext(ctx, &ids, "SELECT id FROM reports WHERE openid = ? ORDER BY created_at DESC, id DESC LIMIT ?",
		openid, limit); err != nil {
		return nil, fmt.Errorf("storage: reports for resident: %w", err)
	}
	var followed []int64
	if err := s.DB.SelectContext(ctx, &followed, "SELECT report_id FROM report_followers WHERE openid = ? ORDER BY created_at DESC LIMIT ?",
		openid, limit); err != nil {
		return nil, fmt.Errorf("storage: reports for resident: %w", err)
	}
	ids = append(ids, followed...)
	if len(ids) == 0 {
		return nil, nil
	}
	q, args, err := sqlx.In("SELECT "+reportCols+" FROM reports r WHERE r.id IN (?) ORDER BY r.created_at DESC, r.id DESC LIMIT ?", ids, limit)
	if err != nil {
		return nil, err
	}
	var rows []reportRow
	if err := s.DB.SelectContext(ctx, &rows, s.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("storage: reports for resident: %w", err)
	}
	out := make([]hazardbot.Report, len(rows))
	for i, r := range rows {
		out[i] = r.report()
	}
	return out, nil
}

// CountReportsSince counts the reports a resident filed since a time.
func (s *Store) CountReportsSince(ctx context.Context, openid string, since time.Time) (int, error) {
	var n int
	err := s.DB.GetContext(ctx, &n, "SELECT COUNT(*) FROM reports WHERE openid = ? AND created_at >= ?", openid, since.UTC())
	if err != nil {
		return 0, fmt.Errorf("storage: count reports: %w", err)
	}
	return n, nil
}

// NearbyOpen finds open reports of a category within radius metres of a
// point, filed since a time, nearest first.
func (s *Store) NearbyOpen(ctx context.Context, category string, lat, lng, radius float64, since time.Time) ([]hazardbot.Report, error) {
	dLat := radius / 111320
	dLng := radius / (111320 * math.Max(math.Cos(lat*math.Pi/180), 0.01))
	var rows []reportRow
	err := s.DB.SelectContext(ctx, &rows, "SELECT "+reportCols+` FROM reports r
		WHERE r.category = ? AND r.status IN (?, ?, ?, ?, ?) AND r.lat BETWEEN ? AND ? AND r.lng BETWEEN ? AND ?
		AND r.created_at >= ? LIMIT 200`,
		category, hazardbot.StatusPending, hazardbot.StatusVerified, hazardbot.StatusAssigned, hazardbot.StatusFixing,
		hazardbot.StatusReview, lat-dLat, lat+dLat, lng-dLng, lng+dLng, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("storage: nearby reports: %w", err)
	}
	var out []hazardbot.Report
	for _, row := range rows {
		r := row.report()
		if hazardbot.Distance(lat, lng, r.Lat, r.Lng) <= radius {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return hazardbot.Distance(lat, lng, out[i].Lat, out[i].Lng) < hazardbot.Distance(lat, lng, out[j].Lat, out[j].Lng)
	})
	return out, nil
}

// FollowReport makes a resident a follower of a report, who is then told of
// its progress like the reporter. It reports whether they were added (false
// if they already follow it or filed it).
func (s *Store) FollowReport(ctx context.Context, reportID int64, openid string, now time.Time) (bool, error) {
	if err := checkOpenID(openid); err != nil {
		return false, fmt.Errorf("storage: follow report: %w", err)
	}
	q := "INSERT INTO report_followers (report_id, openid, created_at) SELECT id, ?, ? FROM reports WHERE id = ? AND openid <> ?"
	if s.Dialect == DialectSQLite {
		q += " ON CONFLICT DO NOTHING"
	}
	res, err := s.exec(ctx, q, openid, now.UTC(), reportID, openid)
	if isDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: follow report: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Followers lists the openids following a report.
func (s *Store) Followers(ctx context.Context, reportID int64) ([]string, error) {
	var out []string
	err := s.DB.SelectContext(ctx, &out, "SELECT openid FROM report_followers WHERE report_id = ? ORDER BY created_at", reportID)
	if err != nil {
		return nil, fmt.Errorf("storage: followers: %w", err)
	}
	return out, nil
}

type eventRow struct {
	ID       int64     `db:"id"`
	ReportID int64     `db:"report_id"`
	At       time.Time `db:"at"`
	Actor    string    `db:"actor"`
	From     string    `db:"from_status"`
	To       string    `db:"to_status"`
	Note     string    `db:"note"`
	Public   bool      `db:"public"`
}

func (e eventRow) event() hazardbot.Event {
	return hazardbot.Event{ID: e.ID, ReportID: e.ReportID, At: e.At.UTC(), Actor: e.Actor,
		From: hazardbot.Status(e.From), To: hazardbot.Status(e.To), Note: e.Note, Public: e.Public}
}

const eventCols = "id, report_id, at, actor, from_status, to_status, note, public"

// Timeline lists a report's history, oldest first; publicOnly leaves out
// staff-only entries.
func (s *Store) Timeline(ctx context.Context, reportID int64, publicOnly bool) ([]hazardbot.Event, error) {
	q := "SELECT " + eventCols + " FROM report_events WHERE report_id = ?"
	if publicOnly {
		q += " AND public = TRUE"
	}
	var rows []eventRow
	if err := s.DB.SelectContext(ctx, &rows, q+" ORDER BY id", reportID); err != nil {
		return nil, fmt.Errorf("storage: timeline: %w", err)
	}
	out := make([]hazardbot.Event, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}

// Event returns one history entry.
func (s *Store) Event(ctx context.Context, id int64) (hazardbot.Event, error) {
	var row eventRow
	err := s.DB.GetContext(ctx, &row, "SELECT "+eventCols+" FROM report_events WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Event{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Event{}, fmt.Errorf("storage: event: %w", err)
	}
	return row.event(), nil
}

// StatusChange moves a report from one status to another.
type StatusChange struct {
	ReportID int64
	From, To hazardbot.Status
	Actor    string
	Note     string
	Public   bool // residents see it and are told
	At       time.Time
}

// ChangeStatus applies a status change if the report is still in From, adds
// it to the history and, for a public change, queues a notification to the
// reporter and every follower — all in one transaction. ErrConflict means
// the report was no longer in From; nothing changed.
func (s *Store) ChangeStatus(ctx context.Context, c StatusChange) (hazardbot.Event, error) {
	ev := hazardbot.Event{ReportID: c.ReportID, At: c.At.UTC(), Actor: c.Actor, From: c.From, To: c.To, Note: c.Note, Public: c.Public}
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE reports SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
			string(c.To), ev.At, c.ReportID, string(c.From))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err == nil {
				err = ErrConflict
			}
			return err
		}
		if ev.ID, err = s.addEvent(ctx, tx, ev); err != nil {
			return err
		}
		if !c.Public {
			return nil
		}
		var reporter string
		if err := tx.GetContext(ctx, &reporter, "SELECT openid FROM reports WHERE id = ?", c.ReportID); err != nil {
			return err
		}
		var followers []string
		if err := tx.SelectContext(ctx, &followers, "SELECT openid FROM report_followers WHERE report_id = ?", c.ReportID); err != nil {
			return err
		}
		for _, openid := range append([]string{reporter}, followers...) {
			if err := EnqueueTx(ctx, tx, s.Dialect, hazardbot.JobNotifyStatus, fmt.Sprintf("notify:%d:%s", ev.ID, openid),
				hazardbot.NotifyStatus{EventID: ev.ID, OpenID: openid}, ev.At); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return ev, ErrConflict
		}
		return ev, fmt.Errorf("storage: change status: %w", err)
	}
	return ev, nil
}

// Notification outcomes.
const (
	NotifySent          = "sent"
	NotifyUndeliverable = "undeliverable"
)

// RecordNotification records how telling one resident about one event went.
func (s *Store) RecordNotification(ctx context.Context, eventID int64, openid, channel, outcome, detail string, now time.Time) error {
	q := `INSERT INTO notifications (event_id, openid, channel, outcome, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	if s.Dialect == DialectSQLite {
		q += " ON CONFLICT (event_id, openid) DO UPDATE SET channel = excluded.channel, outcome = excluded.outcome, detail = excluded.detail"
	} else {
		q += " ON DUPLICATE KEY UPDATE channel = VALUES(channel), outcome = VALUES(outcome), detail = VALUES(detail)"
	}
	if _, err := s.exec(ctx, q, eventID, openid, channel, outcome, truncateUTF8(detail, 255), now.UTC()); err != nil {
		return fmt.Errorf("storage: record notification: %w", err)
	}
	return nil
}

// Notification is the record of one resident told of one event.
type Notification struct {
	EventID int64  `db:"event_id"`
	OpenID  string `db:"openid"`
	Channel string `db:"channel"`
	Outcome string `db:"outcome"`
	Detail  string `db:"detail"`
}

// Notifications lists the delivery records of an event.
func (s *Store) Notifications(ctx context.Context, eventID int64) ([]Notification, error) {
	var out []Notification
	err := s.DB.SelectContext(ctx, &out, "SELECT event_id, openid, channel, outcome, detail FROM notifications WHERE event_id = ? ORDER BY id", eventID)
	if err != nil {
		return nil, fmt.Errorf("storage: notifications: %w", err)
	}
	return out, nil
}

// Blocked reports whether staff blocked a resident; an unknown resident is
// not blocked.
func (s *Store) Blocked(ctx context.Context, openid string) (bool, error) {
	u, err := s.GetUser(ctx, openid)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return u.Blocked, err
}
