package dialogs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"hazardbot"
	"hazardbot/content"
)

// The daily quiz: a few questions a Shanghai day, drawn when the day's quiz
// starts and kept in the database, so that an interrupted quiz resumes with
// the same questions even after the session is gone. Questions due for
// Leitner review come first, then new ones, rotating through the topics.

const quizFlow = "quiz"

type quiz struct{ Education }

// quizState is today's quiz as the conversation holds it; the database has
// the same and is the source of truth when the session is lost.
type quizState struct {
	Day      string               `json:"day"`
	Items    []hazardbot.QuizItem `json:"items"`
	Answered []string             `json:"answered,omitempty"`
	Correct  int                  `json:"correct,omitempty"`
	Points   int                  `json:"points,omitempty"`
	Streak   int                  `json:"streak,omitempty"`
	Finished bool                 `json:"finished,omitempty"`
}

// Effects of the quiz.
type (
	quizLoad   struct{}                         // start or resume today's quiz
	quizRecord struct{ A hazardbot.QuizAnswer } // store an answer, award its points
	quizFinish struct{}                         // close the day, count the streak
)

// current is the next question to ask: the first drawn one not yet
// answered that the bank still has (a content reload may drop a question).
func (s *quizState) current(c *content.Content) (int, content.Question, bool) {
	for i, it := range s.Items {
		if slices.Contains(s.Answered, it.ID) {
			continue
		}
		if q, ok := c.QuestionByID(it.ID); ok {
			return i, q, true
		}
	}
	return 0, content.Question{}, false
}

// total is the number of questions today's quiz has for the resident.
func (s *quizState) total(c *content.Content) int {
	n := len(s.Answered)
	for _, it := range s.Items {
		if _, ok := c.QuestionByID(it.ID); ok && !slices.Contains(s.Answered, it.ID) {
			n++
		}
	}
	return n
}

func (q *quiz) flow() *Flow[quizState] {
	return &Flow[quizState]{
		Name: quizFlow, Title: "每日答题", Version: 1, First: "answer",
		Steps: map[string]Step[quizState]{
			"answer": {Ask: q.ask, Handle: q.handle},
		},
		Begin: func(c *Ctx, s *quizState, in Input) Result {
			return Result{Effects: []any{quizLoad{}}, Next: NextMissing}
		},
		Apply: q.apply,
		Next: func(c *Ctx, s *quizState) string {
			if _, _, ok := s.current(c.Content); ok && !s.Finished {
				return "answer"
			}
			return ""
		},
	}
}

func (q *quiz) ask(c *Ctx, s *quizState) string {
	t := c.Content.Education.Quiz
	if s.Day != hazardbot.Day(c.Now) {
		return t.StaleDay
	}
	i, qu, ok := s.current(c.Content)
	if !ok {
		return ""
	}
	review := ""
	if b := s.Items[i].Box; b >= 1 && b <= hazardbot.LeitnerBoxes {
		review = t.Review
	}
	return formatQuestion(t, qu, len(s.Answered)+1, s.total(c.Content), review)
}

// formatQuestion words a question with its options and how to answer it.
func formatQuestion(t content.QuizTexts, q content.Question, n, count int, review string) string {
	kind, how := t.KindSingle, content.Fill(t.HowSingle, "letters", slashLetters(q))
	var opts []string
	switch q.Type {
	case content.QuestionMultiple:
		kind, how = t.KindMultiple, content.Fill(t.HowMultiple, "letters", slashLetters(q))
	case content.QuestionTrueFalse:
		kind, how = t.KindTrueFalse, t.HowTrueFalse
	}
	for i, o := range q.Options {
		opts = append(opts, fmt.Sprintf("%c. %s", 'A'+i, o))
	}
	text := content.Fill(t.Question, "n", strconv.Itoa(n), "count", strconv.Itoa(count), "kind", kind,
		"topic", q.Topic, "review", review, "question", q.Text, "options", strings.Join(opts, "\n"), "how", how)
	// A true/false question has no options: no blank line in their place.
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func slashLetters(q content.Question) string {
	return strings.Join(strings.Split(q.Letters(), ""), "/")
}

// handle takes an answer: feedback and the explanation at once, the next
// question or, after the last one, the score.
func (q *quiz) handle(c *Ctx, s *quizState, in Input) Result {
	e := c.Content.Education
	t := e.Quiz
	if s.Day != hazardbot.Day(c.Now) {
		// Midnight passed (in Shanghai) since the question was asked:
		// yesterday's quiz is over, today's starts.
		return Result{Say: []string{t.NewDay}, Effects: []any{quizLoad{}}, Next: NextMissing}
	}
	i, qu, ok := s.current(c.Content)
	if !ok {
		return Result{Effects: []any{quizLoad{}}, Next: NextMissing}
	}
	ans, hint := parseAnswer(t, qu, in.Text)
	if in.Kind != KindText && in.Kind != KindVoice {
		ans, hint = "", formatHint(t, qu)
	}
	if hint != "" {
		if hasHan(in.Text) && hint == formatHint(t, qu) {
			// Words, not an answer: perhaps a request, which words inside a
			// flow do not reach.
			hint += "\n" + t.HintAside
		}
		return Result{Hint: hint}
	}
	right := ans == qu.Answer
	box, due := hazardbot.NextBox(s.Items[i].Box, right, s.Day)
	points := 0
	var say string
	if right {
		rules := c.Content.Points.Rules
		points = max(0, min(rules.QuizPerCorrect, rules.QuizDailyCap-s.Points))
		note := ""
		switch {
		case points > 0:
			note = content.Fill(t.PointsEarned, "points", strconv.Itoa(points))
		case rules.QuizPerCorrect > 0:
			note = content.Fill(t.PointsCapped, "cap", strconv.Itoa(rules.QuizDailyCap))
		}
		say = content.Fill(t.Right, "points", note, "explanation", qu.Explanation)
		s.Correct++
	} else {
		say = content.Fill(t.Wrong, "answer", showAnswer(qu), "explanation", qu.Explanation)
	}
	s.Answered = append(s.Answered, qu.ID)
	s.Points += points
	a := hazardbot.QuizAnswer{OpenID: c.OpenID, Day: s.Day, QuestionID: qu.ID, Seq: i, Answer: ans, Correct: right,
		Points: points, Box: box, DueDay: due, At: c.Now}
	res := Result{Say: []string{say}, Effects: []any{quizRecord{a}}, Next: "answer"}
	if _, _, more := s.current(c.Content); !more {
		res.Effects = append(res.Effects, quizFinish{})
		res.Next, res.Done = "", true
	}
	return res
}

// showAnswer is the right answer as feedback shows it: B（盖上锅盖…）for
// single choice, the letters for multiple choice, 对 or 错.
func showAnswer(q content.Question) string {
	if q.Type == content.QuestionSingle && len(q.Answer) == 1 {
		return q.Answer + "（" + q.Options[q.Answer[0]-'A'] + "）"
	}
	return q.Answer
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func formatHint(t content.QuizTexts, q content.Question) string {
	switch q.Type {
	case content.QuestionMultiple:
		return content.Fill(t.HintMultiple, "letters", slashLetters(q))
	case content.QuestionTrueFalse:
		return t.HintTrueFalse
	}
	return content.Fill(t.HintSingle, "letters", slashLetters(q))
}

var (
	trueWords  = []string{"对", "对的", "正确", "√", "✓", "✔", "t", "true", "是", "是的", "y", "yes"}
	falseWords = []string{"错", "错的", "错误", "不对", "×", "✗", "✘", "x", "f", "false", "否", "不是", "n", "no"}
	// answerFiller is what residents put around the letters: 我选B, 答案是A、C.
	answerFiller = strings.NewReplacer("我选", "", "选择", "", "选", "", "答案是", "", "答案", "", "答", "", "是", "",
		"和", "", "与", "", "及", "", "还有", "")
)

// parseAnswer reads an answer: letters in any order, case, width or
// separator for choice questions; 对/错 and their usual forms for true or
// false. It returns the answer as the bank writes it, or a hint that
// replaces the question.
func parseAnswer(t content.QuizTexts, q content.Question, text string) (answer, hint string) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(text) {
		r = unicode.ToLower(halfWidth(r))
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("√✓✔×✗✘", r) {
			b.WriteRune(r)
		}
	}
	w := b.String()
	if q.Type == content.QuestionTrueFalse {
		switch {
		case slices.Contains(trueWords, w):
			return content.AnswerTrue, ""
		case slices.Contains(falseWords, w):
			return content.AnswerFalse, ""
		}
		return "", t.HintTrueFalse
	}
	w = strings.ToUpper(answerFiller.Replace(w))
	if w == "" {
		return "", formatHint(t, q)
	}
	var letters []rune
	for _, r := range w {
		if r < 'A' || r > 'Z' {
			return "", formatHint(t, q)
		}
		if !strings.ContainsRune(q.Letters(), r) {
			return "", content.Fill(t.HintRange, "letters", slashLetters(q))
		}
		if !slices.Contains(letters, r) {
			letters = append(letters, r)
		}
	}
	slices.Sort(letters)
	switch {
	case q.Type == content.QuestionSingle && len(letters) > 1:
		return "", t.HintSingleMany
	case q.Type == content.QuestionMultiple && len(letters) == 1:
		return "", t.HintMultiOne
	}
	return string(letters), ""
}

func (q *quiz) apply(c *Ctx, s *quizState, effect any) ([]string, error) {
	switch e := effect.(type) {
	case quizLoad:
		return q.load(c, s)
	case quizRecord:
		if _, err := q.Store.RecordQuizAnswer(c, e.A); err != nil {
			return nil, err
		}
		// Also when the answer was already recorded: a retry after a failed
		// award must still award, and the key keeps it to once.
		if e.A.Points > 0 && q.Awards != nil {
			_, err := q.Awards.Award(c, hazardbot.Award{OpenID: c.OpenID, Points: e.A.Points,
				Reason: c.Content.Education.Quiz.PointsReason, SourceType: "quiz", SourceID: e.A.Day + ":" + e.A.QuestionID,
				Key: "quiz:" + c.OpenID + ":" + e.A.Day + ":" + e.A.QuestionID, At: c.Now})
			if err != nil {
				return nil, fmt.Errorf("dialogs: quiz points: %w", err)
			}
		}
		return nil, nil
	case quizFinish:
		streak, err := q.Store.FinishQuizDay(c, c.OpenID, s.Day, c.Now)
		if err != nil {
			return nil, err
		}
		s.Streak, s.Finished = streak, true
		t := c.Content.Education.Quiz
		out := []string{q.score(t.Summary, c, s)}
		if wrong := len(s.Answered) - s.Correct; wrong > 0 {
			out = append(out, content.Fill(t.SummaryReview, "wrong", strconv.Itoa(wrong)))
		}
		return out, nil
	}
	return nil, fmt.Errorf("dialogs: quiz: unknown effect %T", effect)
}

func (q *quiz) score(text string, c *Ctx, s *quizState) string {
	return content.Fill(text, "correct", strconv.Itoa(s.Correct), "count", strconv.Itoa(len(s.Answered)),
		"points", strconv.Itoa(s.Points), "streak", strconv.Itoa(s.Streak))
}

// load starts today's quiz, or picks up the one already started: the
// database decides which questions today has.
func (q *quiz) load(c *Ctx, s *quizState) ([]string, error) {
	t := c.Content.Education.Quiz
	day := hazardbot.Day(c.Now)
	h, err := q.Store.QuizHistory(c, c.OpenID, day)
	if err != nil {
		return nil, err
	}
	items := drawQuestions(c.Content.Quiz, h, day, c.Content.Education.QuizPerDay)
	d, err := q.Store.StartQuizDay(c, hazardbot.QuizDay{OpenID: c.OpenID, Day: day, CommunityID: q.community(c),
		Items: items, StartedAt: c.Now})
	if err != nil {
		return nil, err
	}
	*s = quizState{Day: day, Items: d.Items, Answered: d.AnsweredIDs, Correct: d.Correct, Points: d.Points, Finished: d.Finished}
	if _, _, more := s.current(c.Content); !more {
		if !s.Finished {
			// Every question answered, but the day was never closed (the
			// last turn failed half-way): close it now.
			if s.Streak, err = q.Store.FinishQuizDay(c, c.OpenID, day, c.Now); err != nil {
				return nil, err
			}
			s.Finished = true
		} else if s.Streak, err = q.Store.QuizStreak(c, c.OpenID, day); err != nil {
			return nil, err
		}
		return []string{q.score(t.DoneToday, c, s)}, nil
	}
	if len(s.Answered) == 0 {
		return []string{content.Fill(t.Intro, "count", strconv.Itoa(s.total(c.Content)))}, nil
	}
	return []string{content.Fill(t.Resume, "n", strconv.Itoa(len(s.Answered)+1), "count", strconv.Itoa(s.total(c.Content)))}, nil
}

// drawQuestions picks a day's n questions: those due for review first
// (most overdue first), then questions never answered, one topic after
// another, favouring the topics the resident has seen least (ties broken
// by a rotation that moves with the day); and when the bank is exhausted,
// the questions answered longest ago. The n are all different, so no
// question comes twice in a day.
func drawQuestions(bank []content.Question, h hazardbot.QuizHistory, day string, n int) []hazardbot.QuizItem {
	var out []hazardbot.QuizItem
	picked := map[string]bool{}
	inBank := map[string]bool{}
	for _, q := range bank {
		inBank[q.ID] = true
	}
	add := func(id string) {
		out = append(out, hazardbot.QuizItem{ID: id, Box: h.Boxes[id]})
		picked[id] = true
	}
	for _, it := range h.Due {
		if len(out) < n && inBank[it.ID] && !picked[it.ID] {
			add(it.ID)
		}
	}

	var topics []string
	fresh := map[string][]string{} // topic → unseen question ids, in bank order
	seen := map[string]int{}       // topic → questions of it answered before or today
	for _, q := range bank {
		if _, ok := fresh[q.Topic]; !ok {
			topics = append(topics, q.Topic)
			fresh[q.Topic] = nil
		}
		switch {
		case picked[q.ID]:
			seen[q.Topic]++
		case h.LastSeen[q.ID] != "":
			seen[q.Topic]++
		default:
			fresh[q.Topic] = append(fresh[q.Topic], q.ID)
		}
	}
	offset := 0
	if d, err := time.Parse(time.DateOnly, day); err == nil && len(topics) > 0 {
		offset = int(d.Unix()/86400) % len(topics)
	}
	for len(out) < n {
		best := ""
		for k := range topics {
			tp := topics[(offset+k)%len(topics)]
			if len(fresh[tp]) > 0 && (best == "" || seen[tp] < seen[best]) {
				best = tp
			}
		}
		if best == "" {
			break
		}
		add(fresh[best][0])
		fresh[best] = fresh[best][1:]
		seen[best]++
	}

	if len(out) < n {
		var old []content.Question
		for _, q := range bank {
			if !picked[q.ID] {
				old = append(old, q)
			}
		}
		slices.SortStableFunc(old, func(a, b content.Question) int {
			return strings.Compare(h.LastSeen[a.ID], h.LastSeen[b.ID])
		})
		for _, q := range old {
			if len(out) == n {
				break
			}
			add(q.ID)
		}
	}
	return out
}
