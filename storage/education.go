package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"hazardbot"
)

// The daily quiz's storage: a row per resident and Shanghai day holding the
// questions drawn for it (so an interrupted quiz resumes with the same
// ones), the answers, each question's Leitner box per resident, and
// streaks; and the queries the console shows.

// insertIgnore turns "INSERT INTO t (…) VALUES (…)" into the dialect's
// insert that skips a row whose key exists (RowsAffected 0).
func (s *Store) insertIgnore(q string) string {
	if s.Dialect == DialectMySQL {
		return "INSERT IGNORE" + q[len("INSERT"):]
	}
	return q + " ON CONFLICT DO NOTHING"
}

type quizDayRow struct {
	OpenID      string       `db:"openid"`
	Day         string       `db:"day"`
	CommunityID string       `db:"community_id"`
	Questions   string       `db:"questions"`
	Answered    int          `db:"answered"`
	Correct     int          `db:"correct"`
	Points      int          `db:"points"`
	StartedAt   time.Time    `db:"started_at"`
	FinishedAt  sql.NullTime `db:"finished_at"`
}

const quizDayCols = "openid, day, community_id, questions, answered, correct, points, started_at, finished_at"

func (r quizDayRow) quizDay() (hazardbot.QuizDay, error) {
	d := hazardbot.QuizDay{OpenID: r.OpenID, Day: r.Day, CommunityID: r.CommunityID, Answered: r.Answered,
		Correct: r.Correct, Points: r.Points, StartedAt: r.StartedAt.UTC(), Finished: r.FinishedAt.Valid}
	if err := json.Unmarshal([]byte(r.Questions), &d.Items); err != nil {
		return d, fmt.Errorf("quiz day %s: questions: %w", r.Day, err)
	}
	return d, nil
}

// QuizHistory returns when the resident last answered each question and
// the questions due for review on day (most overdue first).
func (s *Store) QuizHistory(ctx context.Context, openid, day string) (hazardbot.QuizHistory, error) {
	h := hazardbot.QuizHistory{LastSeen: map[string]string{}, Boxes: map[string]int{}}
	var seen []struct {
		ID  string `db:"question_id"`
		Day string `db:"last_day"`
	}
	err := s.DB.SelectContext(ctx, &seen, `SELECT question_id, MAX(day) AS last_day FROM quiz_answers
		WHERE openid = ? GROUP BY question_id`, openid)
	if err != nil {
		return h, fmt.Errorf("storage: quiz history: %w", err)
	}
	for _, r := range seen {
		h.LastSeen[r.ID] = r.Day
	}
	var boxes []struct {
		ID  string `db:"question_id"`
		Box int    `db:"box"`
		Due string `db:"due_day"`
	}
	err = s.DB.SelectContext(ctx, &boxes, `SELECT question_id, box, due_day FROM quiz_boxes
		WHERE openid = ? ORDER BY due_day, box, question_id`, openid)
	if err != nil {
		return h, fmt.Errorf("storage: quiz history: %w", err)
	}
	for _, r := range boxes {
		h.Boxes[r.ID] = r.Box
		if r.Box >= 1 && r.Box <= hazardbot.LeitnerBoxes && r.Due != "" && r.Due <= day {
			h.Due = append(h.Due, hazardbot.QuizItem{ID: r.ID, Box: r.Box})
		}
	}
	return h, nil
}

// StartQuizDay stores d as the resident's quiz of d.Day unless one is
// already stored, and returns the stored one: two taps on the menu in the
// same instant still give one set of questions. A stored day without a
// community takes d's.
func (s *Store) StartQuizDay(ctx context.Context, d hazardbot.QuizDay) (hazardbot.QuizDay, error) {
	if err := checkOpenID(d.OpenID); err != nil {
		return d, fmt.Errorf("storage: start quiz day: %w", err)
	}
	if len(d.Items) == 0 {
		return d, fmt.Errorf("storage: start quiz day: no questions")
	}
	items, err := json.Marshal(d.Items)
	if err != nil {
		return d, fmt.Errorf("storage: start quiz day: %w", err)
	}
	// An existing day keeps its questions; it learns the community if it
	// started without one (the resident sent a location since).
	q := `INSERT INTO quiz_days (openid, day, community_id, questions, started_at) VALUES (?, ?, ?, ?, ?)`
	if s.Dialect == DialectMySQL {
		q += ` ON DUPLICATE KEY UPDATE community_id = IF(community_id = '', VALUES(community_id), community_id)`
	} else {
		q += ` ON CONFLICT (openid, day) DO UPDATE SET community_id = excluded.community_id WHERE quiz_days.community_id = ''`
	}
	_, err = s.exec(ctx, q, d.OpenID, d.Day, d.CommunityID, string(items), d.StartedAt.UTC())
	if err != nil {
		return d, fmt.Errorf("storage: start quiz day: %w", err)
	}
	return s.QuizDay(ctx, d.OpenID, d.Day)
}

// QuizDay returns the resident's quiz of day, or ErrNotFound.
func (s *Store) QuizDay(ctx context.Context, openid, day string) (hazardbot.QuizDay, error) {
	var r quizDayRow
	err := s.DB.GetContext(ctx, &r, "SELECT "+quizDayCols+" FROM quiz_days WHERE openid = ? AND day = ?", openid, day)
	if errors.Is(err, sql.ErrNoRows) {
		return hazardbot.QuizDay{}, ErrNotFound
	}
	if err != nil {
		return hazardbot.QuizDay{}, fmt.Errorf("storage: quiz day: %w", err)
	}
	d, err := r.quizDay()
	if err != nil {
		return d, fmt.Errorf("storage: %w", err)
	}
	err = s.DB.SelectContext(ctx, &d.AnsweredIDs, `SELECT question_id FROM quiz_answers
		WHERE openid = ? AND day = ? ORDER BY seq, at`, openid, day)
	if err != nil {
		return d, fmt.Errorf("storage: quiz day: answers: %w", err)
	}
	return d, nil
}

// RecordQuizAnswer stores an answer, counts it in its day and moves the
// question to the answer's Leitner box, in one transaction. It returns
// false, changing nothing, when the question was already answered that day:
// a retried message counts once.
func (s *Store) RecordQuizAnswer(ctx context.Context, a hazardbot.QuizAnswer) (bool, error) {
	recorded := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.insertIgnore(`INSERT INTO quiz_answers
			(openid, day, question_id, seq, answer, correct, points, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			a.OpenID, a.Day, a.QuestionID, a.Seq, truncateUTF8(a.Answer, 16), a.Correct, a.Points, a.At.UTC())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		correct := 0
		if a.Correct {
			correct = 1
		}
		res, err = tx.ExecContext(ctx, `UPDATE quiz_days SET answered = answered + 1, correct = correct + ?,
			points = points + ? WHERE openid = ? AND day = ?`, correct, a.Points, a.OpenID, a.Day)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("no quiz on %s to answer in (%v)", a.Day, err)
		}
		q := `INSERT INTO quiz_boxes (openid, question_id, box, due_day, last_day, updated_at) VALUES (?, ?, ?, ?, ?, ?)`
		if s.Dialect == DialectMySQL {
			q += ` ON DUPLICATE KEY UPDATE box = VALUES(box), due_day = VALUES(due_day), last_day = VALUES(last_day),
				updated_at = VALUES(updated_at)`
		} else {
			q += ` ON CONFLICT (openid, question_id) DO UPDATE SET box = excluded.box, due_day = excluded.due_day,
				last_day = excluded.last_day, updated_at = excluded.updated_at`
		}
		if _, err := tx.ExecContext(ctx, q, a.OpenID, a.QuestionID, a.Box, a.DueDay, a.Day, a.At.UTC()); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("storage: record quiz answer: %w", err)
	}
	return recorded, nil
}

// QuizBox returns the Leitner box of a question for a resident and the day
// it is due ("" never); box 0 when the resident has not answered it.
func (s *Store) QuizBox(ctx context.Context, openid, questionID string) (box int, dueDay string, err error) {
	var r struct {
		Box int    `db:"box"`
		Due string `db:"due_day"`
	}
	err = s.DB.GetContext(ctx, &r, "SELECT box, due_day FROM quiz_boxes WHERE openid = ? AND question_id = ?", openid, questionID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("storage: quiz box: %w", err)
	}
	return r.Box, r.Due, nil
}

// FinishQuizDay marks the day's quiz finished and counts it in the
// resident's streak of consecutive days, returning the streak. Finishing
// the same day again changes nothing.
func (s *Store) FinishQuizDay(ctx context.Context, openid, day string, at time.Time) (int, error) {
	streak := 0
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE quiz_days SET finished_at = ?
			WHERE openid = ? AND day = ? AND finished_at IS NULL`, at.UTC(), openid, day); err != nil {
			return err
		}
		var cur struct {
			Last string `db:"last_day"`
			Run  int    `db:"run_days"`
			Best int    `db:"best_days"`
		}
		err := tx.GetContext(ctx, &cur, "SELECT last_day, run_days, best_days FROM quiz_streaks WHERE openid = ?"+s.forUpdate(), openid)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			streak = 1
			_, err = tx.ExecContext(ctx, `INSERT INTO quiz_streaks (openid, last_day, run_days, best_days, updated_at)
				VALUES (?, ?, 1, 1, ?)`, openid, day, at.UTC())
			return err
		case err != nil:
			return err
		case cur.Last >= day: // this day, or an older one finished late, is already counted
			streak = cur.Run
			return nil
		case cur.Last == hazardbot.AddDays(day, -1):
			streak = cur.Run + 1
		default:
			streak = 1
		}
		_, err = tx.ExecContext(ctx, `UPDATE quiz_streaks SET last_day = ?, run_days = ?, best_days = ?, updated_at = ?
			WHERE openid = ?`, day, streak, max(streak, cur.Best), at.UTC(), openid)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage: finish quiz day: %w", err)
	}
	return streak, nil
}

// QuizStreak is the resident's streak as seen on day: it still counts
// when the last finished quiz was that day or the day before, else 0.
func (s *Store) QuizStreak(ctx context.Context, openid, day string) (int, error) {
	var cur struct {
		Last string `db:"last_day"`
		Run  int    `db:"run_days"`
	}
	err := s.DB.GetContext(ctx, &cur, "SELECT last_day, run_days FROM quiz_streaks WHERE openid = ?", openid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: quiz streak: %w", err)
	}
	if cur.Last == day || cur.Last == hazardbot.AddDays(day, -1) {
		return cur.Run, nil
	}
	return 0, nil
}

// weeklyScores is the grouped query under the leaderboard: correct answers
// per resident since fromDay, in one community or ("") all.
func weeklyScores(fromDay, communityID string) (string, []any) {
	q := "SELECT openid, SUM(correct) AS score, MIN(started_at) AS began FROM quiz_days WHERE day >= ?"
	args := []any{fromDay}
	if communityID != "" {
		q += " AND community_id = ?"
		args = append(args, communityID)
	}
	return q + " GROUP BY openid HAVING SUM(correct) > 0", args
}

// QuizLeaderboard returns the residents with the most correct answers
// since fromDay (a Monday, for the weekly board), in one community or ("")
// the whole sub-district; at most limit, best first. Equal scores share a
// rank; among them who started first is listed first.
func (s *Store) QuizLeaderboard(ctx context.Context, fromDay, communityID string, limit int) ([]hazardbot.QuizRank, error) {
	q, args := weeklyScores(fromDay, communityID)
	var rows []struct {
		OpenID string   `db:"openid"`
		Score  int      `db:"score"`
		Began  NullTime `db:"began"`
	}
	err := s.DB.SelectContext(ctx, &rows, q+" ORDER BY score DESC, began, openid LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("storage: quiz leaderboard: %w", err)
	}
	out := make([]hazardbot.QuizRank, len(rows))
	for i, r := range rows {
		out[i] = hazardbot.QuizRank{Rank: i + 1, OpenID: r.OpenID, Correct: r.Score}
		if i > 0 && r.Score == rows[i-1].Score {
			out[i].Rank = out[i-1].Rank
		}
	}
	return out, nil
}

// QuizRankOf is one resident's place on the same board as QuizLeaderboard;
// Rank 0 when they have no correct answer since fromDay.
func (s *Store) QuizRankOf(ctx context.Context, fromDay, communityID, openid string) (hazardbot.QuizRank, error) {
	r := hazardbot.QuizRank{OpenID: openid}
	q, args := weeklyScores(fromDay, communityID)
	err := s.DB.GetContext(ctx, &r.Correct, "SELECT COALESCE(SUM(t.score), 0) FROM ("+q+") AS t WHERE t.openid = ?",
		append(args, openid)...)
	if err != nil {
		return r, fmt.Errorf("storage: quiz rank: %w", err)
	}
	if r.Correct == 0 {
		return r, nil
	}
	err = s.DB.GetContext(ctx, &r.Rank, "SELECT COUNT(*) + 1 FROM ("+q+") AS t WHERE t.score > ?",
		append(args, r.Correct)...)
	if err != nil {
		return r, fmt.Errorf("storage: quiz rank: %w", err)
	}
	return r, nil
}

// QuizParticipation is one day's quiz activity in one community ("" for
// residents whose community is unknown).
type QuizParticipation struct {
	Day         string `db:"day"`
	CommunityID string `db:"community_id"`
	Residents   int    `db:"residents"` // who started the day's quiz
	Finished    int    `db:"finished"`  // who answered all of it
	Answers     int    `db:"answers"`
	Correct     int    `db:"correct"`
}

// QuizParticipationByDay returns the quiz activity of the days fromDay to
// toDay (inclusive, 2006-01-02 in Shanghai) by day and community, for the
// console.
func (s *Store) QuizParticipationByDay(ctx context.Context, fromDay, toDay string) ([]QuizParticipation, error) {
	var out []QuizParticipation
	err := s.DB.SelectContext(ctx, &out, `SELECT day, community_id, COUNT(*) AS residents,
		SUM(CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END) AS finished,
		SUM(answered) AS answers, SUM(correct) AS correct
		FROM quiz_days WHERE day BETWEEN ? AND ? GROUP BY day, community_id ORDER BY day, community_id`, fromDay, toDay)
	if err != nil {
		return nil, fmt.Errorf("storage: quiz participation: %w", err)
	}
	return out, nil
}

// MissedQuestion is how often a question was answered, and wrongly, in a
// period.
type MissedQuestion struct {
	QuestionID string `db:"question_id"`
	Answers    int    `db:"answers"`
	Wrong      int    `db:"wrong"`
}

// MostMissedQuestions returns the questions answered wrongly most often in
// the days fromDay to toDay (inclusive), at most limit, for the console to
// show what residents most need explained.
func (s *Store) MostMissedQuestions(ctx context.Context, fromDay, toDay string, limit int) ([]MissedQuestion, error) {
	var out []MissedQuestion
	err := s.DB.SelectContext(ctx, &out, `SELECT question_id, COUNT(*) AS answers,
		SUM(CASE WHEN correct THEN 0 ELSE 1 END) AS wrong
		FROM quiz_answers WHERE day BETWEEN ? AND ? GROUP BY question_id
		HAVING SUM(CASE WHEN correct THEN 0 ELSE 1 END) > 0
		ORDER BY wrong DESC, answers DESC, question_id LIMIT ?`, fromDay, toDay, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: most missed questions: %w", err)
	}
	return out, nil
}
