package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MarkDraft records which flow a resident has open ("" when none). The
// conversation itself lives in the session store; this durable mark lets
// the bot explain a draft lost when that store restarts empty.
func (s *Store) MarkDraft(ctx context.Context, openid, flow string, at time.Time) error {
	if err := checkOpenID(openid); err != nil {
		return fmt.Errorf("storage: mark draft: %w", err)
	}
	q := `INSERT INTO users (openid, first_seen, last_interaction, draft_flow, draft_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	if s.Dialect == DialectSQLite {
		q += " ON CONFLICT (openid) DO UPDATE SET draft_flow = excluded.draft_flow, draft_at = excluded.draft_at, updated_at = excluded.updated_at"
	} else {
		q += " ON DUPLICATE KEY UPDATE draft_flow = VALUES(draft_flow), draft_at = VALUES(draft_at), updated_at = VALUES(updated_at)"
	}
	at = at.UTC()
	if _, err := s.exec(ctx, q, openid, at, at, flow, at, at, at); err != nil {
		return fmt.Errorf("storage: mark draft: %w", err)
	}
	return nil
}

// Draft returns the flow a resident had open and since when.
func (s *Store) Draft(ctx context.Context, openid string) (string, time.Time, error) {
	var row struct {
		Flow string       `db:"draft_flow"`
		At   sql.NullTime `db:"draft_at"`
	}
	err := s.DB.GetContext(ctx, &row, "SELECT draft_flow, draft_at FROM users WHERE openid = ?", openid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("storage: draft: %w", err)
	}
	return row.Flow, row.At.Time.UTC(), nil
}
