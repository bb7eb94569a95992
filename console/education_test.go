package console_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"hazardbot"
	"hazardbot/storage/storagetest"
)

func TestEducationPageAndContentReload(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Two residents answer today's quiz; one question is missed.
	day := hazardbot.Day(e.clock.Now())
	for i, openid := range []string{"o-q1", "o-q2"} {
		var items []hazardbot.QuizItem
		for _, id := range []string{"gas-001", "fire-001", "flood-001", "earthquake-001", "lightning-001"} {
			items = append(items, hazardbot.QuizItem{ID: id})
		}
		_, err := e.st.StartQuizDay(ctx, hazardbot.QuizDay{OpenID: openid, Day: day, CommunityID: "c1", Items: items, StartedAt: e.clock.Now()})
		storagetest.Must(t, err)
		_, err = e.st.RecordQuizAnswer(ctx, hazardbot.QuizAnswer{OpenID: openid, Day: day, QuestionID: "gas-001", Answer: "A",
			Correct: i == 0, Box: 1, At: e.clock.Now()})
		storagetest.Must(t, err)
	}
	reloads, fail := 0, false
	e.c.AddEducation(e.st, func() error {
		reloads++
		if fail {
			return errors.New("quiz/gas.yaml:12: answer \"E\" is not an option")
		}
		return nil
	})
	want(t, e.as("kan").get("/console/education"), http.StatusOK, "每日答题参与", "东湖社区", "最常答错的题", "gas-001")
	if p := e.as("kan").get("/console/education"); p.status == http.StatusOK && contains(p.body, "重新加载内容") {
		t.Fatal("a viewer is offered the reload")
	}
	if p := e.as("jiedao").form("/console/content/reload"); p.status != http.StatusForbidden {
		t.Fatalf("street staff reloaded: %d", p.status)
	}
	admin := e.as("admin")
	if p := admin.post("/console/content/reload", nil); p.status != http.StatusForbidden {
		t.Fatalf("reload without CSRF: %d", p.status)
	}
	p := admin.form("/console/content/reload")
	if p.status != http.StatusSeeOther || reloads != 1 {
		t.Fatalf("reload: %d, %d reloads", p.status, reloads)
	}
	want(t, admin.get(p.location), http.StatusOK, "已重新加载题库")
	fail = true
	p = admin.form("/console/content/reload")
	want(t, admin.get(p.location), http.StatusOK, "内容文件有误", "quiz/gas.yaml:12")
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
