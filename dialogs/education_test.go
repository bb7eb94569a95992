package dialogs

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// eduHarness is the engine with the education features on a real SQLite
// store, an in-process session store and a clock the test moves.
type eduHarness struct {
	t         *testing.T
	e         *Engine
	c         *content.Content
	store     *storage.Store
	now       time.Time
	id        string
	community string
}

// monday9 is Monday 16 March 2026, 09:00 in Shanghai.
var monday9 = time.Date(2026, 3, 16, 1, 0, 0, 0, time.UTC)

func newEduHarness(t *testing.T) *eduHarness {
	t.Helper()
	h := &eduHarness{t: t, now: monday9, id: "o-edu-1", store: storagetest.OpenSQLite(t), c: content.MustLoadEmbedded()}
	h.e = &Engine{Sessions: storage.NewMemorySessions(func() time.Time { return h.now }),
		Content: func() *content.Content { return h.c }, Now: func() time.Time { return h.now },
		Log: slog.New(slog.DiscardHandler)}
	h.e.AddBasics()
	h.e.AddEducation(Education{Store: h.store, Awards: h.store, BaseURL: "https://hb.example.cn/",
		Community: func(ctx context.Context, openid string) (string, error) { return h.community, nil }})
	h.e.AddReports(h.store, 0)
	return h
}

func (h *eduHarness) as(openid string) *eduHarness { h.id = openid; return h }

func (h *eduHarness) say(text string) string {
	h.t.Helper()
	return h.send(Input{Kind: KindText, Text: text})
}

func (h *eduHarness) send(in Input) string {
	h.t.Helper()
	in.OpenID, in.At = h.id, h.now
	replies, err := h.e.Handle(context.Background(), in)
	if err != nil {
		h.t.Fatalf("Handle(%+v): %v", in, err)
	}
	var parts []string
	for _, r := range replies {
		parts = append(parts, r.Text)
	}
	return strings.Join(parts, "\n---\n")
}

// day is today's quiz as stored.
func (h *eduHarness) day() hazardbot.QuizDay {
	h.t.Helper()
	d, err := h.store.QuizDay(context.Background(), h.id, hazardbot.Day(h.now))
	if err != nil {
		h.t.Fatalf("quiz day: %v", err)
	}
	return d
}

// current is the question the quiz asks now, from the database.
func (h *eduHarness) current() content.Question {
	h.t.Helper()
	d := h.day()
	for _, it := range d.Items {
		if !slices.Contains(d.AnsweredIDs, it.ID) {
			q, ok := h.c.QuestionByID(it.ID)
			if !ok {
				h.t.Fatalf("question %s not in the bank", it.ID)
			}
			return q
		}
	}
	h.t.Fatal("no question left today")
	return content.Question{}
}

func (h *eduHarness) box(qid string) (int, string) {
	h.t.Helper()
	b, due, err := h.store.QuizBox(context.Background(), h.id, qid)
	storagetest.Must(h.t, err)
	return b, due
}

// rightAnswer is the answer as a resident might type it.
func rightAnswer(q content.Question) string { return strings.ToLower(q.Answer) }

func wrongAnswer(q content.Question) string {
	switch q.Type {
	case content.QuestionTrueFalse:
		if q.Answer == content.AnswerTrue {
			return "错"
		}
		return "对"
	case content.QuestionMultiple:
		if all := q.Letters(); all != q.Answer {
			return all
		}
		return q.Letters()[:2]
	}
	if q.Answer == "A" {
		return "B"
	}
	return "A"
}

// answer answers the current question rightly or not and returns the reply.
func (h *eduHarness) answer(right bool) (content.Question, string) {
	h.t.Helper()
	q := h.current()
	a := wrongAnswer(q)
	if right {
		a = rightAnswer(q)
	}
	return q, h.say(a)
}

func expectNot(t *testing.T, got string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(got, n) {
			t.Fatalf("reply %q\ncontains %q", got, n)
		}
	}
}

func TestDailyQuizFullDay(t *testing.T) {
	h := newEduHarness(t)
	got := h.say("每日答题")
	q := h.current()
	expect(t, got, "今天的5道安全题来啦", "第1/5题", q.Text, "请回复")
	if q.Type != content.QuestionTrueFalse {
		expect(t, got, "A. "+q.Options[0])
	}
	ids := map[string]bool{}
	for i := range 5 {
		right := i%2 == 0 // right, wrong, right, wrong, right
		q, got := h.answer(right)
		ids[q.ID] = true
		if right {
			expect(t, got, "✅ 答对了！+2积分", "解析："+q.Explanation)
		} else {
			expect(t, got, "❌ 正确答案是："+q.Answer, "解析："+q.Explanation, "过几天会再考您")
		}
		if i < 4 {
			expect(t, got, fmt.Sprintf("第%d/5题", i+2))
		} else {
			expect(t, got, "今天的题答完啦：答对3/5题，获得6积分。已连续答题1天，明天再来！", "答错的2道题")
		}
	}
	if len(ids) != 5 {
		t.Fatalf("%d different questions in a day", len(ids))
	}
	d := h.day()
	if !d.Finished || d.Answered != 5 || d.Correct != 3 || d.Points != 6 {
		t.Fatalf("stored day %+v", d)
	}
	if b, err := h.store.Balance(context.Background(), h.id); err != nil || b != 6 {
		t.Fatalf("balance %d, %v; want 6", b, err)
	}
	// Finished: the score and 明天再来, no more questions.
	got = h.say("答题")
	expect(t, got, "今天的5道题已经答完了：答对3题，获得6积分，已连续答题1天", "明天再来")
	expectNot(t, got, "第1/5题")
	expect(t, h.send(Input{Kind: KindEvent, Event: EventClick, Key: KeyQuiz}), "已经答完了")
	// An answer after the end is no quiz answer.
	expectNot(t, h.say("B"), "答对", "正确答案")

	// The next day (after midnight in Shanghai) brings new questions and
	// the streak grows.
	h.now = h.now.Add(15 * time.Hour) // Tuesday 00:00 in Shanghai
	expect(t, h.say("每日答题"), "今天的5道安全题来啦", "第1/5题")
	for range 5 {
		h.answer(true)
	}
	if d := h.day(); d.Correct != 5 || d.Points != 10 {
		t.Fatalf("day two %+v", d)
	}
	expect(t, h.say("每日答题"), "已连续答题2天")
}

func TestQuizPointsDailyCap(t *testing.T) {
	h := newEduHarness(t)
	h.c = content.MustLoadEmbedded()
	h.c.Points.Rules.QuizDailyCap = 5 // 2 + 2 + 1, then nothing
	h.say("每日答题")
	wants := []string{"+2积分", "+2积分", "+1积分", "今天的答题积分已满5分", "今天的答题积分已满5分"}
	for _, w := range wants {
		_, got := h.answer(true)
		expect(t, got, w)
	}
	if b, _ := h.store.Balance(context.Background(), h.id); b != 5 {
		t.Fatalf("balance %d, want the cap 5", b)
	}
	expect(t, h.say("每日答题"), "获得5积分")
}

func TestParseAnswer(t *testing.T) {
	tx := content.MustLoadEmbedded().Education.Quiz
	single := content.Question{Type: content.QuestionSingle, Options: []string{"甲", "乙", "丙", "丁"}, Answer: "B"}
	three := content.Question{Type: content.QuestionSingle, Options: []string{"甲", "乙", "丙"}, Answer: "C"}
	multi := content.Question{Type: content.QuestionMultiple, Options: []string{"甲", "乙", "丙", "丁"}, Answer: "ACD"}
	tf := content.Question{Type: content.QuestionTrueFalse, Answer: content.AnswerTrue}
	hintSingle := content.Fill(tx.HintSingle, "letters", "A/B/C/D")
	hintMulti := content.Fill(tx.HintMultiple, "letters", "A/B/C/D")
	for _, tc := range []struct {
		q          content.Question
		in         string
		want, hint string
	}{
		{single, "B", "B", ""},
		{single, "b", "B", ""},
		{single, "Ｂ", "B", ""},
		{single, "ｂ", "B", ""},
		{single, " B。", "B", ""},
		{single, "选B", "B", ""},
		{single, "我选 b！", "B", ""},
		{single, "答案是B", "B", ""},
		{single, "a", "A", ""}, // a wrong answer is still an answer
		{single, "BB", "B", ""},
		{single, "AB", "", tx.HintSingleMany},
		{single, "E", "", content.Fill(tx.HintRange, "letters", "A/B/C/D")},
		{three, "D", "", content.Fill(tx.HintRange, "letters", "A/B/C")},
		{single, "不知道", "", hintSingle},
		{single, "2", "", hintSingle},
		{single, "对", "", hintSingle},
		{single, "", "", hintSingle},
		{multi, "ACD", "ACD", ""},
		{multi, "acd", "ACD", ""},
		{multi, "a c d", "ACD", ""},
		{multi, "D,C,A", "ACD", ""},
		{multi, "C，A，D", "ACD", ""},
		{multi, "ＡＣＤ", "ACD", ""},
		{multi, "A、C、D", "ACD", ""},
		{multi, "A和C和D", "ACD", ""},
		{multi, "CAD", "ACD", ""},
		{multi, "AACD", "ACD", ""},
		{multi, "AC", "AC", ""},
		{multi, "ABCD", "ABCD", ""},
		{multi, "A", "", tx.HintMultiOne},
		{multi, "ACE", "", content.Fill(tx.HintRange, "letters", "A/B/C/D")},
		{multi, "都对", "", hintMulti},
		{tf, "对", "对", ""},
		{tf, "正确", "对", ""},
		{tf, "√", "对", ""},
		{tf, "✓", "对", ""},
		{tf, "T", "对", ""},
		{tf, "true", "对", ""},
		{tf, "对的！", "对", ""},
		{tf, "错", "错", ""},
		{tf, "错误", "错", ""},
		{tf, "×", "错", ""},
		{tf, "F", "错", ""},
		{tf, "ｆ", "错", ""},
		{tf, "不对", "错", ""},
		{tf, "B", "", tx.HintTrueFalse},
		{tf, "对错", "", tx.HintTrueFalse},
	} {
		t.Run(tc.q.Type+"/"+tc.in, func(t *testing.T) {
			got, hint := parseAnswer(tx, tc.q, tc.in)
			if got != tc.want || hint != tc.hint {
				t.Errorf("parseAnswer(%q) = %q, %q; want %q, %q", tc.in, got, hint, tc.want, tc.hint)
			}
		})
	}
}

// firstOfType starts quizzes day after day until one asks a question of
// the type first, so the transcript tests each type through the engine.
func (h *eduHarness) firstOfType(typ string) content.Question {
	h.t.Helper()
	for range 40 {
		h.say("每日答题")
		for range 5 {
			if q := h.current(); q.Type == typ {
				return q
			}
			h.answer(true)
		}
		h.now = h.now.Add(24 * time.Hour)
	}
	h.t.Fatalf("no %s question", typ)
	return content.Question{}
}

func TestQuizAnswerFormatsThroughTheEngine(t *testing.T) {
	for _, tc := range []struct {
		typ           string
		bad           []string // not understood: the hint replaces the question
		good          func(q content.Question) string
		correctAnswer bool
	}{
		{content.QuestionSingle, []string{"不知道", "AB", "E"}, func(q content.Question) string { return "选" + q.Answer + "。" }, true},
		{content.QuestionMultiple, []string{"A", "随便"}, func(q content.Question) string {
			r := []rune(strings.ToLower(q.Answer))
			slices.Reverse(r)
			return strings.Join(strings.Split(string(r), ""), "，")
		}, true},
		{content.QuestionTrueFalse, []string{"A", "也许"}, func(q content.Question) string {
			if q.Answer == content.AnswerTrue {
				return "√"
			}
			return "×"
		}, true},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			h := newEduHarness(t)
			q := h.firstOfType(tc.typ)
			for i, bad := range tc.bad {
				got := h.say(bad)
				expectNot(t, got, q.Text) // the hint replaces the question
				if hasHan(bad) {
					expect(t, got, "发送“菜单”")
				}
				if i == 2 {
					expect(t, got, "好像有点难住您了") // third miss: the way out
				}
				if h.current().ID != q.ID {
					t.Fatalf("%q moved the quiz on", bad)
				}
			}
			expect(t, h.say(tc.good(q)), "✅ 答对了")
		})
	}
}

func TestQuizResumesAfterInterruption(t *testing.T) {
	h := newEduHarness(t)
	h.say("每日答题")
	h.answer(true)
	h.answer(false)
	third := h.current()

	// Another feature in between: the quiz waits, and comes back as it was.
	expect(t, h.say("菜单"), "请回复功能名称")
	expect(t, h.say("安全知识"), "直接发问题给我")
	expect(t, h.say("每日答题"), "接着刚才的每日答题", "第3/5题", third.Text)

	// The session store forgets everything (a Redis restart): the database
	// still knows today's quiz.
	h.e.Sessions = storage.NewMemorySessions(func() time.Time { return h.now })
	got := h.say("每日答题")
	expect(t, got, "接着答今天的第3题（共5题）", "第3/5题", third.Text)
	expectNot(t, got, "今天的5道安全题来啦")

	// The idle timeout: the next answer is not taken, 继续 asks again.
	h.now = h.now.Add(40 * time.Minute)
	got = h.say(rightAnswer(third))
	expect(t, got, "每日答题已经30分钟没有继续")
	expectNot(t, got, "答对了")
	expect(t, h.say("继续"), "接着刚才的每日答题", third.Text)
	expect(t, h.say(rightAnswer(third)), "✅ 答对了", "第4/5题")

	// A day later than the session's idle keeping, the database resumes it.
	h.e.Sessions = storage.NewMemorySessions(func() time.Time { return h.now })
	h.now = h.now.Add(3 * time.Hour)
	expect(t, h.say("每日答题"), "接着答今天的第4题")
	if d := h.day(); d.Answered != 3 || d.Correct != 2 {
		t.Fatalf("day %+v", d)
	}
}

func TestQuizDayRollsOverAtShanghaiMidnight(t *testing.T) {
	h := newEduHarness(t)
	h.now = time.Date(2026, 3, 16, 15, 58, 0, 0, time.UTC) // 23:58 in Shanghai
	yesterday := hazardbot.Day(h.now)
	h.say("每日答题")
	h.answer(true)
	h.answer(true)
	h.now = h.now.Add(3 * time.Minute) // 00:01 on Tuesday
	got := h.say("A")
	expect(t, got, "新的一天开始了", "今天的5道安全题来啦", "第1/5题")
	expectNot(t, got, "答对了", "正确答案是")
	today := hazardbot.Day(h.now)
	if today == yesterday {
		t.Fatal("the clock did not cross midnight")
	}
	old, err := h.store.QuizDay(context.Background(), h.id, yesterday)
	storagetest.Must(t, err)
	if old.Answered != 2 || old.Finished {
		t.Fatalf("yesterday %+v", old)
	}
	for _, it := range h.day().Items {
		if slices.Contains(old.AnsweredIDs, it.ID) {
			t.Fatalf("%s answered rightly yesterday comes back today", it.ID)
		}
	}
	if n, _ := h.store.QuizStreak(context.Background(), h.id, today); n != 0 {
		t.Fatalf("an unfinished day counts in the streak: %d", n)
	}

	// A quiz paused before midnight and resumed after it says so first.
	h.now = time.Date(2026, 3, 17, 15, 59, 0, 0, time.UTC) // 23:59 on Tuesday
	h.say("菜单")
	h.now = h.now.Add(2 * time.Minute)
	expect(t, h.say("每日答题"), "昨天的题目已过期")
	expect(t, h.say("好"), "新的一天开始了", "今天的5道安全题来啦")
}

func TestSpacedRepetition(t *testing.T) {
	h := newEduHarness(t)
	day := func() string { return hazardbot.Day(h.now) }
	nextDay := func() { h.now = h.now.Add(24 * time.Hour) }
	play := func(miss string) (ids []string, reviewed []string) {
		got := h.say("每日答题")
		for range 5 {
			q := h.current()
			if strings.Contains(got, "第") && strings.Contains(got, "复习") && strings.Contains(got, q.Text) {
				reviewed = append(reviewed, q.ID)
			}
			ids = append(ids, q.ID)
			_, got = h.answer(q.ID != miss)
		}
		return ids, reviewed
	}

	// Day 1: the first question is missed.
	first := ""
	h.say("每日答题")
	first = h.current().ID
	h.say(wrongAnswer(h.current()))
	for range 4 {
		h.answer(true)
	}
	start := day()
	if b, due := h.box(first); b != 1 || due != hazardbot.AddDays(start, 1) {
		t.Fatalf("after a miss: box %d due %s", b, due)
	}

	// Day 2: it comes back first, as a review; answered rightly it moves
	// to box 2, due in 2 days.
	nextDay()
	ids, reviewed := play("")
	if ids[0] != first || !slices.Equal(reviewed, []string{first}) {
		t.Fatalf("day 2: questions %v, reviewed %v; want %s first, as a review", ids, reviewed, first)
	}
	if b, due := h.box(first); b != 2 || due != hazardbot.AddDays(start, 3) {
		t.Fatalf("after a right review: box %d due %s", b, due)
	}
	// Day 3: not due.
	nextDay()
	if ids, _ := play(""); slices.Contains(ids, first) {
		t.Fatalf("day 3 asks %s again: %v", first, ids)
	}
	// Day 4: due again; missed again, it goes back to box 1 for day 5.
	nextDay()
	ids, reviewed = play(first)
	if ids[0] != first || len(reviewed) != 1 {
		t.Fatalf("day 4: %v, reviewed %v", ids, reviewed)
	}
	if b, due := h.box(first); b != 1 || due != hazardbot.AddDays(day(), 1) {
		t.Fatalf("after a missed review: box %d due %s", b, due)
	}
	// A resident who skips days still gets it: due means due or overdue.
	h.now = h.now.Add(3 * 24 * time.Hour)
	if ids, _ := play(""); ids[0] != first {
		t.Fatalf("overdue review not first: %v", ids)
	}
}

func TestDrawQuestions(t *testing.T) {
	bank := content.MustLoadEmbedded().Quiz
	topicOf := map[string]string{}
	for _, q := range bank {
		topicOf[q.ID] = q.Topic
	}
	h := hazardbot.QuizHistory{LastSeen: map[string]string{}, Boxes: map[string]int{}}

	// New resident: five new questions from five topics.
	got := drawQuestions(bank, h, "2026-03-16", 5)
	topics := map[string]bool{}
	for _, it := range got {
		topics[topicOf[it.ID]] = true
		if it.Box != 0 {
			t.Errorf("new question %s in box %d", it.ID, it.Box)
		}
	}
	if len(got) != 5 || len(topics) != 5 {
		t.Fatalf("draw %v: %d topics", got, len(topics))
	}
	// Another day starts elsewhere in the rotation.
	if other := drawQuestions(bank, h, "2026-03-17", 5); slices.Equal(other, got) {
		t.Errorf("two days draw the same: %v", got)
	}

	// Due reviews first, in the order given, and the topics seen least come
	// next.
	for _, it := range got {
		h.LastSeen[it.ID] = "2026-03-16"
	}
	h.Due = []hazardbot.QuizItem{{ID: got[3].ID, Box: 2}, {ID: "gone-from-the-bank", Box: 1}, {ID: got[1].ID, Box: 1}}
	h.Boxes[got[3].ID], h.Boxes[got[1].ID] = 2, 1
	next := drawQuestions(bank, h, "2026-03-18", 5)
	if next[0] != h.Due[0] || next[1] != h.Due[2] {
		t.Fatalf("reviews not first: %v", next)
	}
	for _, it := range next[2:] {
		if topics[topicOf[it.ID]] {
			t.Errorf("%s is from a topic seen already while others are not", it.ID)
		}
	}

	// Everything seen: the questions seen longest ago, all different.
	for i, q := range bank {
		h.LastSeen[q.ID] = hazardbot.AddDays("2026-01-01", i%30)
	}
	h.Due = nil
	old := drawQuestions(bank, h, "2026-03-19", 5)
	seen := map[string]bool{}
	for _, it := range old {
		if h.LastSeen[it.ID] != "2026-01-01" || seen[it.ID] {
			t.Errorf("old draw %v", old)
		}
		seen[it.ID] = true
	}
	// A small bank gives what it has, never a question twice.
	if small := drawQuestions(bank[:3], hazardbot.QuizHistory{}, "2026-03-19", 5); len(small) != 3 {
		t.Errorf("small bank: %v", small)
	}
}

func TestWeeklyLeaderboard(t *testing.T) {
	h := newEduHarness(t)
	play := func(openid, community string, right int) {
		h.as(openid).community = community
		h.say("每日答题")
		for i := range 5 {
			h.answer(i < right)
		}
	}
	c1 := h.c.Grids.Communities()[0] // 东湖社区
	play("o-lb-a", c1.ID, 4)
	play("o-lb-b", c1.ID, 5)
	play("o-lb-c", "", 3)
	play("o-lb-d", "c2", 5)

	h.as("o-lb-a").community = c1.ID
	got := h.say("排行榜")
	expect(t, got, "本周答题排行 · "+c1.Name,
		"1. "+hazardbot.MaskedResident("o-lb-b")+"  答对5题",
		"2. "+hazardbot.MaskedResident("o-lb-a")+"（您）  答对4题",
		"您本周答对4题，排第2名", "名字已隐去")
	expectNot(t, got, "o-lb", hazardbot.MaskedResident("o-lb-c"), hazardbot.MaskedResident("o-lb-d"))

	// Community unknown: the whole sub-district.
	h.as("o-lb-c").community = ""
	got = h.say("答题排行")
	expect(t, got, "本周答题排行 · 全街道", "1. "+hazardbot.MaskedResident("o-lb-b"), "您本周答对3题，排第4名")

	// Someone who has not played this week.
	h.as("o-lb-new").community = c1.ID
	expect(t, h.say("排行榜"), "您本周还没有答题")

	// Next Monday starts a new week.
	h.now = h.now.Add(7 * 24 * time.Hour)
	expect(t, h.say("排行榜"), "本周还没有人答题")
}

func TestShelterFinder(t *testing.T) {
	h := newEduHarness(t)
	s01 := h.c.Shelters[0]
	expect(t, h.say("避难场所"), "请发送您的位置")
	expect(t, h.say("东湖路"), "需要一条位置消息")
	got := h.send(Input{Kind: KindLocation, Lat: s01.Lat + 0.001, Lng: s01.Lng, Label: "东湖路"})
	if len(got) > maxReplySize {
		t.Fatalf("the answer is %d bytes, more than one message holds", len(got))
	}
	expect(t, got, "离您最近的3处应急避难场所", "1. "+s01.Name, "距您110米", "地址："+s01.Address,
		"可容纳：约6000人", "设施：应急供水、应急厕所", "演示数据", "119")
	if strings.Count(got, "地址：") != 3 {
		t.Fatalf("want 3 shelters: %q", got)
	}
	// The flow is over: a location now is the report flow's.
	expectNot(t, h.send(Input{Kind: KindLocation, Lat: s01.Lat, Lng: s01.Lng}), "离您最近")

	// The menu's location picker: the answer comes at once.
	h.as("o-edu-2")
	got = h.send(Input{Kind: KindEvent, Event: EventLocationSelect, Key: KeyShelter, Lat: s01.Lat, Lng: s01.Lng, Label: "x"})
	expect(t, got, "1. "+s01.Name+"（公园）· 距您0米", "uri.amap.com/marker?position=103.848700,36.067610")

	// Far from the sub-district: said so.
	h.as("o-edu-3")
	got = h.send(Input{Kind: KindEvent, Event: EventLocationSelect, Key: KeyShelter, Lat: 39.9042, Lng: 116.4074})
	expect(t, got, "离天水郡街道较远", "公里")
	if len(got) > maxReplySize {
		t.Fatalf("the answer is %d bytes, more than one message holds", len(got))
	}
}

func TestNearestShelters(t *testing.T) {
	shelters := []content.Shelter{
		{ID: "a", Lat: 36.0600, Lng: 103.8400},
		{ID: "b", Lat: 36.0700, Lng: 103.8400},
		{ID: "c", Lat: 36.0600, Lng: 103.8600},
		{ID: "d", Lat: 36.1000, Lng: 103.9000},
	}
	got := NearestShelters(shelters, 36.0610, 103.8410, 3)
	var ids []string
	for _, d := range got {
		ids = append(ids, d.Shelter.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("nearest %v", ids)
	}
	if len(NearestShelters(shelters, 0, 0, 10)) != 4 {
		t.Error("fewer shelters than asked: all of them")
	}
	for _, tc := range []struct {
		lat1, lng1, lat2, lng2, want, tol float64
	}{
		{36, 103, 37, 103, 111195, 1},                           // one degree of latitude
		{0, 0, 0, 1, 111195, 1},                                 // one degree of longitude at the equator
		{36.0600, 103.8400, 36.0600, 103.8400, 0, 0},            // the same point
		{39.9042, 116.4074, 31.2304, 121.4737, 1067000, 2000},   // Beijing to Shanghai
		{36.067610, 103.848700, 36.059450, 103.853250, 995, 10}, // two demo shelters
	} {
		if d := Haversine(tc.lat1, tc.lng1, tc.lat2, tc.lng2); math.Abs(d-tc.want) > tc.tol {
			t.Errorf("Haversine(%v,%v → %v,%v) = %.0f m, want %.0f ± %.0f", tc.lat1, tc.lng1, tc.lat2, tc.lng2, d, tc.want, tc.tol)
		}
	}
	tx := content.MustLoadEmbedded().Education.Shelter
	for m, want := range map[float64]string{0: "0米", 4: "0米", 846: "850米", 999: "1000米", 1000: "1公里", 1260: "1.3公里", 25499: "25.5公里"} {
		if got := formatDistance(tx, m); got != want {
			t.Errorf("formatDistance(%v) = %q, want %q", m, got, want)
		}
	}
}

// knowledgeCase is one question of testdata/knowledge_questions.yaml.
type knowledgeCase struct {
	Q    string `yaml:"q"`
	Want string `yaml:"want"`
}

func TestKnowledgeAccuracy(t *testing.T) {
	data, err := os.ReadFile("testdata/knowledge_questions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []knowledgeCase
	if err := yaml.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	c := content.MustLoadEmbedded()
	for _, kc := range cases {
		if _, ok := c.ArticleByID(kc.Want); kc.Want != "" && !ok {
			t.Fatalf("%q wants %q, which is no article", kc.Q, kc.Want)
		}
	}
	ix := newKnowledgeIndex(c.Knowledge)
	right, offTopic, refused, wrongArticle := 0, 0, 0, 0
	for _, kc := range cases {
		m, ok := ix.Best(kc.Q)
		got := ""
		if ok {
			got = m.Article.ID
		}
		switch {
		case got == kc.Want:
			right++
		case kc.Want == "":
			t.Errorf("off-topic %q answered with %s (score %.1f)", kc.Q, got, m.Score)
		case got == "":
			refused++
			t.Logf("refused %q (want %s)", kc.Q, kc.Want)
		default:
			wrongArticle++
			t.Logf("%q → %s (score %.1f), want %s", kc.Q, got, m.Score, kc.Want)
		}
		if kc.Want == "" {
			offTopic++
		}
	}
	acc := float64(right) / float64(len(cases))
	fmt.Printf("knowledge top-1 accuracy: %d/%d = %.1f%% (%d off-topic questions; of the misses %d refused, %d a wrong article)\n",
		right, len(cases), 100*acc, offTopic, refused, wrongArticle)
	if len(cases) < 60 || acc < 0.85 {
		t.Fatalf("top-1 accuracy %.1f%% on %d questions, want at least 85%% on 60", 100*acc, len(cases))
	}
}

func TestKnowledgeInTheChat(t *testing.T) {
	h := newEduHarness(t)
	// A question about a danger: the danger's advice, then the article,
	// not a hazard report.
	got := h.say("燃气泄漏怎么办")
	expect(t, got, "闻到燃气味请马上", "📖 闻到燃气味、燃气泄漏怎么办", "关闭燃气阀门", "https://hb.example.cn/k/gas-leak")
	expectNot(t, got, "隐患类别")
	expect(t, h.say("电动车能在楼道里充电吗"), "电动自行车能在楼道里充电吗", "/k/ebike-charging")
	expect(t, h.say("下暴雨地下车库进水了"), "/k/flood-garage")
	// No good answer: said so, with the way on, never a wrong article.
	got = h.say("今天股票涨了吗")
	expect(t, got, "暂时没有找到合适的答案", "菜单", "119")
	expectNot(t, got, "/k/")
	// Too short to be a question: the general fallback.
	expect(t, h.say("嗯嗯"), "没太明白")
	// The topics.
	expect(t, h.say("安全知识"), "燃气泄漏", "直接发问题给我")
	expect(t, h.send(Input{Kind: KindEvent, Event: EventClick, Key: KeyKnowledge}), "直接发问题给我")
	// Telling of a danger, not asking, still starts an urgent report.
	got = h.say("楼下着火了")
	expect(t, got, "119")
	expectNot(t, got, "/k/")
}

func TestEducationMenuKeysAreHandled(t *testing.T) {
	h := newEduHarness(t)
	for _, k := range []string{KeyQuiz, KeyKnowledge, KeyShelter} {
		if !slices.Contains(h.c.Menu.Keys(), k) {
			t.Errorf("menu has no %s", k)
		}
		if !h.e.HandlesKey(k) {
			t.Errorf("%s is not handled", k)
		}
	}
}

func TestFormatQuestion(t *testing.T) {
	tx := content.MustLoadEmbedded().Education.Quiz
	q := content.Question{Type: content.QuestionTrueFalse, Topic: "雷电", Text: "雷雨天可以在大树下避雨。", Answer: "错"}
	got := formatQuestion(tx, q, 2, 5, tx.Review)
	want := "第2/5题 · 判断题 · 雷电 · 复习\n雷雨天可以在大树下避雨。\n请回复“对”或“错”"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	q = content.Question{Type: content.QuestionMultiple, Topic: "燃气", Text: "哪些做法对？", Options: []string{"甲", "乙", "丙"}, Answer: "AB"}
	got = formatQuestion(tx, q, 1, 5, "")
	want = "第1/5题 · 多选题 · 燃气\n哪些做法对？\nA. 甲\nB. 乙\nC. 丙\n请回复所有正确选项的字母，如“AC”"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestKnowledgeAnswerWithoutPublicURL(t *testing.T) {
	k := &knowledge{}
	texts, ok := k.ask(&Ctx{Context: context.Background(), Content: content.MustLoadEmbedded()}, "干粉灭火器怎么用")
	got := strings.Join(texts, "\n")
	if !ok {
		t.Fatal("no answer")
	}
	expect(t, got, "📖 灭火器怎么用", "安全知识")
	expectNot(t, got, "/k/", "全文")
}

// TestKnowledgeEverydayQuestions is a second set, written apart from the
// test set: everyday requests the account will get that are not about
// safety must get no article, and other phrasings of safety questions the
// right one.
func TestKnowledgeEverydayQuestions(t *testing.T) {
	ix := newKnowledgeIndex(content.MustLoadEmbedded().Knowledge)
	for _, q := range []string{"今天中午吃什么", "物业费怎么交", "小区停车位怎么申请", "孩子上小学怎么报名", "垃圾分类怎么分",
		"养老金什么时候发", "医保卡丢了怎么补办", "楼上装修太吵了", "晚上有广场舞吗", "街道办电话多少", "帮我查一下公交", "最近有什么活动"} {
		if m, ok := ix.Best(q); ok {
			t.Errorf("%q answered with %s (score %.1f)", q, m.Article.ID, m.Score)
		}
	}
	right := 0
	cases := []knowledgeCase{
		{"天然气味道很重怎么处理", "gas-leak"}, {"电瓶车放在家里充电安全吗", "ebike-charging"},
		{"老人被鱼刺卡住了", "choking-heimlich"}, {"开车遇到积水要不要冲过去", "flooded-road-driving"},
		{"地下停车场被水淹了", "flood-garage"}, {"暴雨预警是什么颜色最严重", "warning-colors"},
		{"煤炉取暖晚上要开窗吗", "co-poisoning"}, {"胸外按压每分钟多少次", "cpr-adult"},
		{"楼道被杂物堵住了", "fire-exit-blocked"}, {"灭火器过期了还能用吗", "fire-extinguisher"},
		{"人被困在电梯里", "elevator-trapped"}, {"遇到泥石流怎么逃", "landslide-debris-flow"},
		{"高温天怎么防中暑", "heat-stroke"}, {"被烫伤起泡了", "burns-scalds"}, {"有人触电倒地", "electric-shock"},
	}
	for _, kc := range cases {
		if m, ok := ix.Best(kc.Q); ok && m.Article.ID == kc.Want {
			right++
		} else {
			t.Logf("%q → %s, want %s", kc.Q, m.Article.ID, kc.Want)
		}
	}
	fmt.Printf("knowledge, everyday phrasings: %d/%d right, %d off-topic refused\n", right, len(cases), 12)
	if float64(right) < 0.85*float64(len(cases)) {
		t.Fatalf("%d/%d right", right, len(cases))
	}
}
