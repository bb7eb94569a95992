package content

import (
	"reflect"
	"strings"
)

// Messages are the bot's fixed texts (messages.yaml). A directory override may
// carry only the texts it changes: the rest keep their embedded wording.
type Messages struct {
	Welcome          string `yaml:"welcome"`
	Help             string `yaml:"help"`
	Menu             string `yaml:"menu"`
	Fallback         string `yaml:"fallback"`
	Cancelled        string `yaml:"cancelled"`
	NothingToCancel  string `yaml:"nothing_to_cancel"`
	NothingToGoBack  string `yaml:"nothing_to_go_back"`
	IdleTimeout      string `yaml:"idle_timeout"`
	Paused           string `yaml:"paused"`
	Resumed          string `yaml:"resumed"`
	NothingToResume  string `yaml:"nothing_to_resume"`
	FlowUpdated      string `yaml:"flow_updated"`
	TooManyMisses    string `yaml:"too_many_misses"`
	Busy             string `yaml:"busy"`
	DraftLost        string `yaml:"draft_lost"`
	StepHelp         string `yaml:"step_help"`
	Unsupported      string `yaml:"unsupported"`
	PhotoOutsideFlow string `yaml:"photo_outside_flow"`
	Blocked          string `yaml:"blocked"`
}

const messagesFile = "messages.yaml"

func (l *loader) messages(m *Messages) {
	// The embedded file is the base; an override replaces only the keys it has.
	base := &loader{fsys: embedded}
	base.decodeYAML(messagesFile, m)
	l.problems = append(l.problems, base.problems...)
	if _, isOverlay := l.fsys.(overlay); isOverlay {
		l.decodeYAML(messagesFile, m)
	}
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if strings.TrimSpace(v.Field(i).String()) == "" {
			key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			l.addf(messagesFile, 0, "text %q is empty", key)
		}
	}
}
