package storage_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// mustV fails the test on err, else returns v: mustV(f())(t).
func mustV[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		storagetest.Must(t, err)
		return v
	}
}

func rank(r int, openid string, correct int) hazardbot.QuizRank {
	return hazardbot.QuizRank{Rank: r, OpenID: openid, Correct: correct}
}

func quizDay(openid, day, community string, ids ...string) hazardbot.QuizDay {
	d := hazardbot.QuizDay{OpenID: openid, Day: day, CommunityID: community, StartedAt: t0}
	for _, id := range ids {
		d.Items = append(d.Items, hazardbot.QuizItem{ID: id})
	}
	return d
}

// answer records an answer to a question of day and applies the Leitner
// rule to it, as the quiz does.
func answer(t *testing.T, s *storage.Store, openid, day, qid string, seq int, correct bool) bool {
	t.Helper()
	box, _, err := s.QuizBox(context.Background(), openid, qid)
	storagetest.Must(t, err)
	nb, due := hazardbot.NextBox(box, correct, day)
	points := 0
	if correct {
		points = 2
	}
	ok, err := s.RecordQuizAnswer(context.Background(), hazardbot.QuizAnswer{OpenID: openid, Day: day, QuestionID: qid,
		Seq: seq, Answer: "A", Correct: correct, Points: points, Box: nb, DueDay: due, At: t0})
	storagetest.Must(t, err)
	return ok
}

func TestQuizDayStartsOnceAndCountsAnswers(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		if _, err := s.QuizDay(ctx, "oQuiz", "2025-03-14"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("QuizDay before start: %v", err)
		}
		first, err := s.StartQuizDay(ctx, quizDay("oQuiz", "2025-03-14", "c1", "a", "b", "c"))
		storagetest.Must(t, err)
		// A second start the same day (another tap, another instance)
		// gets the questions already drawn.
		again, err := s.StartQuizDay(ctx, quizDay("oQuiz", "2025-03-14", "c1", "x", "y", "z"))
		storagetest.Must(t, err)
		if !reflect.DeepEqual(first, again) || first.Items[0].ID != "a" || first.CommunityID != "c1" || !first.StartedAt.Equal(t0) {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		// The community is kept once known, learnt when it was not.
		if d := mustV(s.StartQuizDay(ctx, quizDay("oQuiz", "2025-03-14", "c2", "x")))(t); d.CommunityID != "c1" {
			t.Fatalf("community changed to %q", d.CommunityID)
		}
		mustV(s.StartQuizDay(ctx, quizDay("oLate", "2025-03-14", "", "x")))(t)
		if d := mustV(s.StartQuizDay(ctx, quizDay("oLate", "2025-03-14", "c3", "y")))(t); d.CommunityID != "c3" || d.Items[0].ID != "x" {
			t.Fatalf("late community: %+v", d)
		}
		if !answer(t, s, "oQuiz", "2025-03-14", "a", 0, true) || !answer(t, s, "oQuiz", "2025-03-14", "b", 1, false) {
			t.Fatal("answers not recorded")
		}
		if answer(t, s, "oQuiz", "2025-03-14", "b", 1, true) {
			t.Fatal("a repeated answer was recorded")
		}
		d, err := s.QuizDay(ctx, "oQuiz", "2025-03-14")
		storagetest.Must(t, err)
		if d.Answered != 2 || d.Correct != 1 || d.Points != 2 || d.Finished || !reflect.DeepEqual(d.AnsweredIDs, []string{"a", "b"}) {
			t.Fatalf("day %+v", d)
		}
		// An answer to a day that was never started is an error, and leaves
		// nothing behind.
		_, err = s.RecordQuizAnswer(ctx, hazardbot.QuizAnswer{OpenID: "oQuiz", Day: "2025-03-15", QuestionID: "a", At: t0})
		if err == nil {
			t.Fatal("answer without a day was accepted")
		}
		if _, err := s.StartQuizDay(ctx, quizDay("oQuiz", "2025-03-16", "")); err == nil {
			t.Fatal("a day without questions was accepted")
		}
	})
}

func TestConcurrentQuizStartsAgree(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		var wg sync.WaitGroup
		got := make([]hazardbot.QuizDay, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := s.StartQuizDay(context.Background(), quizDay("oRace", "2025-03-14", "", string(rune('a'+i))))
				if err != nil {
					t.Error(err)
				}
				got[i] = d
			}()
		}
		wg.Wait()
		for _, d := range got[1:] {
			if d.Items[0].ID != got[0].Items[0].ID {
				t.Fatalf("starts disagree: %v vs %v", d.Items, got[0].Items)
			}
		}
	})
}

func TestLeitnerScheduleInStore(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		day := "2025-03-14"
		mustV(s.StartQuizDay(ctx, quizDay("oL", day, "", "q1", "q2")))(t)
		answer(t, s, "oL", day, "q1", 0, false) // → box 1, due the next day
		answer(t, s, "oL", day, "q2", 1, true)  // right at first sight: no review
		due := func(day string) []hazardbot.QuizItem {
			h, err := s.QuizHistory(ctx, "oL", day)
			storagetest.Must(t, err)
			if h.LastSeen["q1"] == "" || h.LastSeen["q2"] == "" || h.Boxes["q2"] != 0 || h.Boxes["q1"] == 0 {
				t.Fatalf("last seen %v, boxes %v", h.LastSeen, h.Boxes)
			}
			return h.Due
		}
		if d := due(day); len(d) != 0 {
			t.Fatalf("due the same day: %v", d)
		}
		// Each right answer in box n moves q1 to n+1, due 2, 4, 8, 16 days
		// later; a right answer in box 5 retires it.
		wantGap := []int{1, 2, 4, 8, 16}
		for box := 1; box <= hazardbot.LeitnerBoxes; box++ {
			gotBox, dueDay, err := s.QuizBox(ctx, "oL", "q1")
			storagetest.Must(t, err)
			if gotBox != box || dueDay != hazardbot.AddDays(day, wantGap[box-1]) {
				t.Fatalf("box %d due %s, want box %d due %s", gotBox, dueDay, box, hazardbot.AddDays(day, wantGap[box-1]))
			}
			if d := due(hazardbot.AddDays(dueDay, -1)); len(d) != 0 {
				t.Fatalf("due a day early: %v", d)
			}
			if d := due(dueDay); len(d) != 1 || d[0] != (hazardbot.QuizItem{ID: "q1", Box: box}) {
				t.Fatalf("due on %s: %v", dueDay, d)
			}
			day = dueDay
			mustV(s.StartQuizDay(ctx, quizDay("oL", day, "", "q1")))(t)
			answer(t, s, "oL", day, "q1", 0, true)
		}
		if box, dueDay, _ := s.QuizBox(ctx, "oL", "q1"); box != hazardbot.LeitnerBoxes+1 || dueDay != "" {
			t.Fatalf("after box 5: box %d due %q", box, dueDay)
		}
		if d := due(hazardbot.AddDays(day, 100)); len(d) != 0 {
			t.Fatalf("a learned question is due: %v", d)
		}
	})
}

func TestQuizStreaks(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		steps := []struct {
			day        string
			want, best int
		}{
			{"2025-03-10", 1, 1},
			{"2025-03-11", 2, 2},
			{"2025-03-11", 2, 2}, // finished again: counted once
			{"2025-03-12", 3, 3},
			{"2025-03-14", 1, 3}, // a day missed
			{"2025-03-15", 2, 3},
		}
		for _, st := range steps {
			mustV(s.StartQuizDay(ctx, quizDay("oS", st.day, "", "q")))(t)
			n, err := s.FinishQuizDay(ctx, "oS", st.day, t0)
			storagetest.Must(t, err)
			if n != st.want {
				t.Fatalf("%s: streak %d, want %d", st.day, n, st.want)
			}
		}
		for day, want := range map[string]int{"2025-03-15": 2, "2025-03-16": 2, "2025-03-17": 0} {
			if n, err := s.QuizStreak(ctx, "oS", day); err != nil || n != want {
				t.Errorf("streak seen on %s: %d %v, want %d", day, n, err, want)
			}
		}
		if n, _ := s.QuizStreak(ctx, "oNobody", "2025-03-15"); n != 0 {
			t.Errorf("streak of a stranger: %d", n)
		}
		d, err := s.QuizDay(ctx, "oS", "2025-03-15")
		storagetest.Must(t, err)
		if !d.Finished {
			t.Error("day not marked finished")
		}
	})
}

func TestQuizLeaderboardAndStats(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		// A week from Monday 2025-03-10, and the Sunday before it.
		play := func(openid, day, community string, results ...bool) {
			d := quizDay(openid, day, community, "q1", "q2", "q3")
			d.StartedAt = t0.Add(time.Duration(len(openid)) * time.Minute)
			mustV(s.StartQuizDay(ctx, d))(t)
			for i, ok := range results {
				answer(t, s, openid, day, d.Items[i].ID, i, ok)
			}
			if len(results) == len(d.Items) {
				mustV(s.FinishQuizDay(ctx, openid, day, t0))(t)
			}
		}
		play("oA", "2025-03-09", "east", true, true, true) // last week: not counted
		play("oA", "2025-03-10", "east", true, false, true)
		play("oA", "2025-03-11", "east", true, true, false)
		play("oBB", "2025-03-10", "east", true, true, true)
		play("oCCC", "2025-03-12", "west", true, true, true)
		play("oDDDD", "2025-03-12", "west", false, false)
		play("oEEEEE", "2025-03-12", "", true)

		board, err := s.QuizLeaderboard(ctx, "2025-03-10", "", 10)
		storagetest.Must(t, err)
		want := []hazardbot.QuizRank{rank(1, "oA", 4), rank(2, "oBB", 3), rank(2, "oCCC", 3), rank(4, "oEEEEE", 1)}
		if !reflect.DeepEqual(board, want) {
			t.Fatalf("overall board %v, want %v", board, want)
		}
		board, err = s.QuizLeaderboard(ctx, "2025-03-10", "west", 10)
		storagetest.Must(t, err)
		if !reflect.DeepEqual(board, []hazardbot.QuizRank{rank(1, "oCCC", 3)}) {
			t.Fatalf("west board %v", board)
		}
		if board, _ := s.QuizLeaderboard(ctx, "2025-03-10", "", 2); len(board) != 2 {
			t.Fatalf("limit 2: %v", board)
		}
		for _, tc := range []struct {
			openid, community string
			want              hazardbot.QuizRank
		}{
			{"oA", "", rank(1, "oA", 4)},
			{"oCCC", "", rank(2, "oCCC", 3)},
			{"oCCC", "west", rank(1, "oCCC", 3)},
			{"oDDDD", "", rank(0, "oDDDD", 0)},
			{"oNobody", "", rank(0, "oNobody", 0)},
		} {
			got, err := s.QuizRankOf(ctx, "2025-03-10", tc.community, tc.openid)
			storagetest.Must(t, err)
			if got != tc.want {
				t.Errorf("rank of %s in %q: %v, want %v", tc.openid, tc.community, got, tc.want)
			}
		}

		part, err := s.QuizParticipationByDay(ctx, "2025-03-10", "2025-03-12")
		storagetest.Must(t, err)
		wantPart := []storage.QuizParticipation{
			{Day: "2025-03-10", CommunityID: "east", Residents: 2, Finished: 2, Answers: 6, Correct: 5},
			{Day: "2025-03-11", CommunityID: "east", Residents: 1, Finished: 1, Answers: 3, Correct: 2},
			{Day: "2025-03-12", CommunityID: "", Residents: 1, Finished: 0, Answers: 1, Correct: 1},
			{Day: "2025-03-12", CommunityID: "west", Residents: 2, Finished: 1, Answers: 5, Correct: 3},
		}
		if !reflect.DeepEqual(part, wantPart) {
			t.Fatalf("participation\n%+v\nwant\n%+v", part, wantPart)
		}
		missed, err := s.MostMissedQuestions(ctx, "2025-03-10", "2025-03-12", 10)
		storagetest.Must(t, err)
		wantMissed := []storage.MissedQuestion{{QuestionID: "q2", Answers: 5, Wrong: 2}, {QuestionID: "q1", Answers: 6, Wrong: 1}, {QuestionID: "q3", Answers: 4, Wrong: 1}}
		if !reflect.DeepEqual(missed, wantMissed) {
			t.Fatalf("missed %+v, want %+v", missed, wantMissed)
		}
	})
}
