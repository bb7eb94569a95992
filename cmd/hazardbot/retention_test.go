package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
)

func TestRetentionDryRunThenRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := storage.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The command runs on the wall clock, so the reports are dated from it.
	file := func(key string, age time.Duration, close bool) string {
		r := &hazardbot.Report{OpenID: "o-cli-resident", Category: "fire", Description: "楼道堆物 13900001111", Phone: "13900001111"}
		at := time.Now().Add(-age)
		if err := st.SubmitReport(ctx, r, key, at); err != nil {
			t.Fatal(err)
		}
		if close {
			if _, err := st.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending,
				To: hazardbot.StatusClosed, Actor: "staff:li", At: at}); err != nil {
				t.Fatal(err)
			}
		}
		return r.Ticket
	}
	old := file("old", 400*24*time.Hour, true)
	young := file("young", 10*24*time.Hour, true)

	env := map[string]string{"HAZARDBOT_DATA_DIR": dir, "HAZARDBOT_RETENTION_DAYS": "365"}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(ctx, []string{"retention", "--dry-run"}, getenv, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, old) || strings.Contains(text, young) || !strings.Contains(text, "1 report(s)") ||
		!strings.Contains(text, "phone removed") || !strings.Contains(text, "已销号") {
		t.Fatalf("dry run:\n%s", text)
	}
	if strings.Contains(text, "13900001111") || strings.Contains(text, "o-cli-resident") {
		t.Fatalf("the dry run prints personal data:\n%s", text)
	}
	if r, _ := st.ReportByTicket(ctx, old); r.Phone == "" {
		t.Fatal("the dry run changed the report")
	}

	out.Reset()
	if err := run(ctx, []string{"retention"}, getenv, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "anonymised 1 report(s)") {
		t.Fatalf("run: %s", out.String())
	}
	if r, _ := st.ReportByTicket(ctx, old); r.Phone != "" || !hazardbot.IsPseudonym(r.OpenID) {
		t.Fatalf("not anonymised: %+v", r)
	}
	if r, _ := st.ReportByTicket(ctx, young); r.Phone == "" {
		t.Fatalf("a young report was anonymised: %+v", r)
	}

	env["HAZARDBOT_RETENTION_DAYS"] = "0"
	if err := run(ctx, []string{"retention"}, getenv, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "off") {
		t.Fatalf("retention off: %v", err)
	}
}
