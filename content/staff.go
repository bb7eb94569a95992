package content

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// StaffTexts are what staff read outside the console pages: the console's
// title, the replies to 绑定 in the chat and the daily overdue digest
// (staff.yaml). The fill tag lists the placeholders a text may use, so a
// typo fails the content check instead of reaching staff.
type StaffTexts struct {
	ConsoleTitle       string `yaml:"console_title"`
	BindOK             string `yaml:"bind_ok" fill:"username role"`
	BindBadCode        string `yaml:"bind_bad_code"`
	BindTaken          string `yaml:"bind_taken"`
	BindTooMany        string `yaml:"bind_too_many"`
	Digest             string `yaml:"digest" fill:"date count items"`
	DigestItem         string `yaml:"digest_item" fill:"ticket category risk deadline assignee"`
	DigestMore         string `yaml:"digest_more" fill:"n"`
	DigestLink         string `yaml:"digest_link" fill:"url"`
	DigestTemplateNote string `yaml:"digest_template_note"`
}

const staffFile = "staff.yaml"

var staffPlaceholder = regexp.MustCompile(`\{([a-z_]+)\}`)

func (l *loader) staff(c *Content) {
	doc, ok := l.decodeYAML(staffFile, &c.Staff)
	if !ok {
		return
	}
	v := reflect.ValueOf(c.Staff)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		text := v.Field(i).String()
		if strings.TrimSpace(text) == "" {
			l.addf(staffFile, lineAt(doc), "text %q is missing or empty", key)
			continue
		}
		allowed := strings.Fields(f.Tag.Get("fill"))
		for _, m := range staffPlaceholder.FindAllStringSubmatch(text, -1) {
			if !slices.Contains(allowed, m[1]) {
				l.addf(staffFile, lineAt(doc, key), "text %q has unknown placeholder {%s} (it may use: %s)",
					key, m[1], strings.Join(allowed, ", "))
			}
		}
	}
}
