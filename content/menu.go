package content

import (
	"net/url"
	"unicode/utf8"
)

// Menu is the account's custom menu (menu.yaml), in WeChat's shape.
type Menu struct {
	Buttons []Button `yaml:"buttons" json:"button"`
}

// Button is a top-level button or a sub-button.
type Button struct {
	Type       string   `yaml:"type,omitempty" json:"type,omitempty"`
	Name       string   `yaml:"name" json:"name"`
	Key        string   `yaml:"key,omitempty" json:"key,omitempty"`
	URL        string   `yaml:"url,omitempty" json:"url,omitempty"`
	SubButtons []Button `yaml:"sub_buttons,omitempty" json:"sub_button,omitempty"`
}

// Keys lists the event keys of every button that sends one to the server.
func (m Menu) Keys() []string {
	var keys []string
	for _, b := range m.Buttons {
		for _, s := range append([]Button{b}, b.SubButtons...) {
			if s.Key != "" {
				keys = append(keys, s.Key)
			}
		}
	}
	return keys
}

// WeChat's limits on menus.
const (
	maxTopButtons = 3
	maxSubButtons = 5
	maxKeyBytes   = 128
	maxURLBytes   = 1024
	maxTopNameLen = 16 // bytes, as WeChat counts them
	maxSubNameLen = 60
	menuFile      = "menu.yaml"
)

var keyedTypes = map[string]bool{
	"click": true, "location_select": true, "pic_photo_or_album": true, "pic_sysphoto": true,
	"pic_weixin": true, "scancode_push": true, "scancode_waitmsg": true,
}

func (l *loader) menu(m *Menu) {
	doc, ok := l.decodeYAML(menuFile, m)
	if !ok {
		return
	}
	if len(m.Buttons) == 0 || len(m.Buttons) > maxTopButtons {
		l.addf(menuFile, lineAt(doc, "buttons"), "the menu needs 1 to %d buttons, has %d", maxTopButtons, len(m.Buttons))
	}
	seen := map[string]bool{}
	for i, b := range m.Buttons {
		line := lineAt(doc, "buttons", i)
		if len(b.Name) > maxTopNameLen || b.Name == "" {
			l.addf(menuFile, line, "button name %q must be 1 to %d bytes", b.Name, maxTopNameLen)
		}
		if len(b.SubButtons) > maxSubButtons {
			l.addf(menuFile, line, "button %q has %d sub-buttons, at most %d", b.Name, len(b.SubButtons), maxSubButtons)
		}
		if len(b.SubButtons) == 0 {
			l.checkButton(b, line, seen)
		} else if b.Type != "" || b.Key != "" || b.URL != "" {
			l.addf(menuFile, line, "button %q has sub-buttons and must not have a type, key or url", b.Name)
		}
		for j, s := range b.SubButtons {
			subLine := lineAt(doc, "buttons", i, "sub_buttons", j)
			if len(s.SubButtons) > 0 {
				l.addf(menuFile, subLine, "sub-button %q has sub-buttons: WeChat menus have two levels only", s.Name)
			}
			l.checkButton(s, subLine, seen)
		}
	}
}

func (l *loader) checkButton(b Button, line int, seen map[string]bool) {
	if b.Name == "" || len(b.Name) > maxSubNameLen || !utf8.ValidString(b.Name) {
		l.addf(menuFile, line, "button name %q must be 1 to %d bytes", b.Name, maxSubNameLen)
	}
	switch {
	case b.Type == "view":
		if u, err := url.Parse(b.URL); b.URL == "" || len(b.URL) > maxURLBytes || err != nil ||
			(u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.addf(menuFile, line, "view button %q needs an http(s) url of at most %d bytes", b.Name, maxURLBytes)
		}
	case keyedTypes[b.Type]:
		if b.Key == "" || len(b.Key) > maxKeyBytes {
			l.addf(menuFile, line, "button %q needs a key of 1 to %d bytes", b.Name, maxKeyBytes)
		}
		if seen[b.Key] {
			l.addf(menuFile, line, "key %q is used twice", b.Key)
		}
		seen[b.Key] = true
	default:
		l.addf(menuFile, line, "button %q has unsupported type %q (click, view, location_select, pic_photo_or_album, …)", b.Name, b.Type)
	}
}
