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

// ErrInsufficientPoints means an entry would take a balance below zero;
// nothing was written.
var ErrInsufficientPoints = errors.New("storage: not enough points")

// Award adds one entry to the points ledger. It reports false, writing
// nothing, when an entry with the same key exists: an award event delivered
// twice counts once. The balance is locked in the same transaction and never
// goes below zero (ErrInsufficientPoints).
func (s *Store) Award(ctx context.Context, a hazardbot.Award) (bool, error) {
	if err := checkOpenID(a.OpenID); err != nil {
		return false, fmt.Errorf("storage: award: %w", err)
	}
	if a.Key == "" || len(a.Key) > 191 || a.Points == 0 {
		return false, fmt.Errorf("storage: award: need a key of 1-191 bytes and non-zero points")
	}
	added := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var seen int
		if err := tx.GetContext(ctx, &seen, "SELECT COUNT(*) FROM points_ledger WHERE idem_key = ?", a.Key); err != nil {
			return err
		}
		if seen > 0 {
			return nil
		}
		ins := "INSERT INTO points_balances (openid, balance) VALUES (?, 0)"
		if s.Dialect == DialectSQLite {
			ins += " ON CONFLICT DO NOTHING"
		} else {
			ins = "INSERT IGNORE INTO points_balances (openid, balance) VALUES (?, 0)"
		}
		if _, err := tx.ExecContext(ctx, ins, a.OpenID); err != nil {
			return err
		}
		var balance int
		if err := tx.GetContext(ctx, &balance, "SELECT balance FROM points_balances WHERE openid = ?"+s.forUpdate(), a.OpenID); err != nil {
			return err
		}
		if balance+a.Points < 0 {
			return ErrInsufficientPoints
		}
		balance += a.Points
		if _, err := tx.ExecContext(ctx, "UPDATE points_balances SET balance = ? WHERE openid = ?", balance, a.OpenID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO points_ledger (openid, delta, balance, reason, source_type, source_id, idem_key, at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.OpenID, a.Points, balance, truncateUTF8(a.Reason, 255), a.SourceType,
			truncateUTF8(a.SourceID, 64), a.Key, a.At.UTC())
		added = err == nil
		return err
	})
	switch {
	case isDuplicate(err):
		return false, nil // a concurrent delivery of the same event won
	case errors.Is(err, ErrInsufficientPoints):
		return false, ErrInsufficientPoints
	case err != nil:
		return false, fmt.Errorf("storage: award: %w", err)
	}
	return added, nil
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

// Ledger lists a resident's latest entries, newest first.
func (s *Store) Ledger(ctx context.Context, openid string, limit int) ([]LedgerEntry, error) {
	var out []LedgerEntry
	err := s.DB.SelectContext(ctx, &out, `SELECT id, openid, delta, balance, reason, source_type, source_id, at
		FROM points_ledger WHERE openid = ? ORDER BY id DESC LIMIT ?`, openid, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: ledger: %w", err)
	}
	return out, nil
}
