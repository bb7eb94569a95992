package storage_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// finish files a report at `at` and moves it to status `to` a day later.
func finish(t *testing.T, s *storage.Store, openid, key string, at time.Time, to hazardbot.Status) hazardbot.Report {
	t.Helper()
	ctx := context.Background()
	r := newReport(openid, 36.065, 103.848)
	r.Phone = "13912345678"
	r.Description = "3号楼楼道堆满纸箱，有事打我 139-1234-5678 或 zhang@example.com"
	storagetest.Must(t, s.SubmitReport(ctx, r, key, at))
	if to != hazardbot.StatusPending {
		_, err := s.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending, To: to,
			Actor: "staff:li", Note: "已清理", Public: true, At: at.Add(24 * time.Hour)})
		storagetest.Must(t, err)
	}
	return *r
}

func TestRetentionAnonymisesFinishedReports(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
		before := now.AddDate(0, 0, -365)
		old := now.AddDate(0, 0, -400)

		closed := finish(t, s, "o-reporter", "k-closed", old, hazardbot.StatusClosed)
		rejected := finish(t, s, "o-reporter", "k-rejected", old.Add(time.Hour), hazardbot.StatusRejected)
		recent := finish(t, s, "o-reporter", "k-recent", now.AddDate(0, 0, -100), hazardbot.StatusClosed)
		open := finish(t, s, "o-reporter", "k-open", old, hazardbot.StatusPending)

		added, err := s.FollowReport(ctx, closed.ID, "o-follower", old)
		storagetest.Must(t, err)
		if !added {
			t.Fatal("follower not added")
		}
		tl, err := s.Timeline(ctx, closed.ID, true)
		storagetest.Must(t, err)
		last := tl[len(tl)-1]
		storagetest.Must(t, s.RecordNotification(ctx, last.ID, "o-reporter", "custom", storage.NotifySent, "", old))
		storagetest.Must(t, s.RecordNotification(ctx, last.ID, "o-follower", "template", storage.NotifySent, "", old))
		_, err = s.SaveOpen311Request(ctx, storage.Open311Request{ReportID: closed.ID, Token: "tok-1", Client: "hotline",
			Email: "zhang@example.com", FirstName: "三", LastName: "张", MediaURL: "https://img.example/1.jpg", CreatedAt: old})
		storagetest.Must(t, err)

		// The dry run lists what would change and changes nothing.
		cands, err := s.RetentionCandidates(ctx, before, 100)
		storagetest.Must(t, err)
		var tickets []string
		for _, c := range cands {
			tickets = append(tickets, c.Ticket)
		}
		if !slices.Equal(tickets, []string{closed.Ticket, rejected.Ticket}) {
			t.Fatalf("candidates %v, want %s and %s (not %s, %s)", tickets, closed.Ticket, rejected.Ticket, recent.Ticket, open.Ticket)
		}
		c := cands[0]
		if !c.Phone || !c.Contact || c.Followers != 1 || c.Notifications != 2 || c.Media != 2 || !c.MaskedText {
			t.Fatalf("candidate %+v", c)
		}
		changes := strings.Join(c.Changes(), "; ")
		if strings.Contains(changes, "139") || strings.Contains(changes, "o-reporter") {
			t.Fatalf("the dry run shows personal data: %s", changes)
		}

		done, err := s.AnonymiseFinished(ctx, before, now, 100)
		storagetest.Must(t, err)
		if !slices.Equal(done, tickets) {
			t.Fatalf("anonymised %v, want %v", done, tickets)
		}

		got, err := s.Report(ctx, closed.ID)
		storagetest.Must(t, err)
		if !hazardbot.IsPseudonym(got.OpenID) || got.Phone != "" || !got.Anonymous {
			t.Fatalf("identity kept: openid %q phone %q anonymous %v", got.OpenID, got.Phone, got.Anonymous)
		}
		if strings.Contains(got.Description, "5678") || strings.Contains(got.Description, "@") ||
			!strings.Contains(got.Description, "3号楼楼道堆满纸箱") {
			t.Fatalf("description %q", got.Description)
		}
		if !got.HasLocation || got.Lat != 36.065 || got.Address != closed.Address || !got.UpdatedAt.Equal(closed.CreatedAt.Add(24*time.Hour)) {
			t.Fatalf("the hazard's place or finishing time changed: %+v", got)
		}
		for _, p := range got.Photos {
			if p.MediaID != "" || p.PicURL != "" {
				t.Fatalf("photo keeps WeChat ids: %+v", p)
			}
		}
		followers, err := s.Followers(ctx, closed.ID)
		storagetest.Must(t, err)
		if len(followers) != 1 || !hazardbot.IsPseudonym(followers[0]) {
			t.Fatalf("followers %v", followers)
		}
		notes, err := s.Notifications(ctx, last.ID)
		storagetest.Must(t, err)
		for _, n := range notes {
			if !hazardbot.IsPseudonym(n.OpenID) {
				t.Fatalf("delivery record keeps %q", n.OpenID)
			}
		}
		var contact struct {
			Email     string `db:"email"`
			FirstName string `db:"first_name"`
			LastName  string `db:"last_name"`
			MediaURL  string `db:"media_url"`
		}
		storagetest.Must(t, s.DB.GetContext(ctx, &contact, "SELECT email, first_name, last_name, media_url FROM open311_requests WHERE report_id = ?", closed.ID))
		if contact.Email != "" || contact.FirstName != "" || contact.LastName != "" || contact.MediaURL == "" {
			t.Fatalf("open311 contact %+v", contact)
		}
		mine, err := s.ReportsFor(ctx, "o-reporter", 10)
		storagetest.Must(t, err)
		for _, r := range mine {
			if r.ID == closed.ID || r.ID == rejected.ID {
				t.Fatalf("the resident still reaches anonymised %s", r.Ticket)
			}
		}
		if len(mine) != 2 {
			t.Fatalf("the resident's recent and open reports: %d, want 2", len(mine))
		}
		audit, err := s.AuditFor(ctx, "report", closed.Ticket)
		storagetest.Must(t, err)
		if len(audit) != 1 || audit[0].Action != "retention.anonymise" {
			t.Fatalf("audit %+v", audit)
		}

		// Nothing is left to do, and a later run leaves the rest alone.
		again, err := s.AnonymiseFinished(ctx, before, now, 100)
		storagetest.Must(t, err)
		if len(again) != 0 {
			t.Fatalf("second run changed %v", again)
		}
	})
}

func TestRetentionSkipsAReportReopenedMeanwhile(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
		r := finish(t, s, "o-reporter", "k1", now.AddDate(-2, 0, 0), hazardbot.StatusClosed)
		cands, err := s.RetentionCandidates(ctx, now.AddDate(-1, 0, 0), 10)
		storagetest.Must(t, err)
		if len(cands) != 1 {
			t.Fatalf("candidates %+v", cands)
		}
		// Staff reopen it after the listing, before anonymisation reaches it.
		_, err = s.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusClosed,
			To: hazardbot.StatusFixing, Actor: "staff:li", Public: false, At: now})
		storagetest.Must(t, err)
		done, err := s.AnonymiseFinished(ctx, now.AddDate(-1, 0, 0), now, 10)
		storagetest.Must(t, err)
		got, err := s.Report(ctx, r.ID)
		storagetest.Must(t, err)
		if len(done) != 0 || got.OpenID != "o-reporter" {
			t.Fatalf("a reopened report was anonymised: %v %+v", done, got)
		}
	})
}
