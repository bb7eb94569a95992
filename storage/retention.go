package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// Data retention: a report finished (closed, rejected or marked duplicate)
// long enough ago keeps what it says about the hazard and loses what it says
// about people.
//
//   - Kept: category, description and address (with phone numbers, e-mail
//     addresses and ID numbers in them masked), the exact location, the
//     photos, the timeline and staff notes, the times. The location and the
//     photos describe the hazard, not the reporter, and hot-spot statistics
//     and later inspections need them; once the link to the reporter is gone
//     they no longer say who reported.
//   - Replaced: the reporter's openid, by a pseudonym of the report
//     ("anon:r42"), not of the person, so anonymised reports cannot be put
//     back together into one resident's history; followers' openids and the
//     openids in the delivery records likewise ("anon:r42:f1", "anon:r42:n7").
//   - Removed: the phone number, the Open311 reporter contact (e-mail, names,
//     device and account ids), the WeChat media ids and picture URLs of the
//     photos (expired after three days anyway), and the finished status
//     notification jobs, whose payloads and keys name the recipients.
//
// The audit log is append-only and is not touched: it records who looked at
// what, which the sub-district must be able to show.

// RetentionCandidate is a finished report retention would anonymise, with
// what personal data it still holds — never the data itself, so a dry run
// can list it.
type RetentionCandidate struct {
	ReportID      int64
	Ticket        string
	Status        hazardbot.Status
	Source        string
	FinishedAt    time.Time // when it last changed, in UTC
	Phone         bool      // a phone number is stored
	Followers     int
	Notifications int  // delivery records naming a resident
	Contact       bool // an Open311 reporter contact is stored
	Media         int  // photos still carrying WeChat media ids or URLs
	MaskedText    bool // the description or address holds contact details to mask
}

// Changes lists in words what anonymising the report changes.
func (c RetentionCandidate) Changes() []string {
	out := []string{"openid→" + reportPseudonym(c.ReportID)}
	if c.Phone {
		out = append(out, "phone removed")
	}
	if c.Contact {
		out = append(out, "Open311 contact removed")
	}
	if c.Followers > 0 {
		out = append(out, fmt.Sprintf("%d follower(s) pseudonymised", c.Followers))
	}
	if c.Notifications > 0 {
		out = append(out, fmt.Sprintf("%d delivery record(s) pseudonymised", c.Notifications))
	}
	if c.Media > 0 {
		out = append(out, fmt.Sprintf("%d photo media id(s) removed", c.Media))
	}
	if c.MaskedText {
		out = append(out, "contact details in the text masked")
	}
	return out
}

func reportPseudonym(id int64) string { return fmt.Sprintf("%sr%d", hazardbot.PseudonymPrefix, id) }

var finishedStatuses = []any{string(hazardbot.StatusClosed), string(hazardbot.StatusRejected), string(hazardbot.StatusDuplicate)}

type candidateRow struct {
	ID            int64     `db:"id"`
	Ticket        string    `db:"ticket"`
	Status        string    `db:"status"`
	Source        string    `db:"source"`
	UpdatedAt     time.Time `db:"updated_at"`
	Phone         string    `db:"phone"`
	Description   string    `db:"description"`
	Address       string    `db:"address"`
	Followers     int       `db:"followers"`
	Notifications int       `db:"notifications"`
	Contact       int       `db:"contact"`
	Media         int       `db:"media"`
}

// RetentionCandidates lists up to limit reports finished before `before`
// that still hold personal data, the longest finished first.
func (s *Store) RetentionCandidates(ctx context.Context, before time.Time, limit int) ([]RetentionCandidate, error) {
	return s.retentionCandidates(ctx, s.DB, before, limit, "")
}

func (s *Store) retentionCandidates(ctx context.Context, q sqlx.QueryerContext, before time.Time, limit int, extra string, args ...any) ([]RetentionCandidate, error) {
	query, inArgs, err := sqlx.In(`SELECT r.id, r.ticket, r.status, r.source, r.updated_at, r.phone, r.description, r.address,
		(SELECT COUNT(*) FROM report_followers f WHERE f.report_id = r.id) AS followers,
		(SELECT COUNT(*) FROM notifications n JOIN report_events e ON e.id = n.event_id
			WHERE e.report_id = r.id AND n.openid NOT LIKE ?) AS notifications,
		(SELECT COUNT(*) FROM open311_requests o WHERE o.report_id = r.id AND (o.email <> '' OR o.first_name <> ''
			OR o.last_name <> '' OR o.device_id <> '' OR o.account_id <> '')) AS contact,
		(SELECT COUNT(*) FROM report_photos p WHERE p.report_id = r.id AND (p.media_id <> '' OR p.pic_url <> '')) AS media
		FROM reports r WHERE r.status IN (?) AND r.updated_at < ? AND r.openid NOT LIKE ?`+extra+`
		ORDER BY r.updated_at, r.id LIMIT ?`,
		append([]any{hazardbot.PseudonymPrefix + "%", finishedStatuses, before.UTC(), hazardbot.PseudonymPrefix + "%"},
			append(args, limit)...)...)
	if err != nil {
		return nil, fmt.Errorf("storage: retention candidates: %w", err)
	}
	var rows []candidateRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, inArgs...); err != nil {
		return nil, fmt.Errorf("storage: retention candidates: %w", err)
	}
	out := make([]RetentionCandidate, len(rows))
	for i, r := range rows {
		out[i] = RetentionCandidate{ReportID: r.ID, Ticket: r.Ticket, Status: hazardbot.Status(r.Status), Source: r.Source,
			FinishedAt: r.UpdatedAt.UTC(), Phone: r.Phone != "", Followers: r.Followers, Notifications: r.Notifications,
			Contact: r.Contact > 0, Media: r.Media,
			MaskedText: hazardbot.MaskContacts(r.Description) != r.Description || hazardbot.MaskContacts(r.Address) != r.Address}
	}
	return out, nil
}

// AnonymiseFinished anonymises up to limit reports finished before `before`
// (see the top of this file for what changes), each in its own transaction
// with an audit entry, and returns the tickets it changed. Running it again
// finds nothing to do: anonymised reports carry a pseudonym.
func (s *Store) AnonymiseFinished(ctx context.Context, before, now time.Time, limit int) ([]string, error) {
	cands, err := s.RetentionCandidates(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, c := range cands {
		changed, err := s.anonymise(ctx, c.ReportID, before, now)
		if err != nil {
			return done, fmt.Errorf("storage: anonymise %s: %w", c.Ticket, err)
		}
		if changed {
			done = append(done, c.Ticket)
		}
	}
	return done, nil
}

// anonymise anonymises one report if it is still a candidate (a staff member
// may have reopened it since it was listed); it reports whether it did.
func (s *Store) anonymise(ctx context.Context, id int64, before, now time.Time) (bool, error) {
	changed := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		cands, err := s.retentionCandidates(ctx, tx, before, 1, " AND r.id = ?", id)
		if err != nil || len(cands) == 0 {
			return err
		}
		c := cands[0]
		var text struct {
			Description string `db:"description"`
			Address     string `db:"address"`
		}
		if err := tx.GetContext(ctx, &text, "SELECT description, address FROM reports WHERE id = ?", id); err != nil {
			return err
		}
		// The conditions are checked again by the update itself, which reads
		// the row as committed: a staff member may have reopened it meanwhile.
		// updated_at stays: it is when the report was finished, which Open311
		// returns as the closing date.
		q, args, err := sqlx.In(`UPDATE reports SET openid = ?, phone = '', anonymous = TRUE, description = ?, address = ?
			WHERE id = ? AND status IN (?) AND updated_at < ? AND openid NOT LIKE ?`,
			reportPseudonym(id), hazardbot.MaskContacts(text.Description), truncateUTF8(hazardbot.MaskContacts(text.Address), 255),
			id, finishedStatuses, before.UTC(), hazardbot.PseudonymPrefix+"%")
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		if err := pseudonymiseRows(ctx, tx, "SELECT openid FROM report_followers WHERE report_id = ? ORDER BY created_at, openid",
			"UPDATE report_followers SET openid = ? WHERE report_id = ? AND openid = ?", id,
			func(i int, _ string) string { return fmt.Sprintf("%s:f%d", reportPseudonym(id), i+1) }); err != nil {
			return err
		}
		var notes []struct {
			ID     int64  `db:"id"`
			OpenID string `db:"openid"`
		}
		if err := tx.SelectContext(ctx, &notes, `SELECT n.id, n.openid FROM notifications n JOIN report_events e ON e.id = n.event_id
			WHERE e.report_id = ? AND n.openid NOT LIKE ?`, id, hazardbot.PseudonymPrefix+"%"); err != nil {
			return err
		}
		for _, n := range notes {
			if _, err := tx.ExecContext(ctx, "UPDATE notifications SET openid = ? WHERE id = ?",
				fmt.Sprintf("%s:n%d", reportPseudonym(id), n.ID), n.ID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE open311_requests SET email = '', first_name = '', last_name = '',
			device_id = '', account_id = '' WHERE report_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE report_photos SET media_id = '', pic_url = '' WHERE report_id = ?", id); err != nil {
			return err
		}
		var events []int64
		if err := tx.SelectContext(ctx, &events, "SELECT id FROM report_events WHERE report_id = ?", id); err != nil {
			return err
		}
		for _, ev := range events {
			// Finished jobs only: a pending one still has work to do.
			if _, err := tx.ExecContext(ctx, "DELETE FROM jobs WHERE kind = ? AND status IN ('done', 'dead') AND dedup_key LIKE ?",
				hazardbot.JobNotifyStatus, fmt.Sprintf("notify:%d:%%", ev)); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject_type, subject_id, detail)
			VALUES (?, 'system', 'retention.anonymise', 'report', ?, ?)`, now.UTC(), c.Ticket,
			fmt.Sprintf("finished %s; %v", c.FinishedAt.Format(time.RFC3339), c.Changes())); err != nil {
			return err
		}
		changed = true
		return nil
	})
	return changed, err
}

// pseudonymiseRows renames each openid a query lists to the name pick gives
// it; the rename goes row by row because the new names differ per row and
// the two dialects concatenate strings differently.
func pseudonymiseRows(ctx context.Context, tx *sqlx.Tx, list, update string, id int64, pick func(i int, old string) string) error {
	var olds []string
	if err := tx.SelectContext(ctx, &olds, list, id); err != nil {
		return err
	}
	for i, old := range olds {
		if hazardbot.IsPseudonym(old) {
			continue
		}
		if _, err := tx.ExecContext(ctx, update, pick(i, old), id, old); err != nil {
			return err
		}
	}
	return nil
}
