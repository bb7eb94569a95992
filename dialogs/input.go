// Package dialogs is the conversation engine and the flows residents and staff
// go through in the chat (report a hazard, my reports, quiz, knowledge,
// shelters, …). It knows no HTTP and no XML: the bot package hands it an Input
// and sends back the Replies it returns.
package dialogs

import (
	"strings"
	"time"
	"unicode"
)

// Kind is what a resident sent.
type Kind string

// Input kinds. Voice arrives with WeChat's speech recognition in Text.
const (
	KindText     Kind = "text"
	KindImage    Kind = "image"
	KindVoice    Kind = "voice"
	KindLocation Kind = "location"
	KindEvent    Kind = "event"
	KindOther    Kind = "other"
)

// Events the engine acts on (WeChat's names).
const (
	EventSubscribe      = "subscribe"
	EventScan           = "SCAN"
	EventClick          = "CLICK"
	EventLocationSelect = "location_select"
	EventPicPhoto       = "pic_photo_or_album"
)

// Input is one message or event from a resident, stripped of WeChat's format.
type Input struct {
	OpenID  string
	Kind    Kind
	Text    string // text content, or a voice message's recognised words
	MediaID string // image or voice media id
	PicURL  string
	Lat     float64 // GCJ-02, as WeChat sends it
	Lng     float64
	Label   string // the place name WeChat attaches to a location
	Event   string
	Key     string // event key of a menu click
	At      time.Time
}

// Reply is one message to send to the resident.
type Reply struct {
	Text string
}

// Normalize trims a resident's text for keyword matching: surrounding space
// and punctuation go, full-width letters and digits become ASCII, letters
// lower-case.
func Normalize(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})
	return strings.Map(func(r rune) rune {
		if r >= '！' && r <= '～' { // full-width ASCII block
			r -= 0xFEE0
		}
		if r == '\u3000' {
			return ' '
		}
		return unicode.ToLower(r)
	}, s)
}
