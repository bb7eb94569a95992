package dialogs

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
)

// Safety education in the chat: the daily quiz (quiz.go), answers from the
// knowledge base (knowledge.go), the nearest shelters (shelters.go) and the
// weekly quiz leaderboard (here).

// QuizStore is what the daily quiz and its leaderboard need from storage.
type QuizStore interface {
	QuizHistory(ctx context.Context, openid, day string) (hazardbot.QuizHistory, error)
	StartQuizDay(ctx context.Context, d hazardbot.QuizDay) (hazardbot.QuizDay, error)
	RecordQuizAnswer(ctx context.Context, a hazardbot.QuizAnswer) (bool, error)
	FinishQuizDay(ctx context.Context, openid, day string, at time.Time) (int, error)
	QuizStreak(ctx context.Context, openid, day string) (int, error)
	QuizLeaderboard(ctx context.Context, fromDay, communityID string, limit int) ([]hazardbot.QuizRank, error)
	QuizRankOf(ctx context.Context, fromDay, communityID, openid string) (hazardbot.QuizRank, error)
}

// Awarder credits reward points; an award with a key already used is not
// counted again (false).
type Awarder interface {
	Award(ctx context.Context, a hazardbot.Award) (bool, error)
}

// Menu keys of the education features.
const (
	KeyQuiz      = "QUIZ"
	KeyKnowledge = "KNOWLEDGE"
	KeyShelter   = "SHELTER"
)

// Education is what the education features need.
type Education struct {
	Store QuizStore
	// Awards credits quiz points; nil awards none.
	Awards Awarder
	// BaseURL is where the knowledge pages are served (/k/{id} under it),
	// e.g. https://hazard.example.cn; "" leaves the link out of answers.
	BaseURL string
	// Community names the resident's community (its id in the grids), for
	// the leaderboard and the console's statistics; nil or "" means
	// unknown, and the leaderboard is the whole sub-district's.
	Community func(ctx context.Context, openid string) (string, error)
}

// AddEducation registers the daily quiz, the shelter finder, the
// leaderboard and the knowledge topics, and answers free questions from
// the knowledge base.
//
// Call it before AddReports: a question about a danger ("燃气泄漏怎么办")
// then gets its article, with the danger's advice first, instead of
// starting a report, while a message that only names a danger ("楼下着火了")
// still starts an urgent report.
func (e *Engine) AddEducation(ed Education) {
	q := &quiz{Education: ed}
	e.AddFlow(q.flow())
	e.AddRoute(Route{Words: []string{"每日答题", "答题", "开始答题", "今日答题", "每日一练", "安全答题"}, Keys: []string{KeyQuiz}, Flow: quizFlow})
	e.AddFlow(shelterFlowDef())
	e.AddRoute(Route{Words: []string{"避难场所", "应急避难场所", "避难所", "附近避难场所", "找避难场所", "避难"}, Keys: []string{KeyShelter}, Flow: shelterFlow})
	e.AddRoute(Route{Words: []string{"安全知识", "知识", "安全学堂", "学习安全知识"}, Keys: []string{KeyKnowledge},
		Answer: func(c *Ctx, in Input) ([]string, error) { return []string{c.Content.Education.Knowledge.Topics}, nil }})
	e.AddRoute(Route{Words: []string{"排行榜", "答题排行", "答题排行榜", "排行", "本周排行", "积分排行"}, Answer: q.leaderboard})
	k := &knowledge{base: strings.TrimRight(ed.BaseURL, "/")}
	e.AddRoute(Route{Match: k.matchQuestion, Answer: func(c *Ctx, in Input) ([]string, error) {
		texts, _ := k.ask(c, in.Text)
		return texts, nil
	}})
	e.Ask = k.ask
}

// community is the resident's community id, "" when unknown. Not knowing
// it is no reason to fail a quiz, so errors count as unknown.
func (ed Education) community(c *Ctx) string {
	if ed.Community == nil {
		return ""
	}
	id, err := ed.Community(c, c.OpenID)
	if err != nil {
		return ""
	}
	return id
}

// leaderboardCommunity is a community's name from the grids, or "".
func leaderboardCommunity(c *content.Content, id string) string {
	if id == "" || c.Grids == nil {
		return ""
	}
	for _, cm := range c.Grids.Communities() {
		if cm.ID == id {
			return cm.Name
		}
	}
	return ""
}

// leaderboard answers 排行榜: this week's residents with the most correct
// answers in the asker's community (or the sub-district), names masked.
func (q *quiz) leaderboard(c *Ctx, in Input) ([]string, error) {
	t := c.Content.Education.Leaderboard
	week := hazardbot.Day(hazardbot.StartOfWeek(c.Now))
	cid := q.community(c)
	scope := t.Overall
	if name := leaderboardCommunity(c.Content, cid); name != "" {
		scope = content.Fill(t.CommScope, "community", name)
	} else {
		cid = "" // a community the grids no longer know: show everyone
	}
	rows, err := q.Store.QuizLeaderboard(c, week, cid, t.TopN)
	if err != nil {
		return nil, fmt.Errorf("dialogs: leaderboard: %w", err)
	}
	mine, err := q.Store.QuizRankOf(c, week, cid, c.OpenID)
	if err != nil {
		return nil, fmt.Errorf("dialogs: leaderboard: %w", err)
	}
	if len(rows) == 0 {
		return []string{content.Fill(t.Empty, "scope", scope)}, nil
	}
	lines := []string{content.Fill(t.Header, "scope", scope)}
	for _, r := range rows {
		name := hazardbot.MaskedResident(r.OpenID)
		if r.OpenID == c.OpenID {
			name += t.You
		}
		lines = append(lines, content.Fill(t.Item, "rank", strconv.Itoa(r.Rank), "name", name, "correct", strconv.Itoa(r.Correct)))
	}
	if mine.Rank > 0 {
		lines = append(lines, "", content.Fill(t.Mine, "rank", strconv.Itoa(mine.Rank), "correct", strconv.Itoa(mine.Correct)))
	} else {
		lines = append(lines, "", t.MineNone)
	}
	lines = append(lines, t.Footer)
	return []string{strings.Join(lines, "\n")}, nil
}

// knowledge answers free text outside flows from the knowledge base.
type knowledge struct {
	base    string
	indexes knowledgeIndexes
}

// minQuestionRunes: shorter text ("B", "好的") is no question, and gets the
// engine's general fallback rather than "no article for this question".
const minQuestionRunes = 4

func (k *knowledge) ask(c *Ctx, text string) ([]string, bool) {
	m, ok := k.indexes.of(c.Content).Best(text)
	t := c.Content.Education.Knowledge
	if !ok {
		if len([]rune(squash(text))) < minQuestionRunes {
			return nil, false
		}
		return []string{t.NoAnswer}, true
	}
	var out []string
	// Asking about a danger may mean being in it: the short advice (with
	// the number to call) comes before the article.
	if advice, danger := c.Content.Danger.Advice(text); danger {
		out = append(out, advice)
	}
	if k.base == "" {
		// A relative link is no link in the chat.
		return append(out, content.Fill(t.AnswerBare, "title", m.Article.Title, "summary", m.Article.Summary)), true
	}
	return append(out, content.Fill(t.Answer, "title", m.Article.Title, "summary", m.Article.Summary,
		"url", k.base+"/k/"+url.PathEscape(m.Article.ID))), true
}

// questionMarks are how residents ask, as opposed to tell.
var questionMarks = []string{"?", "？", "怎么", "怎样", "如何", "咋", "啥", "吗", "什么", "能不能", "可不可以",
	"要不要", "是不是", "该不该", "行不行", "会不会", "哪", "多少", "多久", "多远", "多深"}

// matchQuestion takes a question the knowledge base answers with
// confidence, ahead of the routes that would read its words as a report.
func (k *knowledge) matchQuestion(c *Ctx, text string) bool {
	asks := false
	for _, q := range questionMarks {
		if strings.Contains(text, q) {
			asks = true
			break
		}
	}
	if !asks {
		return false
	}
	_, ok := k.indexes.of(c.Content).Best(text)
	return ok
}
