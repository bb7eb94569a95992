package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// Volunteers, patrol points and check-ins, the rewards catalog and
// redemptions. Lock order and isolation: see points.go.

// Errors of redemptions and check-ins, checked with errors.Is.
var (
	ErrOutOfStock   = hazardbot.ErrOutOfStock
	ErrLimitReached = hazardbot.ErrLimitReached
	ErrUnavailable  = hazardbot.ErrUnavailable
	ErrHoldExpired  = errors.New("storage: hold expired")
	ErrNotDue       = errors.New("storage: hold not yet due to expire")
)

// ---- volunteers ----

type volunteerRow struct {
	ID          int64        `db:"id"`
	OpenID      string       `db:"openid"`
	Name        string       `db:"name"`
	Mobile      string       `db:"mobile"`
	CommunityID string       `db:"community_id"`
	Skills      string       `db:"skills"`
	Status      string       `db:"status"`
	Note        string       `db:"note"`
	DecidedBy   string       `db:"decided_by"`
	AppliedAt   time.Time    `db:"applied_at"`
	DecidedAt   sql.NullTime `db:"decided_at"`
}

const volunteerCols = "id, openid, name, mobile, community_id, skills, status, note, decided_by, applied_at, decided_at"

func (r volunteerRow) volunteer() hazardbot.Volunteer {
	v := hazardbot.Volunteer{ID: r.ID, OpenID: r.OpenID, Name: r.Name, Mobile: r.Mobile, CommunityID: r.CommunityID,
		Status: hazardbot.VolunteerStatus(r.Status), Note: r.Note, DecidedBy: r.DecidedBy, AppliedAt: r.AppliedAt.UTC()}
	_ = json.Unmarshal([]byte(r.Skills), &v.Skills)
	if r.DecidedAt.Valid {
		v.DecidedAt = r.DecidedAt.Time.UTC()
	}
	return v
}

func (s *Store) volunteerBy(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (hazardbot.Volunteer, error) {
	var r volunteerRow
	err := sqlx.GetContext(ctx, q, &r, "SELECT "+volunteerCols+" FROM volunteers WHERE "+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Volunteer{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Volunteer{}, fmt.Errorf("storage: volunteer: %w", err)
	}
	return r.volunteer(), nil
}

// Volunteer returns a resident's volunteer record, or ErrNotFound.
func (s *Store) Volunteer(ctx context.Context, openid string) (hazardbot.Volunteer, error) {
	return s.volunteerBy(ctx, s.DB, "openid = ?", openid)
}

// VolunteerByID returns a volunteer record, or ErrNotFound.
func (s *Store) VolunteerByID(ctx context.Context, id int64) (hazardbot.Volunteer, error) {
	return s.volunteerBy(ctx, s.DB, "id = ?", id)
}

// ApplyVolunteer records an application, or a new one from a resident who
// was declined or is still waiting; ErrConflict if they are a volunteer
// already.
func (s *Store) ApplyVolunteer(ctx context.Context, v hazardbot.Volunteer, now time.Time) (hazardbot.Volunteer, error) {
	if err := checkOpenID(v.OpenID); err != nil {
		return v, fmt.Errorf("storage: apply volunteer: %w", err)
	}
	if v.Name == "" || utf8.RuneCountInString(v.Name) > 32 || v.Mobile == "" || len(v.Mobile) > 20 || v.CommunityID == "" {
		return v, errors.New("storage: apply volunteer: need a name (≤32), a mobile and a community")
	}
	skills, err := json.Marshal(append([]string{}, v.Skills...))
	if err != nil || len(skills) > 512 {
		return v, errors.New("storage: apply volunteer: too many skills")
	}
	now = now.UTC()
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		old, err := s.volunteerBy(ctx, tx, "openid = ?"+s.forUpdate(), v.OpenID)
		switch {
		case errors.Is(err, ErrNotFound):
			_, err = tx.ExecContext(ctx, `INSERT INTO volunteers (openid, name, mobile, community_id, skills, status,
				applied_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, v.OpenID, v.Name, v.Mobile, v.CommunityID,
				string(skills), string(hazardbot.VolunteerPending), now, now)
			return err
		case err != nil:
			return err
		case old.Status == hazardbot.VolunteerApproved:
			return ErrConflict
		}
		_, err = tx.ExecContext(ctx, `UPDATE volunteers SET name = ?, mobile = ?, community_id = ?, skills = ?,
			status = ?, note = '', decided_by = '', decided_at = NULL, applied_at = ?, updated_at = ? WHERE id = ?`,
			v.Name, v.Mobile, v.CommunityID, string(skills), string(hazardbot.VolunteerPending), now, now, old.ID)
		return err
	})
	if isDuplicate(err) { // two applications raced; the other one stands
		return s.Volunteer(ctx, v.OpenID)
	}
	if errors.Is(err, ErrConflict) {
		return v, ErrConflict
	}
	if err != nil {
		return v, fmt.Errorf("storage: apply volunteer: %w", err)
	}
	return s.Volunteer(ctx, v.OpenID)
}

// VolunteerFilter narrows the console's list.
type VolunteerFilter struct {
	Status      hazardbot.VolunteerStatus // "" all
	CommunityID string                    // "" all
	Search      string                    // name or mobile
	Limit       int
	Offset      int
}

// Volunteers lists volunteer records, pending first and then the newest.
func (s *Store) Volunteers(ctx context.Context, f VolunteerFilter) ([]hazardbot.Volunteer, error) {
	q := "SELECT " + volunteerCols + " FROM volunteers WHERE 1 = 1"
	var args []any
	if f.Status != "" {
		q += " AND status = ?"
		args = append(args, string(f.Status))
	}
	if f.CommunityID != "" {
		q += " AND community_id = ?"
		args = append(args, f.CommunityID)
	}
	if t := escapeLike(strings.TrimSpace(f.Search)); t != "" {
		q += " AND (name LIKE ? OR mobile LIKE ?)"
		args = append(args, "%"+t+"%", "%"+t+"%")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q += " ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, applied_at DESC, id DESC LIMIT ? OFFSET ?"
	args = append(args, f.Limit, f.Offset)
	var rows []volunteerRow
	if err := s.DB.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("storage: volunteers: %w", err)
	}
	out := make([]hazardbot.Volunteer, len(rows))
	for i, r := range rows {
		out[i] = r.volunteer()
	}
	return out, nil
}

// VolunteerDecision is staff's decision on a volunteer.
type VolunteerDecision struct {
	OpenID    string
	Approve   bool // false declines a pending application or revokes an approved volunteer
	Actor     string
	Note      string
	At        time.Time
	FollowUps []FollowUp // e.g. the message telling the resident
}

// DecideVolunteer approves or declines a pending application, or revokes an
// approved volunteer, and keeps the resident's role in step — with an audit
// entry and the follow-ups, in one transaction. ErrConflict means the
// record was not in a state the decision applies to (another staff member
// decided first); ErrNotFound that there is none.
func (s *Store) DecideVolunteer(ctx context.Context, d VolunteerDecision) (hazardbot.Volunteer, error) {
	if d.Actor == "" {
		return hazardbot.Volunteer{}, errors.New("storage: decide volunteer: actor required")
	}
	at := d.At.UTC()
	to, from := hazardbot.VolunteerApproved, []string{string(hazardbot.VolunteerPending)}
	role, fromRole := RoleVolunteer, RoleResident
	if !d.Approve {
		to = hazardbot.VolunteerDeclined
		from = append(from, string(hazardbot.VolunteerApproved))
		role, fromRole = RoleResident, RoleVolunteer
	}
	var v hazardbot.Volunteer
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if v, err = s.volunteerBy(ctx, tx, "openid = ?"+s.forUpdate(), d.OpenID); err != nil {
			return err
		}
		if !slicesContains(from, string(v.Status)) {
			return ErrConflict
		}
		was := v.Status
		if _, err := tx.ExecContext(ctx, `UPDATE volunteers SET status = ?, note = ?, decided_by = ?, decided_at = ?,
			updated_at = ? WHERE id = ?`, string(to), truncateUTF8(d.Note, 255), d.Actor, at, at, v.ID); err != nil {
			return err
		}
		// Staff keep their role; a resident who never wrote has no user row,
		// and the volunteers table stays the source of truth.
		if _, err := tx.ExecContext(ctx, "UPDATE users SET role = ?, updated_at = ? WHERE openid = ? AND role = ?",
			role, at, d.OpenID, fromRole); err != nil {
			return err
		}
		action := map[bool]string{true: "volunteer.approve", false: "volunteer.decline"}[d.Approve]
		if was == hazardbot.VolunteerApproved {
			action = "volunteer.revoke"
		}
		if err := appendAuditTx(ctx, tx, AuditEntry{At: at, Actor: d.Actor, Action: action, SubjectType: "volunteer",
			SubjectID: strconv.FormatInt(v.ID, 10), Detail: d.Note}); err != nil {
			return err
		}
		return enqueueFollowUps(ctx, tx, s.Dialect, at, d.FollowUps)
	})
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		return v, err
	}
	if err != nil {
		return v, fmt.Errorf("storage: decide volunteer: %w", err)
	}
	return s.Volunteer(ctx, d.OpenID)
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- patrol points and check-ins ----

type patrolPointRow struct {
	ID          int64   `db:"id"`
	Name        string  `db:"name"`
	CommunityID string  `db:"community_id"`
	Lat         float64 `db:"lat"`
	Lng         float64 `db:"lng"`
	Radius      int     `db:"radius"`
	Active      bool    `db:"active"`
}

const patrolPointCols = "id, name, community_id, lat, lng, radius, active"

func (r patrolPointRow) point() hazardbot.PatrolPoint {
	return hazardbot.PatrolPoint{ID: r.ID, Name: r.Name, CommunityID: r.CommunityID, Lat: r.Lat, Lng: r.Lng,
		Radius: r.Radius, Active: r.Active}
}

// PatrolPoints lists patrol points by name; activeOnly leaves out retired ones.
func (s *Store) PatrolPoints(ctx context.Context, activeOnly bool) ([]hazardbot.PatrolPoint, error) {
	q := "SELECT " + patrolPointCols + " FROM patrol_points"
	if activeOnly {
		q += " WHERE active = TRUE"
	}
	var rows []patrolPointRow
	if err := s.DB.SelectContext(ctx, &rows, q+" ORDER BY community_id, name, id"); err != nil {
		return nil, fmt.Errorf("storage: patrol points: %w", err)
	}
	out := make([]hazardbot.PatrolPoint, len(rows))
	for i, r := range rows {
		out[i] = r.point()
	}
	return out, nil
}

// PatrolPoint returns one patrol point, or ErrNotFound.
func (s *Store) PatrolPoint(ctx context.Context, id int64) (hazardbot.PatrolPoint, error) {
	var r patrolPointRow
	err := s.DB.GetContext(ctx, &r, "SELECT "+patrolPointCols+" FROM patrol_points WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.PatrolPoint{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.PatrolPoint{}, fmt.Errorf("storage: patrol point: %w", err)
	}
	return r.point(), nil
}

// SavePatrolPoint creates a patrol point (ID 0; p gets its ID) or updates
// one, with an audit entry. Points are retired (Active false), never
// deleted, so their check-ins keep their place.
func (s *Store) SavePatrolPoint(ctx context.Context, p *hazardbot.PatrolPoint, actor string, now time.Time) error {
	if strings.TrimSpace(p.Name) == "" || utf8.RuneCountInString(p.Name) > 64 || p.Radius < 10 || p.Radius > 5000 ||
		p.Lat < -90 || p.Lat > 90 || p.Lng < -180 || p.Lng > 180 {
		return errors.New("storage: save patrol point: need a name (≤64), coordinates and a radius of 10-5000 m")
	}
	now = now.UTC()
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		action := "patrol_point.update"
		if p.ID == 0 {
			action = "patrol_point.create"
			res, err := tx.ExecContext(ctx, `INSERT INTO patrol_points (name, community_id, lat, lng, radius, active,
				created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.Name, p.CommunityID, p.Lat, p.Lng, p.Radius,
				p.Active, now, now)
			if err != nil {
				return err
			}
			if p.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE patrol_points SET name = ?, community_id = ?, lat = ?, lng = ?,
				radius = ?, active = ?, updated_at = ? WHERE id = ?`, p.Name, p.CommunityID, p.Lat, p.Lng, p.Radius,
				p.Active, now, p.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err == nil {
					err = ErrNotFound
				}
				return err
			}
		}
		return appendAuditTx(ctx, tx, AuditEntry{At: now, Actor: actor, Action: action, SubjectType: "patrol_point",
			SubjectID: strconv.FormatInt(p.ID, 10),
			Detail:    fmt.Sprintf("%s (%.6f, %.6f) r=%dm active=%t", p.Name, p.Lat, p.Lng, p.Radius, p.Active)})
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: save patrol point: %w", err)
	}
	return nil
}

type checkInRow struct {
	ID       int64     `db:"id"`
	OpenID   string    `db:"openid"`
	PointID  int64     `db:"point_id"`
	Day      string    `db:"day"`
	Lat      float64   `db:"lat"`
	Lng      float64   `db:"lng"`
	Distance int       `db:"distance"`
	MediaID  string    `db:"media_id"`
	PicURL   string    `db:"pic_url"`
	Points   int       `db:"points"`
	At       time.Time `db:"at"`
}

const checkInCols = "id, openid, point_id, day, lat, lng, distance, media_id, pic_url, points, at"

func (r checkInRow) checkIn() hazardbot.CheckIn {
	return hazardbot.CheckIn{ID: r.ID, OpenID: r.OpenID, PointID: r.PointID, Day: r.Day, Lat: r.Lat, Lng: r.Lng,
		Distance: r.Distance, MediaID: r.MediaID, PicURL: r.PicURL, Points: r.Points, At: r.At.UTC()}
}

// CheckIn records a volunteer's check-in at a patrol point and, when
// award.Points is not zero, its points — in one transaction. It reports
// false, writing nothing, when the volunteer checked in at that point on
// that day already. The award's key and source id are set here from the
// check-in.
func (s *Store) CheckIn(ctx context.Context, c *hazardbot.CheckIn, award hazardbot.Award) (bool, error) {
	if err := checkOpenID(c.OpenID); err != nil {
		return false, fmt.Errorf("storage: check in: %w", err)
	}
	c.At = c.At.UTC()
	if c.Day == "" {
		c.Day = hazardbot.Day(c.At)
	}
	c.Points = award.Points
	if c.Points != 0 {
		if err := s.ensureBalance(ctx, c.OpenID); err != nil {
			return false, fmt.Errorf("storage: check in: %w", err)
		}
	}
	err := s.pointsTx(ctx, func(tx *sqlx.Tx) error {
		if c.Points != 0 {
			// The balance first, as everywhere (see points.go).
			if _, err := s.lockBalance(ctx, tx, c.OpenID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO patrol_checkins (openid, point_id, day, lat, lng, distance,
			media_id, pic_url, points, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.OpenID, c.PointID, c.Day, c.Lat, c.Lng,
			c.Distance, c.MediaID, truncateUTF8(c.PicURL, 1024), c.Points, c.At)
		if err != nil {
			return err
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if c.Points == 0 {
			return nil
		}
		award.OpenID, award.At, award.SourceType = c.OpenID, c.At, hazardbot.SourcePatrol
		award.SourceID = strconv.FormatInt(c.ID, 10)
		award.Key = "patrol:" + c.OpenID + ":" + strconv.FormatInt(c.PointID, 10) + ":" + c.Day
		_, _, _, err = s.addEntry(ctx, tx, award, false)
		return err
	})
	if isDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: check in: %w", err)
	}
	return true, nil
}

// CheckInOf returns a volunteer's check-in at a point on a day, or ErrNotFound.
func (s *Store) CheckInOf(ctx context.Context, openid string, pointID int64, day string) (hazardbot.CheckIn, error) {
	var r checkInRow
	err := s.DB.GetContext(ctx, &r, "SELECT "+checkInCols+" FROM patrol_checkins WHERE openid = ? AND point_id = ? AND day = ?",
		openid, pointID, day)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.CheckIn{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.CheckIn{}, fmt.Errorf("storage: check-in: %w", err)
	}
	return r.checkIn(), nil
}

// SetCheckInPhoto attaches the photo a volunteer sent after checking in
// and, in the same transaction, queues its download (WeChat forgets media
// after three days).
func (s *Store) SetCheckInPhoto(ctx context.Context, id int64, openid, mediaID, picURL string) error {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE patrol_checkins SET media_id = ?, pic_url = ?, photo_status = ? WHERE id = ? AND openid = ?",
			truncateUTF8(mediaID, 255), truncateUTF8(picURL, 1024), hazardbot.PhotoPending, id, openid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		return EnqueueTx(ctx, tx, s.Dialect, hazardbot.JobFetchCheckInPhoto, fmt.Sprintf("checkin-photo:%d:%s", id, truncateUTF8(mediaID, 64)),
			hazardbot.FetchPhoto{PhotoID: id}, time.Now().UTC())
	})
	if err != nil {
		return fmt.Errorf("storage: check-in photo: %w", err)
	}
	return nil
}

// CheckInPhoto is a check-in's photo as the downloader sees it.
type CheckInPhoto struct {
	MediaID string `db:"media_id"`
	Status  string `db:"photo_status"`
	Path    string `db:"photo_path"`
}

// CheckInPhotoOf returns a check-in's photo.
func (s *Store) CheckInPhotoOf(ctx context.Context, id int64) (CheckInPhoto, error) {
	var p CheckInPhoto
	err := s.DB.GetContext(ctx, &p, "SELECT media_id, photo_status, photo_path FROM patrol_checkins WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("storage: check-in photo: %w", err)
	}
	return p, nil
}

// SetCheckInPhotoStored records a downloaded check-in photo; lost (status
// PhotoLost) when WeChat no longer has it.
func (s *Store) SetCheckInPhotoStored(ctx context.Context, id int64, status, sha string, size int64, path string) error {
	_, err := s.exec(ctx, "UPDATE patrol_checkins SET photo_status = ?, photo_sha256 = ?, photo_size = ?, photo_path = ? WHERE id = ?",
		status, sha, size, path, id)
	if err != nil {
		return fmt.Errorf("storage: check-in photo stored: %w", err)
	}
	return nil
}

// CheckInFilter narrows a list of check-ins.
type CheckInFilter struct {
	OpenID  string
	PointID int64
	FromDay string // inclusive, 2006-01-02
	ToDay   string // inclusive
	Limit   int
}

// CheckIns lists check-ins, newest first.
func (s *Store) CheckIns(ctx context.Context, f CheckInFilter) ([]hazardbot.CheckIn, error) {
	q := "SELECT " + checkInCols + " FROM patrol_checkins WHERE 1 = 1"
	var args []any
	if f.OpenID != "" {
		q += " AND openid = ?"
		args = append(args, f.OpenID)
	}
	if f.PointID != 0 {
		q += " AND point_id = ?"
		args = append(args, f.PointID)
	}
	if f.FromDay != "" {
		q += " AND day >= ?"
		args = append(args, f.FromDay)
	}
	if f.ToDay != "" {
		q += " AND day <= ?"
		args = append(args, f.ToDay)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += " ORDER BY at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	var rows []checkInRow
	if err := s.DB.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("storage: check-ins: %w", err)
	}
	out := make([]hazardbot.CheckIn, len(rows))
	for i, r := range rows {
		out[i] = r.checkIn()
	}
	return out, nil
}

// CountCheckIns counts a volunteer's check-ins from a day on ("" for all).
func (s *Store) CountCheckIns(ctx context.Context, openid, fromDay string) (int, error) {
	var n int
	err := s.DB.GetContext(ctx, &n, "SELECT COUNT(*) FROM patrol_checkins WHERE openid = ? AND day >= ?", openid, fromDay)
	if err != nil {
		return 0, fmt.Errorf("storage: count check-ins: %w", err)
	}
	return n, nil
}

// ---- rewards catalog ----

type rewardRow struct {
	ID          int64        `db:"id"`
	Name        string       `db:"name"`
	Description string       `db:"description"`
	Points      int          `db:"points"`
	Stock       int          `db:"stock"`
	PerPerson   int          `db:"per_person"`
	ValidFrom   time.Time    `db:"valid_from"`
	ValidTo     sql.NullTime `db:"valid_to"`
	Active      bool         `db:"active"`
}

const rewardCols = "id, name, description, points, stock, per_person, valid_from, valid_to, active"

func (r rewardRow) reward() hazardbot.Reward {
	w := hazardbot.Reward{ID: r.ID, Name: r.Name, Description: r.Description, Points: r.Points, Stock: r.Stock,
		PerPerson: r.PerPerson, ValidFrom: r.ValidFrom.UTC(), Active: r.Active}
	if r.ValidTo.Valid {
		w.ValidTo = r.ValidTo.Time.UTC()
	}
	return w
}

func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: t.UTC(), Valid: !t.IsZero()}
}

// Rewards lists the whole catalog, for the console.
func (s *Store) Rewards(ctx context.Context) ([]hazardbot.Reward, error) {
	var rows []rewardRow
	if err := s.DB.SelectContext(ctx, &rows, "SELECT "+rewardCols+" FROM rewards ORDER BY active DESC, points, id"); err != nil {
		return nil, fmt.Errorf("storage: rewards: %w", err)
	}
	out := make([]hazardbot.Reward, len(rows))
	for i, r := range rows {
		out[i] = r.reward()
	}
	return out, nil
}

// AvailableRewards lists what residents may redeem at now, in stock,
// cheapest first.
func (s *Store) AvailableRewards(ctx context.Context, now time.Time) ([]hazardbot.Reward, error) {
	all, err := s.Rewards(ctx)
	if err != nil {
		return nil, err
	}
	var out []hazardbot.Reward
	for _, r := range all {
		if r.Available(now) && r.Stock > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// Reward returns one catalog item, or ErrNotFound.
func (s *Store) Reward(ctx context.Context, id int64) (hazardbot.Reward, error) {
	var r rewardRow
	err := s.DB.GetContext(ctx, &r, "SELECT "+rewardCols+" FROM rewards WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Reward{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Reward{}, fmt.Errorf("storage: reward: %w", err)
	}
	return r.reward(), nil
}

// SaveReward creates a catalog item (ID 0; r gets its ID, and Stock is its
// first stock) or updates one's name, price, limit, validity and whether it
// is offered — not its stock, which only AddStock and redemptions move, so
// an edit cannot undo holds made meanwhile. Audited.
func (s *Store) SaveReward(ctx context.Context, r *hazardbot.Reward, actor string, now time.Time) error {
	if strings.TrimSpace(r.Name) == "" || utf8.RuneCountInString(r.Name) > 64 || utf8.RuneCountInString(r.Description) > 255 ||
		r.Points <= 0 || r.Points > 1000000 || r.Stock < 0 || r.PerPerson < 0 ||
		(!r.ValidTo.IsZero() && !r.ValidTo.After(r.ValidFrom)) {
		return errors.New("storage: save reward: need a name (≤64), positive points, stock ≥ 0, and validity that ends after it starts")
	}
	now = now.UTC()
	if r.ValidFrom.IsZero() {
		r.ValidFrom = now
	}
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		action := "reward.update"
		if r.ID == 0 {
			action = "reward.create"
			res, err := tx.ExecContext(ctx, `INSERT INTO rewards (name, description, points, stock, per_person,
				valid_from, valid_to, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				r.Name, r.Description, r.Points, r.Stock, r.PerPerson, r.ValidFrom.UTC(), nullTime(r.ValidTo), r.Active, now, now)
			if err != nil {
				return err
			}
			if r.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE rewards SET name = ?, description = ?, points = ?, per_person = ?,
				valid_from = ?, valid_to = ?, active = ?, updated_at = ? WHERE id = ?`, r.Name, r.Description, r.Points,
				r.PerPerson, r.ValidFrom.UTC(), nullTime(r.ValidTo), r.Active, now, r.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err == nil {
					err = ErrNotFound
				}
				return err
			}
		}
		return appendAuditTx(ctx, tx, AuditEntry{At: now, Actor: actor, Action: action, SubjectType: "reward",
			SubjectID: strconv.FormatInt(r.ID, 10),
			Detail:    fmt.Sprintf("%s %d积分 限兑%d active=%t", r.Name, r.Points, r.PerPerson, r.Active)})
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: save reward: %w", err)
	}
	return nil
}

// AddStock moves a reward's stock by delta (a delivery, or a correction
// down) and returns the new stock; ErrOutOfStock if it would go below zero.
// Audited.
func (s *Store) AddStock(ctx context.Context, id int64, delta int, actor string, now time.Time) (int, error) {
	var stock int
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE rewards SET stock = stock + ?, updated_at = ? WHERE id = ? AND stock + ? >= 0",
			delta, now.UTC(), id, delta)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = ErrOutOfStock
			}
			return err
		}
		if err := tx.GetContext(ctx, &stock, "SELECT stock FROM rewards WHERE id = ?", id); err != nil {
			return err
		}
		return appendAuditTx(ctx, tx, AuditEntry{At: now, Actor: actor, Action: "reward.stock", SubjectType: "reward",
			SubjectID: strconv.FormatInt(id, 10), Detail: fmt.Sprintf("%+d → %d", delta, stock)})
	})
	if errors.Is(err, ErrOutOfStock) {
		return 0, ErrOutOfStock
	}
	if err != nil {
		return 0, fmt.Errorf("storage: add stock: %w", err)
	}
	return stock, nil
}

// ---- redemptions ----

type redemptionRow struct {
	ID         int64        `db:"id"`
	OpenID     string       `db:"openid"`
	RewardID   int64        `db:"reward_id"`
	RewardName string       `db:"reward_name"`
	Points     int          `db:"points"`
	Code       string       `db:"code"`
	Status     string       `db:"status"`
	CreatedAt  time.Time    `db:"created_at"`
	ExpiresAt  time.Time    `db:"expires_at"`
	ClosedAt   sql.NullTime `db:"closed_at"`
	ClosedBy   string       `db:"closed_by"`
}

const redemptionCols = "id, openid, reward_id, reward_name, points, code, status, created_at, expires_at, closed_at, closed_by"

func (r redemptionRow) redemption() hazardbot.Redemption {
	d := hazardbot.Redemption{ID: r.ID, OpenID: r.OpenID, RewardID: r.RewardID, RewardName: r.RewardName, Points: r.Points,
		Code: r.Code, Status: hazardbot.RedemptionStatus(r.Status), CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: r.ExpiresAt.UTC(), ClosedBy: r.ClosedBy}
	if r.ClosedAt.Valid {
		d.ClosedAt = r.ClosedAt.Time.UTC()
	}
	return d
}

func (s *Store) redemptionBy(ctx context.Context, q sqlx.QueryerContext, where string, args ...any) (hazardbot.Redemption, error) {
	var r redemptionRow
	err := sqlx.GetContext(ctx, q, &r, "SELECT "+redemptionCols+" FROM redemptions WHERE "+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.Redemption{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.Redemption{}, err
	}
	return r.redemption(), nil
}

// Redemption returns one redemption, or ErrNotFound.
func (s *Store) Redemption(ctx context.Context, id int64) (hazardbot.Redemption, error) {
	r, err := s.redemptionBy(ctx, s.DB, "id = ?", id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("storage: redemption: %w", err)
	}
	return r, err
}

// RedemptionByCode finds a redemption by its pickup code, or ErrNotFound.
func (s *Store) RedemptionByCode(ctx context.Context, code string) (hazardbot.Redemption, error) {
	r, err := s.redemptionBy(ctx, s.DB, "code = ?", strings.TrimSpace(code))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("storage: redemption by code: %w", err)
	}
	return r, err
}

// RedemptionFilter narrows a list of redemptions.
type RedemptionFilter struct {
	OpenID string
	Status hazardbot.RedemptionStatus
	Limit  int
}

// Redemptions lists redemptions, newest first.
func (s *Store) Redemptions(ctx context.Context, f RedemptionFilter) ([]hazardbot.Redemption, error) {
	q := "SELECT " + redemptionCols + " FROM redemptions WHERE 1 = 1"
	var args []any
	if f.OpenID != "" {
		q += " AND openid = ?"
		args = append(args, f.OpenID)
	}
	if f.Status != "" {
		q += " AND status = ?"
		args = append(args, string(f.Status))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit)
	var rows []redemptionRow
	if err := s.DB.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("storage: redemptions: %w", err)
	}
	out := make([]hazardbot.Redemption, len(rows))
	for i, r := range rows {
		out[i] = r.redemption()
	}
	return out, nil
}

// RedeemRequest is a resident's confirmed wish to redeem a reward.
type RedeemRequest = hazardbot.RedeemRequest

// Redeem holds a reward for a resident: in one transaction it takes one off
// the stock (never below zero), checks the per-person limit, writes the
// redemption with a fresh pickup code, holds its points with a negative
// ledger entry (never below a zero balance) and enqueues the job that
// returns them when the hold expires. Errors: ErrUnavailable, ErrOutOfStock,
// ErrLimitReached, ErrInsufficientPoints, ErrNotFound.
func (s *Store) Redeem(ctx context.Context, req RedeemRequest) (hazardbot.Redemption, error) {
	if err := checkOpenID(req.OpenID); err != nil {
		return hazardbot.Redemption{}, fmt.Errorf("storage: redeem: %w", err)
	}
	if req.Key == "" || len(req.Key) > 191 || req.HoldFor <= 0 || req.At.IsZero() {
		return hazardbot.Redemption{}, errors.New("storage: redeem: need a key, a hold duration and a time")
	}
	if r, err := s.redemptionBy(ctx, s.DB, "request_key = ?", req.Key); err == nil {
		return r, nil
	}
	if err := s.ensureBalance(ctx, req.OpenID); err != nil {
		return hazardbot.Redemption{}, fmt.Errorf("storage: redeem: %w", err)
	}
	at := req.At.UTC()
	var red hazardbot.Redemption
	var err error
	for range 5 { // a fresh code each time one collides
		err = s.pointsTx(ctx, func(tx *sqlx.Tx) error {
			balance, err := s.lockBalance(ctx, tx, req.OpenID)
			if err != nil {
				return err
			}
			var rr rewardRow
			err = tx.GetContext(ctx, &rr, "SELECT "+rewardCols+" FROM rewards WHERE id = ?"+s.forUpdate(), req.RewardID)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			reward := rr.reward()
			switch {
			case !reward.Available(at):
				return ErrUnavailable
			case reward.Stock <= 0:
				return ErrOutOfStock
			}
			if reward.PerPerson > 0 {
				var n int
				if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM redemptions WHERE openid = ? AND reward_id = ?
					AND status IN ('held', 'picked_up')`, req.OpenID, req.RewardID); err != nil {
					return err
				}
				if n >= reward.PerPerson {
					return ErrLimitReached
				}
			}
			if balance < reward.Points {
				return ErrInsufficientPoints
			}
			// The guard that keeps stock from being oversold, whatever
			// the read above saw.
			res, err := tx.ExecContext(ctx, "UPDATE rewards SET stock = stock - 1 WHERE id = ? AND stock > 0", req.RewardID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				if err == nil {
					err = ErrOutOfStock
				}
				return err
			}
			red = hazardbot.Redemption{OpenID: req.OpenID, RewardID: reward.ID, RewardName: reward.Name,
				Points: reward.Points, Code: pickupCode(), Status: hazardbot.RedemptionHeld, CreatedAt: at,
				ExpiresAt: at.Add(req.HoldFor)}
			res, err = tx.ExecContext(ctx, `INSERT INTO redemptions (openid, reward_id, reward_name, points, code,
				request_key, status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, red.OpenID, red.RewardID,
				red.RewardName, red.Points, red.Code, req.Key, string(red.Status), red.CreatedAt, red.ExpiresAt)
			if err != nil {
				return err
			}
			if red.ID, err = res.LastInsertId(); err != nil {
				return err
			}
			id := strconv.FormatInt(red.ID, 10)
			if _, _, _, err := s.addEntry(ctx, tx, hazardbot.Award{OpenID: req.OpenID, Points: -red.Points,
				Reason: req.Reason, SourceType: hazardbot.SourceRedemption, SourceID: id, Key: "hold:" + id, At: at},
				false); err != nil {
				return err
			}
			return EnqueueTx(ctx, tx, s.Dialect, hazardbot.JobExpireHold, "expire-hold:"+id,
				hazardbot.ExpireHold{RedemptionID: red.ID}, red.ExpiresAt)
		})
		if !isDuplicate(err) {
			break
		}
		// Either the same request won a race with us, or the code was taken.
		if r, gerr := s.redemptionBy(ctx, s.DB, "request_key = ?", req.Key); gerr == nil {
			return r, nil
		}
	}
	for _, sentinel := range []error{ErrNotFound, ErrUnavailable, ErrOutOfStock, ErrLimitReached, ErrInsufficientPoints} {
		if errors.Is(err, sentinel) {
			return hazardbot.Redemption{}, sentinel
		}
	}
	if err != nil {
		return hazardbot.Redemption{}, fmt.Errorf("storage: redeem: %w", err)
	}
	return red, nil
}

// pickupCode is 8 random digits: easy to read out at a desk, and too many
// to guess one that is held.
func pickupCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%08d", n.Int64())
}

// ReleaseHold ends a held redemption that was not picked up: status becomes
// to (RedemptionExpired or RedemptionCancelled), its points come back with
// a reversing entry whose key ("hold-return:<id>") makes the return happen
// exactly once, and its item goes back into stock — in one transaction.
type ReleaseHold struct {
	RedemptionID int64
	To           hazardbot.RedemptionStatus
	Actor        string // "system" for expiries, staff:<name> for cancellations
	Reason       string // the reversing entry's ledger line
	Note         string // why, for the audit of a cancellation
	At           time.Time
	FollowUps    []FollowUp // e.g. telling the resident; enqueued only when released
}

// Release applies a ReleaseHold. It reports false when the redemption is no
// longer held (picked up, or released before). An expiry before the hold's
// expires_at fails with ErrNotDue.
func (s *Store) Release(ctx context.Context, rh ReleaseHold) (bool, error) {
	if rh.To != hazardbot.RedemptionExpired && rh.To != hazardbot.RedemptionCancelled {
		return false, fmt.Errorf("storage: release hold: cannot release to %q", rh.To)
	}
	at := rh.At.UTC()
	released := false
	err := s.pointsTx(ctx, func(tx *sqlx.Tx) error {
		released = false
		red, err := s.redemptionBy(ctx, tx, "id = ?"+s.forUpdate(), rh.RedemptionID)
		if err != nil {
			return err
		}
		if red.Status != hazardbot.RedemptionHeld {
			return nil
		}
		if rh.To == hazardbot.RedemptionExpired && at.Before(red.ExpiresAt) {
			return ErrNotDue
		}
		if _, err := s.lockBalance(ctx, tx, red.OpenID); err != nil {
			return err
		}
		id := strconv.FormatInt(red.ID, 10)
		if _, _, _, err := s.addEntry(ctx, tx, hazardbot.Award{OpenID: red.OpenID, Points: red.Points, Reason: rh.Reason,
			SourceType: hazardbot.SourceRedemption, SourceID: id, Key: "hold-return:" + id, At: at}, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE redemptions SET status = ?, closed_at = ?, closed_by = ?
			WHERE id = ? AND status = 'held'`, string(rh.To), at, rh.Actor, red.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE rewards SET stock = stock + 1, updated_at = ? WHERE id = ?", at, red.RewardID); err != nil {
			return err
		}
		if rh.To == hazardbot.RedemptionCancelled {
			if err := appendAuditTx(ctx, tx, AuditEntry{At: at, Actor: rh.Actor, Action: "redemption.cancel",
				SubjectType: "redemption", SubjectID: id, Detail: rh.Note}); err != nil {
				return err
			}
		}
		released = true
		return enqueueFollowUps(ctx, tx, s.Dialect, at, rh.FollowUps)
	})
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotDue):
		return false, err
	case err != nil:
		return false, fmt.Errorf("storage: release hold: %w", err)
	}
	return released, nil
}

// ConfirmPickup records that staff handed a held reward over: the points
// held stay spent and the ledger does not change (a pickup is not a points
// event; the hold entry already took them). Audited. ErrNotFound for an
// unknown code; ErrConflict, with the redemption, when it is not held;
// ErrHoldExpired when its time ran out (the expiry job returns the points).
func (s *Store) ConfirmPickup(ctx context.Context, code, actor string, now time.Time) (hazardbot.Redemption, error) {
	now = now.UTC()
	var red hazardbot.Redemption
	err := s.pointsTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if red, err = s.redemptionBy(ctx, tx, "code = ?"+s.forUpdate(), strings.TrimSpace(code)); err != nil {
			return err
		}
		if red.Status != hazardbot.RedemptionHeld {
			return ErrConflict
		}
		if !now.Before(red.ExpiresAt) {
			return ErrHoldExpired
		}
		if _, err := tx.ExecContext(ctx, `UPDATE redemptions SET status = ?, closed_at = ?, closed_by = ?
			WHERE id = ? AND status = 'held'`, string(hazardbot.RedemptionPickedUp), now, actor, red.ID); err != nil {
			return err
		}
		red.Status, red.ClosedAt, red.ClosedBy = hazardbot.RedemptionPickedUp, now, actor
		return appendAuditTx(ctx, tx, AuditEntry{At: now, Actor: actor, Action: "redemption.pickup",
			SubjectType: "redemption", SubjectID: strconv.FormatInt(red.ID, 10),
			Detail: fmt.Sprintf("%s（%d积分）", red.RewardName, red.Points)})
	})
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrHoldExpired):
		return red, err
	case err != nil:
		return red, fmt.Errorf("storage: confirm pickup: %w", err)
	}
	return red, nil
}

// HeldRedemptions lists a resident's redemptions waiting to be picked up,
// the soonest to expire first.
func (s *Store) HeldRedemptions(ctx context.Context, openid string) ([]hazardbot.Redemption, error) {
	var rows []redemptionRow
	err := s.DB.SelectContext(ctx, &rows, "SELECT "+redemptionCols+` FROM redemptions WHERE openid = ? AND status = 'held'
		ORDER BY expires_at, id`, openid)
	if err != nil {
		return nil, fmt.Errorf("storage: held redemptions: %w", err)
	}
	out := make([]hazardbot.Redemption, len(rows))
	for i, r := range rows {
		out[i] = r.redemption()
	}
	return out, nil
}

// HeldPoints sums a resident's points in redemptions not yet picked up.
func (s *Store) HeldPoints(ctx context.Context, openid string) (int, error) {
	var n int
	err := s.DB.GetContext(ctx, &n, "SELECT COALESCE(SUM(points), 0) FROM redemptions WHERE openid = ? AND status = 'held'", openid)
	if err != nil {
		return 0, fmt.Errorf("storage: held points: %w", err)
	}
	return n, nil
}

// ---- rules' look-ups ----

// FirstReporter reports whether r was the first report of its hazard: no
// other resident's earlier report was merged into it, nor stood within
// radius metres with the same category in the window before it. Rejected
// reports, and reports closed before r came in (that hazard was fixed; this
// is a new one), do not count. Without a location only merges can tell.
func (s *Store) FirstReporter(ctx context.Context, r hazardbot.Report, radius float64, window time.Duration) (bool, error) {
	created := r.CreatedAt.UTC()
	var merged int
	err := s.DB.GetContext(ctx, &merged, `SELECT COUNT(*) FROM reports WHERE duplicate_of = ? AND created_at < ? AND openid <> ?`,
		r.Ticket, created, r.OpenID)
	if err != nil {
		return false, fmt.Errorf("storage: first reporter: %w", err)
	}
	if merged > 0 || !r.HasLocation {
		return merged == 0, nil
	}
	dLat := radius / 111320
	dLng := radius / (111320 * max(cosDeg(r.Lat), 0.01))
	var near []struct {
		Lat float64 `db:"lat"`
		Lng float64 `db:"lng"`
	}
	err = s.DB.SelectContext(ctx, &near, `SELECT lat, lng FROM reports
		WHERE category = ? AND id <> ? AND openid <> ? AND created_at < ? AND created_at >= ?
		AND lat BETWEEN ? AND ? AND lng BETWEEN ? AND ?
		AND status <> ? AND NOT (status = ? AND closed_at IS NOT NULL AND closed_at < ?)`,
		r.Category, r.ID, r.OpenID, created, created.Add(-window), r.Lat-dLat, r.Lat+dLat, r.Lng-dLng, r.Lng+dLng,
		string(hazardbot.StatusRejected), string(hazardbot.StatusClosed), created)
	if err != nil {
		return false, fmt.Errorf("storage: first reporter: %w", err)
	}
	for _, n := range near {
		if hazardbot.Distance(r.Lat, r.Lng, n.Lat, n.Lng) <= radius {
			return false, nil
		}
	}
	return true, nil
}

func cosDeg(d float64) float64 { return math.Cos(d * math.Pi / 180) }
