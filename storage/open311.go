package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// Open311Request is what a report filed through Open311 carries besides the
// report itself: the token, the API client that filed it and the reporter's
// contact. The contact is kept for staff; the Open311 API never returns it.
type Open311Request struct {
	ReportID  int64
	Token     string
	Client    string // the name of the API key
	Email     string
	FirstName string
	LastName  string
	DeviceID  string
	AccountID string
	MediaURL  string
	CreatedAt time.Time
}

type open311Row struct {
	ReportID  int64     `db:"report_id"`
	Token     string    `db:"token"`
	Client    string    `db:"client"`
	Email     string    `db:"email"`
	FirstName string    `db:"first_name"`
	LastName  string    `db:"last_name"`
	DeviceID  string    `db:"device_id"`
	AccountID string    `db:"account_id"`
	MediaURL  string    `db:"media_url"`
	CreatedAt time.Time `db:"created_at"`
}

// SaveOpen311Request records the Open311 side of a report and returns what
// is stored. Saving for a report that already has a record keeps the first
// one, so a retried POST gets the token it was given the first time.
func (s *Store) SaveOpen311Request(ctx context.Context, r Open311Request) (Open311Request, error) {
	if r.ReportID == 0 || r.Token == "" || len(r.Token) > 64 || r.Client == "" || len(r.Client) > 64 {
		return r, errors.New("storage: save open311 request: need a report, a token and a client of at most 64 bytes")
	}
	_, err := s.exec(ctx, s.insertIgnore(`INSERT INTO open311_requests (report_id, token, client, email, first_name,
		last_name, device_id, account_id, media_url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ReportID, r.Token, r.Client, truncateUTF8(r.Email, 255), truncateUTF8(r.FirstName, 64),
		truncateUTF8(r.LastName, 64), truncateUTF8(r.DeviceID, 128), truncateUTF8(r.AccountID, 128),
		truncateUTF8(r.MediaURL, 1024), r.CreatedAt.UTC())
	if err != nil {
		return r, fmt.Errorf("storage: save open311 request: %w", err)
	}
	var row open311Row
	err = s.DB.GetContext(ctx, &row, `SELECT report_id, token, client, email, first_name, last_name, device_id,
		account_id, media_url, created_at FROM open311_requests WHERE report_id = ?`, r.ReportID)
	if err != nil {
		return r, fmt.Errorf("storage: save open311 request: %w", err)
	}
	return Open311Request{ReportID: row.ReportID, Token: row.Token, Client: row.Client, Email: row.Email,
		FirstName: row.FirstName, LastName: row.LastName, DeviceID: row.DeviceID, AccountID: row.AccountID,
		MediaURL: row.MediaURL, CreatedAt: row.CreatedAt.UTC()}, nil
}

// ReportIDByOpen311Token resolves an Open311 token, or returns ErrNotFound.
func (s *Store) ReportIDByOpen311Token(ctx context.Context, token string) (int64, error) {
	var id int64
	err := s.DB.GetContext(ctx, &id, "SELECT report_id FROM open311_requests WHERE token = ?", token)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("storage: open311 token: %w", err)
	}
	return id, nil
}

// Open311MediaURLs returns the media_url given with each of the reports that
// came through Open311 and had one. It reads only that column: the contact
// stored beside it must never reach the API.
func (s *Store) Open311MediaURLs(ctx context.Context, reportIDs []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(reportIDs) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In("SELECT report_id, media_url FROM open311_requests WHERE media_url <> '' AND report_id IN (?)", reportIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: open311 media: %w", err)
	}
	var rows []struct {
		ReportID int64  `db:"report_id"`
		MediaURL string `db:"media_url"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("storage: open311 media: %w", err)
	}
	for _, r := range rows {
		out[r.ReportID] = r.MediaURL
	}
	return out, nil
}

// ReportQuery selects reports for a listing. Empty lists mean no
// restriction; zero times mean an open end.
type ReportQuery struct {
	Tickets    []string
	Categories []string
	Statuses   []hazardbot.Status
	From, To   time.Time // created_at, both inclusive
	Limit      int       // at most this many, newest first; required
}

// QueryReports lists the reports a query selects, newest first, without
// their photos.
func (s *Store) QueryReports(ctx context.Context, rq ReportQuery) ([]hazardbot.Report, error) {
	if rq.Limit <= 0 {
		return nil, errors.New("storage: query reports: a limit is required")
	}
	var where []string
	var args []any
	in := func(col string, vals []any) {
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")+")")
		args = append(args, vals...)
	}
	if len(rq.Tickets) > 0 {
		vals := make([]any, len(rq.Tickets))
		for i, t := range rq.Tickets {
			vals[i] = strings.ToUpper(t)
		}
		in("r.ticket", vals)
	}
	if len(rq.Categories) > 0 {
		vals := make([]any, len(rq.Categories))
		for i, c := range rq.Categories {
			vals[i] = c
		}
		in("r.category", vals)
	}
	if len(rq.Statuses) > 0 {
		vals := make([]any, len(rq.Statuses))
		for i, st := range rq.Statuses {
			vals[i] = string(st)
		}
		in("r.status", vals)
	}
	if !rq.From.IsZero() {
		where = append(where, "r.created_at >= ?")
		args = append(args, rq.From.UTC())
	}
	if !rq.To.IsZero() {
		where = append(where, "r.created_at <= ?")
		args = append(args, rq.To.UTC())
	}
	q := "SELECT " + reportCols + " FROM reports r"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY r.created_at DESC, r.id DESC LIMIT ?"
	var rows []reportRow
	if err := s.DB.SelectContext(ctx, &rows, q, append(args, rq.Limit)...); err != nil {
		return nil, fmt.Errorf("storage: query reports: %w", err)
	}
	out := make([]hazardbot.Report, len(rows))
	for i, r := range rows {
		out[i] = r.report()
	}
	return out, nil
}

// LatestPublicEvents returns the newest public timeline entry of each of the
// reports, in one query however many reports a listing holds.
func (s *Store) LatestPublicEvents(ctx context.Context, reportIDs []int64) (map[int64]hazardbot.Event, error) {
	out := map[int64]hazardbot.Event{}
	if len(reportIDs) == 0 {
		return out, nil
	}
	q, args, err := sqlx.In(`SELECT `+eventCols+` FROM report_events WHERE id IN (
		SELECT MAX(id) FROM report_events WHERE public = TRUE AND report_id IN (?) GROUP BY report_id)`, reportIDs)
	if err != nil {
		return nil, fmt.Errorf("storage: latest public events: %w", err)
	}
	var rows []eventRow
	if err := s.DB.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("storage: latest public events: %w", err)
	}
	for _, r := range rows {
		out[r.ReportID] = r.event()
	}
	return out, nil
}
