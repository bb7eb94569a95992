package main

import (
	"testing"
	"time"
)

func TestInlineShowsTheArguments(t *testing.T) {
	s := statement{query: "SELECT COUNT(*)\n\tFROM reports r WHERE r.status IN (?, ?) AND r.created_at >= ? AND r.overdue = ?",
		args: []any{"open", "it's", time.Date(2025, 3, 14, 8, 0, 0, 0, time.UTC), true}}
	want := "SELECT COUNT(*) FROM reports r WHERE r.status IN ('open', 'it''s') AND r.created_at >= '2025-03-14 08:00:00' AND r.overdue = true"
	if got := inline(s); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestQuantileAndThousands(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 20; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if q := quantile(ds, 0.95); q != 19*time.Millisecond {
		t.Fatalf("p95 %v", q)
	}
	if q := quantile(ds, 1); q != 20*time.Millisecond {
		t.Fatalf("max %v", q)
	}
	for n, want := range map[int]string{999: "999", 1000: "1,000", 1000000: "1,000,000"} {
		if got := thousands(n); got != want {
			t.Fatalf("%d: %s", n, got)
		}
	}
}

func TestSeedRowsAreConsistent(t *testing.T) {
	cols := len(splitCols(insertCols))
	latest := time.Now()
	r := newRand()
	for i := range 2000 {
		row := seedRow(r, i, latest.Add(-time.Duration(i)*time.Hour), latest, "YH-20250314-0001")
		if len(row) != cols {
			t.Fatalf("row has %d values for %d columns", len(row), cols)
		}
	}
}
