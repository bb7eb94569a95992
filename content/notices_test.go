package content_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hazardbot/content"
)

func TestNoticesContent(t *testing.T) {
	c := content.MustLoadEmbedded()
	n := &c.Notices
	for _, id := range []string{"red", "orange", "yellow", "blue"} {
		if _, ok := n.Level(id); !ok {
			t.Fatalf("level %s missing", id)
		}
	}
	for _, name := range []string{"暴雨", "大风", "高温", "雷电", "地质灾害", "火灾", "燃气"} {
		found := false
		for _, h := range n.Hazards {
			found = found || h.Name == name
		}
		if !found {
			t.Errorf("hazard type %s missing", name)
		}
	}
	if !slices.Contains(c.Menu.Keys(), "NOTICES") {
		t.Error("the menu has no 最新通知 (NOTICES)")
	}
}

// TestNoticesContentProblems: a changed notices.yaml is checked — CAP
// values, the four levels in order, and only the placeholders a text may
// use — and each problem names its line.
func TestNoticesContentProblems(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("notices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "severity: Extreme", "severity: Catastrophic", 1)
	bad = strings.Replace(bad, `list_empty: 目前没有生效的通知和预警。`, `list_empty: 目前没有{count}条。`, 1)
	bad = strings.Replace(bad, "category: Fire", "category: Flames", 1)
	if err := os.WriteFile(filepath.Join(dir, "notices.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = content.Load(dir)
	if err == nil {
		t.Fatal("a broken notices.yaml loaded")
	}
	for _, want := range []string{`severity "Catastrophic" is not CAP's`, `uses {count}`, `category "Flames" is not CAP's`, "notices.yaml:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %q:\n%v", want, err)
		}
	}
}
