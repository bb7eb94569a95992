package hazardbot

import (
	"strings"
	"testing"
	"time"
)

func TestNextBox(t *testing.T) {
	const day = "2026-02-27" // across the end of February
	for _, tc := range []struct {
		box     int
		correct bool
		wantBox int
		wantDue string
	}{
		{0, false, 1, "2026-02-28"},
		{0, true, 0, ""},
		{1, true, 2, "2026-03-01"},
		{2, true, 3, "2026-03-03"},
		{3, true, 4, "2026-03-07"},
		{4, true, 5, "2026-03-15"},
		{5, true, 6, ""},
		{5, false, 1, "2026-02-28"},
		{3, false, 1, "2026-02-28"},
	} {
		box, due := NextBox(tc.box, tc.correct, day)
		if box != tc.wantBox || due != tc.wantDue {
			t.Errorf("NextBox(%d, %v) = %d, %q; want %d, %q", tc.box, tc.correct, box, due, tc.wantBox, tc.wantDue)
		}
	}
}

func TestStartOfWeek(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		// Sunday 23:59 in Shanghai is still last week; Monday 00:00 starts
		// the new one, although it is Sunday in UTC.
		{time.Date(2026, 3, 15, 15, 59, 0, 0, time.UTC), "2026-03-09"},
		{time.Date(2026, 3, 15, 16, 0, 0, 0, time.UTC), "2026-03-16"},
		{time.Date(2026, 3, 18, 4, 0, 0, 0, time.UTC), "2026-03-16"},
	} {
		got := StartOfWeek(tc.at)
		if Day(got) != tc.want || got.Weekday() != time.Monday || got.In(Shanghai).Hour() != 0 {
			t.Errorf("StartOfWeek(%v) = %v, want Monday %s 00:00", tc.at, got, tc.want)
		}
	}
}

func TestMaskedResident(t *testing.T) {
	a, b := MaskedResident("oABC123"), MaskedResident("oABC124")
	if a == b || !strings.HasPrefix(a, "居民***") || len([]rune(a)) != 9 || strings.Contains(a, "ABC") {
		t.Errorf("masks %q %q", a, b)
	}
	if a != MaskedResident("oABC123") {
		t.Error("mask is not stable")
	}
}
