package content

import (
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Education holds the settings and texts of the daily quiz, the knowledge
// base, the shelter finder and the weekly leaderboard (education.yaml).
// {name} marks a value the bot fills in; the `fill` tag lists the names a
// text may use, so a typo fails the content check instead of reaching a
// resident.
type Education struct {
	QuizPerDay  int              `yaml:"quiz_per_day"`
	Quiz        QuizTexts        `yaml:"quiz"`
	Knowledge   KnowledgeTexts   `yaml:"knowledge"`
	Shelter     ShelterTexts     `yaml:"shelter"`
	Leaderboard LeaderboardTexts `yaml:"leaderboard"`
}

// QuizTexts are the daily quiz's texts.
type QuizTexts struct {
	Intro          string `yaml:"intro" fill:"count"`
	Resume         string `yaml:"resume" fill:"n count"`
	Question       string `yaml:"question" fill:"n count kind topic review question options how"`
	Review         string `yaml:"review"`
	KindSingle     string `yaml:"kind_single"`
	KindMultiple   string `yaml:"kind_multiple"`
	KindTrueFalse  string `yaml:"kind_truefalse"`
	HowSingle      string `yaml:"how_single" fill:"letters"`
	HowMultiple    string `yaml:"how_multiple" fill:"letters"`
	HowTrueFalse   string `yaml:"how_truefalse"`
	HintSingle     string `yaml:"hint_single" fill:"letters"`
	HintSingleMany string `yaml:"hint_single_many"`
	HintMultiple   string `yaml:"hint_multiple" fill:"letters"`
	HintMultiOne   string `yaml:"hint_multiple_one"`
	HintTrueFalse  string `yaml:"hint_truefalse"`
	HintRange      string `yaml:"hint_range" fill:"letters"`
	HintAside      string `yaml:"hint_aside"` // after a hint, when the resident seems to want something else
	Right          string `yaml:"right" fill:"points explanation"`
	Wrong          string `yaml:"wrong" fill:"answer explanation"`
	PointsEarned   string `yaml:"points_earned" fill:"points"`
	PointsCapped   string `yaml:"points_capped" fill:"cap"`
	PointsReason   string `yaml:"points_reason"` // the ledger's line
	Summary        string `yaml:"summary" fill:"correct count points streak"`
	SummaryReview  string `yaml:"summary_review" fill:"wrong"`
	DoneToday      string `yaml:"done_today" fill:"correct count points streak"`
	NewDay         string `yaml:"new_day"`
	StaleDay       string `yaml:"stale_day"`
}

// KnowledgeTexts are the knowledge base's texts, in the chat and on the
// article pages.
type KnowledgeTexts struct {
	Answer     string `yaml:"answer" fill:"title summary url"`
	AnswerBare string `yaml:"answer_bare" fill:"title summary"` // when no public address is configured for the pages
	NoAnswer   string `yaml:"no_answer"`
	Topics     string `yaml:"topics"`
	PageSite   string `yaml:"page_site"`
	PageNote   string `yaml:"page_note"`
	NotFound   string `yaml:"not_found"`
	PageIntro  string `yaml:"page_intro"`
}

// ShelterTexts are the shelter finder's texts.
type ShelterTexts struct {
	Ask        string `yaml:"ask"`
	Hint       string `yaml:"hint"`
	Header     string `yaml:"header" fill:"count"`
	Item       string `yaml:"item" fill:"n name distance address capacity facilities kind nav"`
	Nav        string `yaml:"nav" fill:"lat lng name"`
	Far        string `yaml:"far" fill:"distance"`
	Footer     string `yaml:"footer"`
	Demo       string `yaml:"demo"`
	Metres     string `yaml:"metres" fill:"n"`
	Kilometres string `yaml:"kilometres" fill:"n"`
}

// LeaderboardTexts are the weekly leaderboard's texts.
type LeaderboardTexts struct {
	Header    string `yaml:"header" fill:"scope"`
	Overall   string `yaml:"overall"`
	Item      string `yaml:"item" fill:"rank name correct"`
	You       string `yaml:"you"`
	Mine      string `yaml:"mine" fill:"rank correct"`
	MineNone  string `yaml:"mine_none"`
	Empty     string `yaml:"empty" fill:"scope"`
	Footer    string `yaml:"footer"`
	TopN      int    `yaml:"top_n"`
	CommScope string `yaml:"community_scope" fill:"community"`
}

// Question types.
const (
	QuestionSingle    = "single"
	QuestionMultiple  = "multiple"
	QuestionTrueFalse = "truefalse"
)

// The answers of a true/false question.
const (
	AnswerTrue  = "对"
	AnswerFalse = "错"
)

// MaxOptions is how many options a question may have: residents answer
// with the letters A to D.
const MaxOptions = 4

// Question is one quiz question (quiz/*.yaml).
type Question struct {
	ID          string   `yaml:"id"`
	Type        string   `yaml:"type"`
	Text        string   `yaml:"question"`
	Options     []string `yaml:"options"`     // none for true/false
	Answer      string   `yaml:"answer"`      // "B", "ACD" (letters in order), 对 or 错
	Explanation string   `yaml:"explanation"` // shown after every answer
	Topic       string   `yaml:"-"`           // the file's topic
	File        string   `yaml:"-"`
	Line        int      `yaml:"-"`
}

// Letters are the option letters of q, "ABCD" for four options.
func (q Question) Letters() string { return "ABCD"[:min(len(q.Options), MaxOptions)] }

// QuestionByID finds a quiz question, or returns false.
func (c *Content) QuestionByID(id string) (Question, bool) {
	for _, q := range c.Quiz {
		if q.ID == id {
			return q, true
		}
	}
	return Question{}, false
}

// Article is one knowledge article (knowledge/*.md): YAML front matter
// between --- lines, then a Markdown body.
type Article struct {
	ID       string   `yaml:"id"` // the file's name without .md
	Title    string   `yaml:"title"`
	Keywords []string `yaml:"keywords"`
	Summary  string   `yaml:"summary"`
	Body     string   `yaml:"-"` // Markdown
	Blocks   []Block  `yaml:"-"` // the body, parsed for the article page
	File     string   `yaml:"-"`
}

// Block is a paragraph, a heading or a list of an article's body. The
// articles use a small subset of Markdown; parsing it here keeps HTML out of
// the content and lets the page render with html/template.
type Block struct {
	Kind  string   // "p", "h", "ol" or "ul"
	Text  string   // p and h
	Items []string // ol and ul
}

// ArticleByID finds a knowledge article, or returns false.
func (c *Content) ArticleByID(id string) (Article, bool) {
	for _, a := range c.Knowledge {
		if a.ID == id {
			return a, true
		}
	}
	return Article{}, false
}

// Shelter is one emergency shelter (shelters.yaml). Coordinates are GCJ-02,
// the system WeChat sends residents' locations in, so distances need no
// conversion.
type Shelter struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Address    string   `yaml:"address"`
	Kind       string   `yaml:"kind"`
	Capacity   int      `yaml:"capacity"`
	Lat        float64  `yaml:"lat"`
	Lng        float64  `yaml:"lng"`
	Facilities []string `yaml:"facilities"`
	Demo       bool     `yaml:"-"` // the file is marked demo: true
}

const (
	educationFile = "education.yaml"
	quizDir       = "quiz"
	knowledgeDir  = "knowledge"
	sheltersFile  = "shelters.yaml"
	// nearDuplicate is the character-bigram Jaccard similarity from which
	// two questions are taken for the same question asked twice.
	nearDuplicate = 0.8
)

var (
	contentID   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)
)

func (l *loader) education(c *Content) {
	l.educationTexts(&c.Education)
	c.Quiz = l.quiz()
	c.Knowledge = l.knowledge()
	c.Shelters = l.shelters()
}

func (l *loader) educationTexts(e *Education) {
	doc, ok := l.decodeYAML(educationFile, e)
	if !ok {
		return
	}
	l.checkTexts(doc, reflect.ValueOf(e).Elem(), nil)
	if e.QuizPerDay < 1 || e.QuizPerDay > 10 {
		l.addf(educationFile, lineAt(doc, "quiz_per_day"), "quiz_per_day must be 1 to 10, is %d", e.QuizPerDay)
	}
	if e.Leaderboard.TopN < 1 || e.Leaderboard.TopN > 20 {
		l.addf(educationFile, lineAt(doc, "leaderboard", "top_n"), "leaderboard.top_n must be 1 to 20, is %d", e.Leaderboard.TopN)
	}
}

// checkTexts requires every string field of v (nested structs included) to
// be set and to use only the placeholders its fill tag allows.
func (l *loader) checkTexts(doc *yaml.Node, v reflect.Value, keys []any) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		at := append(slices.Clone(keys), key)
		switch f.Type.Kind() {
		case reflect.Struct:
			l.checkTexts(doc, v.Field(i), at)
		case reflect.String:
			name := joinKeys(at)
			text := v.Field(i).String()
			if strings.TrimSpace(text) == "" {
				l.addf(educationFile, lineAt(doc, keys...), "text %q is missing or empty", name)
				continue
			}
			allowed := strings.Fields(f.Tag.Get("fill"))
			for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
				if !slices.Contains(allowed, m[1]) {
					l.addf(educationFile, lineAt(doc, at...), "text %q has unknown placeholder {%s} (it may use: %s)",
						name, m[1], strings.Join(allowed, ", "))
				}
			}
		}
	}
}

func joinKeys(keys []any) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = fmt.Sprint(k)
	}
	return strings.Join(s, ".")
}

// yamlFiles lists the *.yaml or *.md files of a directory, sorted, so
// problems and questions come in a stable order.
func (l *loader) files(dir, ext string) []string {
	ents, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		l.addf(dir, 0, "cannot read the directory: %v", err)
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ext) {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

func (l *loader) quiz() []Question {
	var all []Question
	ids := map[string]Question{}
	for _, file := range l.files(quizDir, ".yaml") {
		var qf struct {
			Topic     string     `yaml:"topic"`
			Questions []Question `yaml:"questions"`
		}
		doc, ok := l.decodeYAML(file, &qf)
		if !ok {
			continue
		}
		if strings.TrimSpace(qf.Topic) == "" {
			l.addf(file, 1, "topic is missing")
		}
		if len(qf.Questions) == 0 {
			l.addf(file, lineAt(doc, "questions"), "no questions")
		}
		for i := range qf.Questions {
			q := &qf.Questions[i]
			q.Topic, q.File, q.Line = strings.TrimSpace(qf.Topic), file, lineAt(doc, "questions", i)
			l.checkQuestion(doc, i, q)
			if q.ID == "" {
				continue
			}
			if prev, dup := ids[q.ID]; dup {
				l.addf(file, q.Line, "question id %q is used twice (first at %s:%d)", q.ID, prev.File, prev.Line)
				continue
			}
			ids[q.ID] = *q
			all = append(all, *q)
		}
	}
	l.nearDuplicates(all)
	if len(all) == 0 {
		l.addf(quizDir, 0, "the question bank is empty")
	}
	return all
}

func (l *loader) checkQuestion(doc *yaml.Node, i int, q *Question) {
	file := q.File
	at := func(key string) int {
		if n := lineAt(doc, "questions", i, key); n > 0 {
			return n
		}
		return q.Line
	}
	q.Text, q.Explanation, q.Answer = strings.TrimSpace(q.Text), strings.TrimSpace(q.Explanation), strings.TrimSpace(q.Answer)
	switch {
	case q.ID == "":
		l.addf(file, q.Line, "question has no id")
	case !contentID.MatchString(q.ID):
		l.addf(file, at("id"), "question id %q: use lower-case letters, digits and dashes", q.ID)
	}
	if q.Text == "" {
		l.addf(file, at("question"), "question %s has no question text", q.ID)
	}
	if q.Explanation == "" {
		l.addf(file, at("explanation"), "question %s has no explanation", q.ID)
	}
	for j, o := range q.Options {
		q.Options[j] = strings.TrimSpace(o)
		if q.Options[j] == "" {
			l.addf(file, lineAt(doc, "questions", i, "options", j), "question %s: option %c is empty", q.ID, 'A'+j)
		} else if slices.Index(q.Options, q.Options[j]) < j {
			l.addf(file, lineAt(doc, "questions", i, "options", j), "question %s: option %c repeats an earlier option", q.ID, 'A'+j)
		}
	}
	switch q.Type {
	case QuestionTrueFalse:
		if len(q.Options) > 0 {
			l.addf(file, at("options"), "question %s: a truefalse question has no options", q.ID)
		}
		if q.Answer != AnswerTrue && q.Answer != AnswerFalse {
			l.addf(file, at("answer"), "question %s: the answer of a truefalse question is %s or %s, not %q", q.ID, AnswerTrue, AnswerFalse, q.Answer)
		}
	case QuestionSingle, QuestionMultiple:
		lo := 2
		if q.Type == QuestionMultiple {
			lo = 3
		}
		if len(q.Options) < lo || len(q.Options) > MaxOptions {
			l.addf(file, at("options"), "question %s: a %s question needs %d to %d options, has %d", q.ID, q.Type, lo, MaxOptions, len(q.Options))
			return
		}
		l.checkLetters(file, at("answer"), q)
	default:
		l.addf(file, at("type"), "question %s: type %q is not single, multiple or truefalse", q.ID, q.Type)
	}
}

// checkLetters checks a choice question's answer: letters of existing
// options, in order, one for single choice and at least two for multiple
// choice (so that a single letter can be told apart as a slip).
func (l *loader) checkLetters(file string, line int, q *Question) {
	letters := q.Letters()
	prev := rune(0)
	for _, r := range q.Answer {
		if !strings.ContainsRune(letters, r) {
			l.addf(file, line, "question %s: answer %q is out of range: the options are %s", q.ID, q.Answer, letters)
			return
		}
		if r <= prev {
			l.addf(file, line, "question %s: answer %q must list each letter once, in order", q.ID, q.Answer)
			return
		}
		prev = r
	}
	n := len(q.Answer)
	switch {
	case q.Type == QuestionSingle && n != 1:
		l.addf(file, line, "question %s: a single-choice answer is one letter, not %q", q.ID, q.Answer)
	case q.Type == QuestionMultiple && n < 2:
		l.addf(file, line, "question %s: a multiple-choice answer has at least two letters, not %q", q.ID, q.Answer)
	}
}

// nearDuplicates reports questions whose texts are nearly the same: a bank
// that asks one thing twice wastes residents' days.
func (l *loader) nearDuplicates(qs []Question) {
	grams := make([]map[string]bool, len(qs))
	for i, q := range qs {
		grams[i] = bigramSet(q.Text)
	}
	for j := range qs {
		for i := range j {
			if s := jaccard(grams[i], grams[j]); s >= nearDuplicate {
				l.addf(qs[j].File, qs[j].Line, "question %s is a near-duplicate of %s at %s:%d (similarity %.2f)",
					qs[j].ID, qs[i].ID, qs[i].File, qs[i].Line, s)
			}
		}
	}
}

// bigramSet is the set of character bigrams of s's letters and digits.
func bigramSet(s string) map[string]bool {
	var rs []rune
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			rs = append(rs, r)
		}
	}
	set := map[string]bool{}
	for i := 0; i+1 < len(rs); i++ {
		set[string(rs[i:i+2])] = true
	}
	if len(rs) == 1 {
		set[string(rs)] = true
	}
	return set
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	inter := 0
	for g := range a {
		if b[g] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

func (l *loader) knowledge() []Article {
	var all []Article
	for _, file := range l.files(knowledgeDir, ".md") {
		a, ok := l.article(file)
		if ok {
			all = append(all, a)
		}
	}
	if len(all) == 0 {
		l.addf(knowledgeDir, 0, "there are no articles")
	}
	return all
}

var frontMatterEnd = []byte("\n---\n")

func (l *loader) article(file string) (Article, bool) {
	var a Article
	data, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		l.addf(file, 0, "cannot read: %v", err)
		return a, false
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if !bytes.HasPrefix(data, []byte("---\n")) {
		l.addf(file, 1, "an article starts with front matter between --- lines (id, title, keywords, summary)")
		return a, false
	}
	front, body, ok := bytes.Cut(data[4:], frontMatterEnd)
	if !ok {
		l.addf(file, 1, "the front matter has no closing --- line")
		return a, false
	}
	// The front matter starts on the file's second line.
	doc, ok := l.decodeYAMLBytes(file, front, 1, &a)
	if !ok {
		return a, false
	}
	a.File, a.Body = file, strings.TrimSpace(string(body))
	a.Title, a.Summary = strings.TrimSpace(a.Title), strings.TrimSpace(a.Summary)
	at := func(key string) int {
		if n := lineAt(doc, key); n > 0 {
			return n + 1
		}
		return 1
	}
	want := strings.TrimSuffix(path.Base(file), ".md")
	switch {
	case a.ID == "":
		l.addf(file, at("id"), "the article has no id")
	case a.ID != want:
		l.addf(file, at("id"), "id %q must be the file's name, %q", a.ID, want)
	case !contentID.MatchString(a.ID):
		l.addf(file, at("id"), "id %q: use lower-case letters, digits and dashes", a.ID)
	}
	if a.Title == "" {
		l.addf(file, at("title"), "the article has no title")
	}
	if a.Summary == "" {
		l.addf(file, at("summary"), "the article has no summary")
	}
	if len(a.Keywords) == 0 {
		l.addf(file, at("keywords"), "the article has no keywords")
	}
	for i, k := range a.Keywords {
		if a.Keywords[i] = strings.TrimSpace(k); a.Keywords[i] == "" {
			l.addf(file, at("keywords"), "keyword %d is empty", i+1)
		}
	}
	if a.Body == "" {
		l.addf(file, 0, "the article has no body")
	}
	a.Blocks = parseBlocks(a.Body)
	return a, a.ID == want && a.Title != "" && a.Summary != ""
}

// decodeYAMLBytes is decodeYAML for YAML embedded in another file, starting
// after offset lines of it.
func (l *loader) decodeYAMLBytes(file string, data []byte, offset int, v any) (*yaml.Node, bool) {
	shift := func(err error) {
		sub := &loader{}
		sub.yamlError(file, err)
		for _, p := range sub.problems {
			if p.Line > 0 {
				p.Line += offset
				p.Msg = yamlLine.ReplaceAllStringFunc(p.Msg, func(m string) string {
					n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
					return "line " + strconv.Itoa(n+offset)
				})
			}
			l.problems = append(l.problems, p)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		shift(err)
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		shift(err)
		return nil, false
	}
	return &doc, true
}

var (
	orderedItem   = regexp.MustCompile(`^\d+[.、]\s*`)
	unorderedItem = regexp.MustCompile(`^[-*·]\s+`)
)

// parseBlocks splits a Markdown body into headings, paragraphs and lists.
func parseBlocks(body string) []Block {
	var out []Block
	for _, chunk := range strings.Split(body, "\n\n") {
		var cur *Block
		for _, line := range strings.Split(chunk, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
				continue
			case strings.HasPrefix(line, "#"):
				out = append(out, Block{Kind: "h", Text: strings.TrimSpace(strings.TrimLeft(line, "#"))})
				cur = nil
			case orderedItem.MatchString(line) || unorderedItem.MatchString(line):
				kind, re := "ol", orderedItem
				if unorderedItem.MatchString(line) {
					kind, re = "ul", unorderedItem
				}
				if cur == nil || cur.Kind != kind {
					out = append(out, Block{Kind: kind})
					cur = &out[len(out)-1]
				}
				cur.Items = append(cur.Items, re.ReplaceAllString(line, ""))
			case cur != nil && cur.Kind == "p":
				cur.Text += line
			case cur != nil: // a list item's continuation line
				cur.Items[len(cur.Items)-1] += line
			default:
				out = append(out, Block{Kind: "p", Text: line})
				cur = &out[len(out)-1]
			}
		}
	}
	return out
}

func (l *loader) shelters() []Shelter {
	var sf struct {
		Demo     bool      `yaml:"demo"`
		Shelters []Shelter `yaml:"shelters"`
	}
	doc, ok := l.decodeYAML(sheltersFile, &sf)
	if !ok {
		return nil
	}
	if len(sf.Shelters) == 0 {
		l.addf(sheltersFile, lineAt(doc, "shelters"), "there are no shelters")
	}
	seen := map[string]int{}
	for i := range sf.Shelters {
		s := &sf.Shelters[i]
		s.Demo = sf.Demo
		line := lineAt(doc, "shelters", i)
		at := func(key string) int {
			if n := lineAt(doc, "shelters", i, key); n > 0 {
				return n
			}
			return line
		}
		if prev, dup := seen[s.ID]; dup {
			l.addf(sheltersFile, at("id"), "shelter id %q is used twice (first at line %d)", s.ID, prev)
		}
		seen[s.ID] = line
		if s.ID == "" || strings.TrimSpace(s.Name) == "" || strings.TrimSpace(s.Address) == "" {
			l.addf(sheltersFile, line, "a shelter needs id, name and address")
		}
		if s.Capacity <= 0 {
			l.addf(sheltersFile, at("capacity"), "shelter %s: capacity must be a positive number of people", s.ID)
		}
		// Mainland China, where GCJ-02 applies; (0, 0) is a forgotten value.
		if s.Lat < 3 || s.Lat > 54 || s.Lng < 73 || s.Lng > 136 || math.IsNaN(s.Lat+s.Lng) {
			l.addf(sheltersFile, at("lat"), "shelter %s: lat %v, lng %v is not a GCJ-02 point in China", s.ID, s.Lat, s.Lng)
		}
	}
	return sf.Shelters
}
