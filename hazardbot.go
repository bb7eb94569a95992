// Package hazardbot holds the domain rules that several packages share: the
// hazard report and its lifecycle, reward points, and the sub-district's
// clock (Asia/Shanghai).
package hazardbot

import (
	"errors"
	"time"
	_ "time/tzdata" // the zone must exist even on machines without tzdata
)

// Shanghai is the time zone residents and staff live in. Times are stored in
// UTC and shown, and days counted, here.
var Shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// Day is the calendar day of t in Asia/Shanghai, as 2006-01-02.
func Day(t time.Time) string { return t.In(Shanghai).Format("2006-01-02") }

// StartOfDay is the midnight in Asia/Shanghai that begins t's day.
func StartOfDay(t time.Time) time.Time {
	y, m, d := t.In(Shanghai).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, Shanghai)
}

// Award is one change to a resident's reward points. Key makes it
// idempotent: the ledger keeps one entry per key, however often the event
// that causes it is delivered.
type Award struct {
	OpenID     string
	Points     int    // positive to award, negative to deduct
	Reason     string // what the resident reads, e.g. 每日答题答对3题
	SourceType string // report, quiz, patrol, redemption, manual
	SourceID   string
	Key        string
	At         time.Time
}

// ErrNotFound means a looked-up record does not exist.
var ErrNotFound = errors.New("not found")
