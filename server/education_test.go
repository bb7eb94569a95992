package server

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/content"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// TestSafetyEducationEndToEnd: through the webhook, a resident in a
// community takes the daily quiz, asks a question, opens the article, finds
// the nearest shelters and looks at the leaderboard.
func TestSafetyEducationEndToEnd(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss, func(c *Config, o *Options) { c.PublicURL = "https://aq.example.gov.cn" })
		ctx := context.Background()
		c := e.srv.Content()
		r := e.resident("o-edu-e2e", true)

		// The resident's phone reports where they are: inside a grid of a
		// community, which the leaderboard then uses.
		grid := c.Grids.List[0]
		center := grid.Bound.Center()
		if g, ok := c.Grids.Locate(center.Lat(), center.Lon()); !ok || g.CommunityID != grid.CommunityID {
			t.Fatalf("the grid's centre is not in it")
		}
		r.push(wechattest.LocationEvent(r.id, center.Lat(), center.Lon(), 30))

		contains(t, r.push(wechattest.Click(r.id, "QUIZ")), "今天的5道安全题来啦", "第1/5题")
		day := hazardbot.Day(e.clock.Now())
		for i := range 5 {
			d, err := st.QuizDay(ctx, r.id, day)
			storagetest.Must(t, err)
			if d.CommunityID != grid.CommunityID {
				t.Fatalf("quiz day in community %q, want %q", d.CommunityID, grid.CommunityID)
			}
			q, ok := c.QuestionByID(d.Items[len(d.AnsweredIDs)].ID)
			if !ok {
				t.Fatal("question not in the bank")
			}
			got := r.say(strings.ToLower(q.Answer))
			contains(t, got, "✅ 答对了！+2积分")
			if i == 4 {
				contains(t, got, "答对5/5题，获得10积分", "明天再来")
			}
		}
		if b, err := st.Balance(ctx, r.id); err != nil || b != 10 {
			t.Fatalf("balance %d %v, want 10", b, err)
		}

		got := r.say("燃气泄漏怎么办")
		contains(t, got, "闻到燃气味、燃气泄漏怎么办", "https://aq.example.gov.cn/k/gas-leak")

		resp, err := http.Get(e.http.URL + "/k/gas-leak")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("article page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		contains(t, page, `name="viewport"`, "<h1>闻到燃气味、燃气泄漏怎么办</h1>", "<ol><li>不开关任何电器", "119")

		got = r.push(wechattest.LocationSelect(r.id, "SHELTER", c.Shelters[0].Lat, c.Shelters[0].Lng, "东湖路", ""))
		contains(t, got, "离您最近的3处应急避难场所", "1. "+c.Shelters[0].Name, "距您0米")

		community := ""
		for _, cm := range c.Grids.Communities() {
			if cm.ID == grid.CommunityID {
				community = cm.Name
			}
		}
		got = r.say("排行榜")
		contains(t, got, "本周答题排行 · "+community, hazardbot.MaskedResident(r.id)+"（您）", "排第1名")
		if strings.Contains(got, r.id) {
			t.Fatal("the leaderboard shows an openid")
		}
	})
}

func TestKnowledgePages(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	// Every article renders.
	for _, a := range e.srv.Content().Knowledge {
		code, h, body := get("/k/" + a.ID)
		if code != 200 || !strings.Contains(body, a.Title) || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("/k/%s: %d %q", a.ID, code, h)
		}
	}
	code, _, body := get("/k/no-such-article")
	if code != http.StatusNotFound || !strings.Contains(body, "这篇文章找不到了") {
		t.Fatalf("missing article: %d %q", code, body)
	}
	if code, _, _ := get("/k/"); code != http.StatusNotFound {
		t.Fatalf("/k/: %d", code)
	}
}

// The page escapes what the articles say: they come from a directory an
// operator may edit.
func TestKnowledgePageEscapes(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	c := *e.srv.Content()
	c.Knowledge = append(slices.Clone(c.Knowledge), content.Article{ID: "x", Title: `<script>alert(1)</script>`,
		Summary: `"><img src=x onerror=alert(1)>`, Blocks: []content.Block{{Kind: "p", Text: "<b>粗</b>"}}})
	e.srv.content.Store(&c)
	resp, err := http.Get(e.http.URL + "/k/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>粗"} {
		if strings.Contains(string(b), bad) {
			t.Fatalf("page contains %q unescaped", bad)
		}
	}
}
