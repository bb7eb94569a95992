package hazardbot

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// The daily quiz: each resident gets a few questions a Shanghai day. A
// question answered wrongly comes back on a Leitner schedule, which the
// dialogs apply and the storage keeps; the types both sides speak live here.

// LeitnerBoxes is the number of review boxes; a question answered rightly in
// the last box is learned and comes back no more.
const LeitnerBoxes = 5

// leitnerDays is how many days a question waits in each box (index = box).
var leitnerDays = [LeitnerBoxes + 1]int{0, 1, 2, 4, 8, 16}

// NextBox moves a question through the Leitner boxes after an answer: wrong
// sends it to box 1 (due the next day), right moves it from box n to n+1 (due
// after 1, 2, 4, 8 or 16 days). A new question (box 0) answered rightly
// needs no review: box 0 with no due day. Right in the last box means
// learned: box LeitnerBoxes+1, no due day.
func NextBox(box int, correct bool, day string) (newBox int, dueDay string) {
	switch {
	case !correct:
		return 1, AddDays(day, leitnerDays[1])
	case box <= 0:
		return 0, ""
	case box >= LeitnerBoxes:
		return LeitnerBoxes + 1, ""
	default:
		return box + 1, AddDays(day, leitnerDays[box+1])
	}
}

// AddDays moves a day (2006-01-02) by n calendar days. Shanghai keeps no
// daylight saving time, so calendar arithmetic in UTC is exact.
func AddDays(day string, n int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// StartOfWeek is the Monday 00:00 in Asia/Shanghai that begins t's week.
func StartOfWeek(t time.Time) time.Time {
	d := StartOfDay(t)
	back := (int(d.Weekday()) + 6) % 7 // days since Monday
	return d.AddDate(0, 0, -back)
}

// QuizItem is one question drawn for a day: its id and the Leitner box it
// was in when drawn (0 = never answered wrongly, or new).
type QuizItem struct {
	ID  string `json:"id"`
	Box int    `json:"box,omitempty"`
}

// QuizDay is a resident's quiz on one Shanghai day. The questions are drawn
// once, when the day's quiz starts, so an interrupted quiz resumes with the
// same ones.
type QuizDay struct {
	OpenID      string
	Day         string // 2006-01-02, Asia/Shanghai
	CommunityID string // the resident's community when the quiz started; "" unknown
	Items       []QuizItem
	AnsweredIDs []string // the questions answered so far, in order
	Answered    int
	Correct     int
	Points      int
	StartedAt   time.Time
	Finished    bool
}

// QuizAnswer is one answer to a question of a day's quiz, with the Leitner
// box it moves the question to.
type QuizAnswer struct {
	OpenID     string
	Day        string
	QuestionID string
	Seq        int    // 0-based position in the day's quiz
	Answer     string // normalised: "B", "ACD", 对, 错
	Correct    bool
	Points     int    // points awarded for it (0 once the daily cap is reached)
	Box        int    // the box after this answer (see NextBox)
	DueDay     string // when it comes back; "" never
	At         time.Time
}

// QuizHistory is what the draw of a day's questions needs to know about a
// resident: when each question was last answered, its Leitner box, and the
// questions due for review.
type QuizHistory struct {
	LastSeen map[string]string // question id → day last answered
	Boxes    map[string]int    // question id → Leitner box, for questions answered before
	Due      []QuizItem        // due for review on the day asked, most overdue first
}

// QuizRank is a resident's place in a weekly leaderboard.
type QuizRank struct {
	Rank    int
	OpenID  string
	Correct int // correct answers in the week
}

// MaskedResident is how a resident appears on public lists: we know no
// names, and the openid must not show, so a short hash stands in for it.
func MaskedResident(openid string) string {
	sum := sha256.Sum256([]byte("hazardbot-resident:" + openid))
	h := hex.EncodeToString(sum[:])
	return "居民***" + h[len(h)-4:]
}
