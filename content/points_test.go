package content

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedPointsRules(t *testing.T) {
	c := MustLoadEmbedded()
	r := c.Points.Rules
	want := map[string]int{"blue": 5, "yellow": 10, "orange": 20, "red": 50}
	for level, p := range want {
		if r.ReportVerified[level] != p {
			t.Errorf("%s: %d points, want %d", level, r.ReportVerified[level], p)
		}
	}
	if r.FirstReporterBonus <= 0 || r.QuizPerCorrect <= 0 || r.QuizDailyCap < r.QuizPerCorrect || r.PatrolCheckIn <= 0 ||
		r.MaliciousReport <= 0 || r.HoldDays <= 0 {
		t.Errorf("rules %+v", r)
	}
	if len(c.Volunteer.Skills) == 0 || c.Volunteer.Card == "" || c.Points.PickupPlace == "" {
		t.Errorf("volunteer texts %+v", c.Volunteer)
	}
}

// pointsProblems lays files over the embedded content and returns the
// problems Load finds.
func pointsProblems(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(dir)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: want Problems, got %v", err)
	}
	return ps.Error()
}

func TestPointsValidation(t *testing.T) {
	embedded, err := os.ReadFile("points.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := string(embedded)
	for _, tt := range []struct {
		name, from, to string
		want           []string
	}{
		{"missing level", "blue: 5}", "}", []string{"points.yaml:7: rules.report_verified needs 0-10000 points for blue"}},
		{"unknown level", "blue: 5}", "blue: 5, purple: 3}", []string{"unknown risk level \"purple\""}},
		{"negative", "patrol_checkin: 5", "patrol_checkin: -5", []string{"rules.patrol_checkin must be 0 to 10000, is -5"}},
		{"no hold", "hold_days: 7", "hold_days: 0", []string{"rules.hold_days must be 1 to 90"}},
		{"placeholder", "兑换冻结：{reward}", "兑换冻结：{rewrad}", []string{`text "texts.reasons.hold" has unknown placeholder {rewrad}`}},
		{"empty text", "footer: 回复序号兑换，回复“取消”退出。", "footer: ''", []string{`text "texts.shop.footer" is missing or empty`}},
		{"unknown key", "hold_days: 7", "hold_days: 7\n  hold_weeks: 1", []string{"field hold_weeks not found"}},
		{"source name", "      patrol: 巡查\n", "", []string{`sources needs a name for "patrol"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.from) {
				t.Fatalf("points.yaml has no %q", tt.from)
			}
			got := pointsProblems(t, map[string]string{"points.yaml": strings.Replace(base, tt.from, tt.to, 1)})
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems\n%s\nlack %q", got, w)
				}
			}
		})
	}
	got := pointsProblems(t, map[string]string{"volunteer.yaml": "skills: [急救, 急救]\ncard: '{nmae}'\n"})
	for _, w := range []string{`skill "急救" must be 1-10 characters and listed once`, `text "card" has unknown placeholder {nmae}`,
		`text "signup.intro" is missing or empty`, `text "patrol.done" is missing or empty`} {
		if !strings.Contains(got, w) {
			t.Errorf("problems\n%s\nlack %q", got, w)
		}
	}
}
