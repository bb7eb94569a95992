// Package content holds everything a resident reads that is not data: message
// texts, the menu, hazard categories, the quiz bank, knowledge articles,
// shelters and grids. The files are embedded in the binary and any of them can
// be replaced, file by file, from a directory given at start-up, so wording can
// change without a rebuild. Load validates everything and names the file and
// line of each problem.
package content

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

//go:embed *.yaml *.geojson quiz knowledge
var embedded embed.FS

// Content is the loaded, validated content. It is read-only once loaded; a
// reload builds a new value.
type Content struct {
	Messages   Messages
	Menu       Menu
	Report     ReportTexts // report.yaml: the report flow's texts
	Categories []Category  // categories.yaml
	Danger     Danger      // danger.yaml: words that signal immediate danger
	Grids      *Grids      // grids.geojson

	Education Education  // education.yaml: quiz, knowledge and shelter texts
	Quiz      []Question // quiz/*.yaml
	Knowledge []Article  // knowledge/*.md
	Shelters  []Shelter  // shelters.yaml

	Notices Notices // notices.yaml: warning levels, hazard types, notice texts

	Staff StaffTexts // staff.yaml: console title, WeChat binding, overdue digest

	Points    Points         // points.yaml: points rules, 我的积分 and 积分兑换 texts
	Volunteer VolunteerTexts // volunteer.yaml: volunteer signup, card and patrol check-in texts
}

// Problem is one validation error, located in a file.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Problems is every problem found by Load, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads the embedded content, with files in dir (when not "") taking the
// place of the embedded files of the same name. It returns Problems when any
// file is invalid.
func Load(dir string) (*Content, error) {
	var fsys fs.FS = embedded
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("content: %s is not a directory", dir)
		}
		fsys = overlay{top: os.DirFS(dir), base: embedded}
	}
	l := &loader{fsys: fsys}
	c := &Content{}
	l.messages(&c.Messages)
	l.menu(&c.Menu)
	l.report(c)
	l.education(c)
	l.notices(&c.Notices)
	l.staff(c)
	l.points(c) // after education: it checks the quiz's numbers against points.yaml
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return c, nil
}

// MustLoadEmbedded loads the embedded content and panics if it is invalid; a
// test guarantees it never is. For tests and tools.
func MustLoadEmbedded() *Content {
	c, err := Load("")
	if err != nil {
		panic(err)
	}
	return c
}

// Fill replaces {name} placeholders in a text: Fill(t, "ticket", "YH-1").
func Fill(text string, kv ...string) string {
	if len(kv) == 0 {
		return text
	}
	pairs := make([]string, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, "{"+kv[i]+"}", kv[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// overlay serves files from top when present there, else from base.
type overlay struct{ top, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return o.base.Open(name)
}

func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	seen := map[string]bool{}
	var out []fs.DirEntry
	for _, f := range []fs.FS{o.top, o.base} {
		ents, err := fs.ReadDir(f, name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}
