package hazardbot

import (
	"regexp"
	"strings"
)

// Residents sometimes type contact details into what becomes public or is
// kept for years: "3号楼501张先生 13912345678". MaskContacts finds the
// common forms — mainland mobile and landline numbers, e-mail addresses and
// resident ID numbers — so that the Open311 API never returns them and
// retention does not keep them.
var contactPatterns = []struct {
	re   *regexp.Regexp
	mask string
}{
	{regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`), "[邮箱已隐去]"},
	{regexp.MustCompile(`\d{17}[\dXx]`), "[证件号已隐去]"},
	{regexp.MustCompile(`(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}`), "[电话已隐去]"},
	{regexp.MustCompile(`0\d{2,3}[\s-]?\d{7,8}`), "[电话已隐去]"},
}

// MaskContacts replaces phone numbers, e-mail addresses and ID numbers in
// free text with a marker naming what was removed. A digit run that merely
// contains such a number (an order number, a timestamp) is left alone.
func MaskContacts(s string) string {
	for _, p := range contactPatterns {
		s = replaceBounded(s, p.re, p.mask)
	}
	return s
}

// replaceBounded replaces the matches of re that are not glued to further
// ASCII digits on either side.
func replaceBounded(s string, re *regexp.Regexp, mask string) string {
	locs := re.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		if (l[0] > 0 && isDigit(s[l[0]-1])) || (l[1] < len(s) && isDigit(s[l[1]])) {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(mask)
		last = l[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// PseudonymPrefix begins every openid that retention put in place of a
// resident's. No WeChat openid has a colon, so the two never meet.
const PseudonymPrefix = "anon:"

// IsPseudonym reports whether openid is a pseudonym retention put in place.
func IsPseudonym(openid string) bool { return strings.HasPrefix(openid, PseudonymPrefix) }

// InWeChat reports whether openid is a WeChat resident who can be sent
// messages: not the channel of a report from elsewhere (open311:hotline)
// nor a pseudonym. WeChat openids never hold a colon.
func InWeChat(openid string) bool { return openid != "" && !strings.Contains(openid, ":") }
