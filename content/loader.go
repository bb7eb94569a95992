package content

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// loader collects problems across files so a check reports all of them.
type loader struct {
	fsys     fs.FS
	problems Problems
}

func (l *loader) addf(file string, line int, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// decodeYAML strictly decodes file into v (unknown keys are errors) and
// returns the document node so callers can locate later semantic errors.
func (l *loader) decodeYAML(file string, v any) (*yaml.Node, bool) {
	data, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		l.addf(file, 0, "cannot read: %v", err)
		return nil, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.yamlError(file, err)
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		l.yamlError(file, err)
		return nil, false
	}
	return &doc, true
}

func (l *loader) yamlError(file string, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			l.addf(file, lineOf(e), "%s", e)
		}
		return
	}
	l.addf(file, lineOf(err.Error()), "%v", err)
}

func lineOf(msg string) int {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// lineAt finds the line of the value at a path of mapping keys and sequence
// indexes (ints) in a decoded document, or 0.
func lineAt(doc *yaml.Node, path ...any) int {
	n := doc
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n == nil {
			return 0
		}
		switch k := p.(type) {
		case string:
			var next *yaml.Node
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						break
					}
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return 0
			}
			n = n.Content[k]
		}
	}
	if n == nil {
		return 0
	}
	return n.Line
}
