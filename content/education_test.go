package content

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedEducationContent(t *testing.T) {
	c := MustLoadEmbedded()
	if n := len(c.Quiz); n < 150 {
		t.Errorf("%d quiz questions, want at least 150", n)
	}
	if n := len(c.Knowledge); n < 30 {
		t.Errorf("%d articles, want at least 30", n)
	}
	if len(c.Shelters) < 3 || !c.Shelters[0].Demo {
		t.Errorf("shelters: %d, demo %v", len(c.Shelters), len(c.Shelters) > 0 && c.Shelters[0].Demo)
	}
	kinds := map[string]int{}
	topics := map[string]bool{}
	for _, q := range c.Quiz {
		kinds[q.Type]++
		topics[q.Topic] = true
		if q.File == "" || q.Line == 0 {
			t.Fatalf("%s has no location", q.ID)
		}
	}
	if kinds[QuestionSingle] == 0 || kinds[QuestionMultiple] == 0 || kinds[QuestionTrueFalse] == 0 || len(topics) < 10 {
		t.Errorf("types %v, %d topics", kinds, len(topics))
	}
	a, ok := c.ArticleByID("gas-leak")
	if !ok || a.Title == "" || len(a.Blocks) < 2 {
		t.Fatalf("gas-leak: %+v", a)
	}
	var ol *Block
	for i := range a.Blocks {
		if a.Blocks[i].Kind == "ol" {
			ol = &a.Blocks[i]
		}
	}
	if ol == nil || len(ol.Items) != 5 || !strings.HasPrefix(ol.Items[0], "不开关任何电器") {
		t.Errorf("gas-leak's list: %+v", ol)
	}
	e := c.Education
	if e.QuizPerDay != 5 {
		t.Errorf("quiz settings %d", e.QuizPerDay)
	}
}

// overlayDir writes files (relative path → text) into a temporary
// directory to lay over the embedded content.
func overlayDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// problemsOf loads dir and returns the problems as "file:line: msg" lines.
func problemsOf(t *testing.T, dir string) []string {
	t.Helper()
	_, err := Load(dir)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: want Problems, got %v", err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return out
}

// expectProblems checks that every want (a file:line prefix and a part of
// the message) is among the problems, and that nothing else is.
func expectProblems(t *testing.T, got []string, wants ...[2]string) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range wants {
		found := false
		for i, g := range got {
			if !used[i] && strings.HasPrefix(g, w[0]+": ") && strings.Contains(g, w[1]) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no problem %s: …%s…", w[0], w[1])
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected problem: %s", g)
		}
	}
}

func TestQuizValidation(t *testing.T) {
	bad := `topic: 测试
questions:
  - id: t-001
    type: single
    question: 发现邻居家冒出黑烟并闻到焦糊味，第一步应该做什么？
    options: [拨打119, 回家睡觉]
    answer: C
    explanation: 先报警。
  - id: t-002
    type: multiple
    question: 下面哪些是家庭应急包里应该常备的东西？
    options: [饮用水, 手电筒, 口哨, 蛋糕]
    answer: CA
    explanation: 水、照明和求救工具。
  - id: t-003
    type: multiple
    question: 楼道里可以停放哪些车辆？
    options: [电动车, 自行车]
    answer: AB
    explanation: 都不行。
  - id: t-004
    type: truefalse
    question: 雷雨天可以在大树下躲雨。
    options: [对, 错]
    answer: 不对
    explanation: 大树下容易遭雷击。
  - id: fire-001
    type: single
    question: 本题的编号和已有题目重复了吗？
    options: [是, 否]
    answer: A
    explanation: 是。
  - id: t-006
    type: single
    question: 家中油锅起火，最恰当的做法是什么？
    options: [用水浇, 盖锅盖并关火]
    answer: B
    explanation: 盖锅盖隔绝空气。
  - id: t-007
    type: essay
    question: 说说你对防火的理解，越详细越好。
    answer: A
    explanation: 无。
  - id: T 8
    type: multiple
    question: 哪些地方适合躲避地震（本题只选一个）？
    options: [桌子下, 承重墙角, 阳台]
    answer: A
    explanation: 桌下和墙角。
  - id: t-009
    type: single
    question: 这道题有一个没有定义的字段。
    options: [甲, 乙]
    answer: A
    hint: 不应该有这个字段
    explanation: 无。
`
	dir := overlayDir(t, map[string]string{"quiz/zz-bad.yaml": bad})
	got := problemsOf(t, dir)
	// A strictly decoded file stops at its first unknown field: fix it and
	// look again.
	expectProblems(t, got, [2]string{"quiz/zz-bad.yaml:55", `line 55: field hint not found`})

	dir = overlayDir(t, map[string]string{"quiz/zz-bad.yaml": strings.Replace(bad, "    hint: 不应该有这个字段\n", "", 1)})
	got = problemsOf(t, dir)
	expectProblems(t, got,
		[2]string{"quiz/zz-bad.yaml:7", `answer "C" is out of range: the options are AB`},
		[2]string{"quiz/zz-bad.yaml:13", `answer "CA" must list each letter once, in order`},
		[2]string{"quiz/zz-bad.yaml:18", `a multiple question needs 3 to 4 options, has 2`},
		[2]string{"quiz/zz-bad.yaml:24", `a truefalse question has no options`},
		[2]string{"quiz/zz-bad.yaml:25", `is 对 or 错, not "不对"`},
		[2]string{"quiz/zz-bad.yaml:27", `question id "fire-001" is used twice (first at quiz/fire.yaml:3)`},
		[2]string{"quiz/zz-bad.yaml:33", `question t-006 is a near-duplicate of fire-001 at quiz/fire.yaml:3`},
		[2]string{"quiz/zz-bad.yaml:40", `type "essay" is not single, multiple or truefalse`},
		[2]string{"quiz/zz-bad.yaml:44", `question id "T 8": use lower-case letters`},
		[2]string{"quiz/zz-bad.yaml:48", `a multiple-choice answer has at least two letters, not "A"`},
	)
}

func TestQuizFileErrors(t *testing.T) {
	dir := overlayDir(t, map[string]string{
		"quiz/zz-empty.yaml":  "topic: 空\nquestions: []\n",
		"quiz/zz-syntax.yaml": "topic: 坏\nquestions:\n  - id: x\n   type: single\n",
		"quiz/zz-notopic.yaml": "questions:\n  - id: nt-1\n    type: truefalse\n    question: 没有主题的文件也要报出来吗\n" +
			"    answer: 对\n    explanation: 要。\n",
	})
	expectProblems(t, problemsOf(t, dir),
		[2]string{"quiz/zz-empty.yaml:2", "no questions"},
		[2]string{"quiz/zz-notopic.yaml:1", "topic is missing"},
		[2]string{"quiz/zz-syntax.yaml:2", "did not find expected"},
	)
}

func TestArticleValidation(t *testing.T) {
	dir := overlayDir(t, map[string]string{
		"knowledge/no-front.md": "# 标题\n正文\n",
		"knowledge/wrong-id.md": "---\nid: other\ntitle: 标题\nkeywords: [甲]\nsummary: 摘要\n---\n正文\n",
		"knowledge/extra.md":    "---\nid: extra\ntitle: 标题\nkeywords: [甲]\nsummary: 摘要\nauthor: 某人\n---\n正文\n",
		"knowledge/empty.md":    "---\nid: empty\ntitle: \"\"\nkeywords: []\nsummary: 摘要\n---\n",
		"knowledge/unclosed.md": "---\nid: unclosed\ntitle: 标题\n",
	})
	expectProblems(t, problemsOf(t, dir),
		[2]string{"knowledge/no-front.md:1", "starts with front matter"},
		[2]string{"knowledge/wrong-id.md:2", `id "other" must be the file's name, "wrong-id"`},
		[2]string{"knowledge/extra.md:6", "line 6: field author not found"},
		[2]string{"knowledge/empty.md:3", "has no title"},
		[2]string{"knowledge/empty.md:4", "has no keywords"},
		[2]string{"knowledge/empty.md", "has no body"},
		[2]string{"knowledge/unclosed.md:1", "no closing ---"},
	)
}

func TestSheltersValidation(t *testing.T) {
	dir := overlayDir(t, map[string]string{sheltersFile: `demo: true
shelters:
  - {id: a, name: 甲广场, address: 甲路1号, kind: 广场, capacity: 100, lat: 36.06, lng: 103.84, facilities: []}
  - {id: a, name: 乙广场, address: 乙路1号, kind: 广场, capacity: 0, lat: 36.06, lng: 103.84, facilities: []}
  - id: c
    name: 丙公园
    address: 丙路1号
    kind: 公园
    capacity: 10
    lat: 0
    lng: 0
`})
	expectProblems(t, problemsOf(t, dir),
		[2]string{"shelters.yaml:4", `shelter id "a" is used twice (first at line 3)`},
		[2]string{"shelters.yaml:4", "capacity must be a positive number"},
		[2]string{"shelters.yaml:10", "not a GCJ-02 point in China"},
	)
}

func TestEducationTextsValidation(t *testing.T) {
	orig, err := embedded.ReadFile(educationFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(orig), "答对{correct}/{count}题", "答对{right}/{count}题", 1)
	text = strings.Replace(text, "  kind_truefalse: 判断题\n", "", 1)
	text = strings.Replace(text, "quiz_per_day: 5", "quiz_per_day: 0", 1)
	dir := overlayDir(t, map[string]string{educationFile: text})
	at := func(sub string) string { return fmt.Sprintf("education.yaml:%d", lineOfText(t, text, sub)) }
	expectProblems(t, problemsOf(t, dir),
		[2]string{at("quiz_per_day: 0"), "quiz_per_day must be 1 to 10, is 0"},
		// A missing text is located at its section.
		[2]string{at("  intro:"), `text "quiz.kind_truefalse" is missing or empty`},
		[2]string{at("  summary:"), `text "quiz.summary" has unknown placeholder {right}`},
	)
}

// lineOfText is the 1-based line of text that first contains sub.
func lineOfText(t *testing.T, text, sub string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the text", sub)
	return 0
}

func TestNearDuplicateMeasure(t *testing.T) {
	a := bigramSet("家中油锅起火，最恰当的做法是？")
	for _, tc := range []struct {
		b    string
		want bool
	}{
		{"家中油锅起火，最恰当的做法是什么？", true},
		{"家中油锅起火最恰当的做法是", true},
		{"家中电器起火，最恰当的做法是？", false},
		{"发现燃气泄漏，第一步该做什么？", false},
	} {
		if got := jaccard(a, bigramSet(tc.b)) >= nearDuplicate; got != tc.want {
			t.Errorf("%q: near-duplicate %v, want %v (%.2f)", tc.b, got, tc.want, jaccard(a, bigramSet(tc.b)))
		}
	}
}
