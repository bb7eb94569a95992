package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func newReport(openid string, lat, lng float64) *hazardbot.Report {
	return &hazardbot.Report{OpenID: openid, Category: "fire", Description: "楼道堆满纸箱堵住消防通道",
		HasLocation: true, Lat: lat, Lng: lng, Address: "东湖路18号", CommunityID: "c1", GridID: "c1-g1",
		Photos: []hazardbot.Photo{{MediaID: "m1", PicURL: "http://x/1"}, {MediaID: "m2"}}}
}

func TestSubmitReport(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC) // 2026-11-28 01:00 in Shanghai
		r := newReport("o-a", 36.06, 103.84)
		storagetest.Must(t, s.SubmitReport(ctx, r, "k1", now))
		if r.Ticket != "YH-20261128-0001" || r.Status != hazardbot.StatusPending || r.ID == 0 {
			t.Fatalf("submitted %+v", r)
		}
		again := newReport("o-a", 36.06, 103.84)
		storagetest.Must(t, s.SubmitReport(ctx, again, "k1", now))
		if again.ID != r.ID || again.Ticket != r.Ticket {
			t.Fatalf("resubmission made a new report: %s vs %s", again.Ticket, r.Ticket)
		}
		second := newReport("o-b", 36.06, 103.84)
		storagetest.Must(t, s.SubmitReport(ctx, second, "k2", now))
		if second.Ticket != "YH-20261128-0002" {
			t.Fatalf("second ticket %s", second.Ticket)
		}
		got, err := s.ReportByTicket(ctx, "yh-20261128-0001")
		storagetest.Must(t, err)
		if len(got.Photos) != 2 || got.Photos[0].Status != hazardbot.PhotoPending || got.CoordSys != "gcj02" || !got.HasLocation {
			t.Fatalf("stored %+v", got)
		}
		jobs, err := s.ClaimJobs(ctx, now, 10, time.Minute, hazardbot.JobFetchPhoto)
		storagetest.Must(t, err)
		if len(jobs) != 4 {
			t.Fatalf("photo jobs: %d, want 4", len(jobs))
		}
		tl, err := s.Timeline(ctx, r.ID, true)
		storagetest.Must(t, err)
		if len(tl) != 1 || tl[0].To != hazardbot.StatusPending {
			t.Fatalf("timeline %+v", tl)
		}
		n, err := s.CountReportsSince(ctx, "o-a", hazardbot.StartOfDay(now))
		storagetest.Must(t, err)
		if n != 1 {
			t.Fatalf("count %d", n)
		}
	})
}

func TestConcurrentSubmissionsGetDistinctTickets(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := time.Now()
		var wg sync.WaitGroup
		tickets := make([]string, 12)
		for i := range tickets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := newReport("o-c", 36.06, 103.84)
				key := "c" + string(rune('a'+i%6)) // half of them are repeats
				if err := s.SubmitReport(ctx, r, key, now); err != nil {
					t.Error(err)
				}
				tickets[i] = r.Ticket
			}()
		}
		wg.Wait()
		distinct := map[string]bool{}
		for _, tk := range tickets {
			distinct[tk] = true
		}
		if len(distinct) != 6 {
			t.Fatalf("%d distinct tickets for 6 keys: %v", len(distinct), tickets)
		}
	})
}

func TestNearbyFollowAndStatusChange(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := time.Now()
		r := newReport("o-a", 36.0600, 103.8400)
		storagetest.Must(t, s.SubmitReport(ctx, r, "n1", now))
		near, err := s.NearbyOpen(ctx, "fire", 36.0603, 103.8400, 50, now.Add(-30*24*time.Hour)) // ~33 m
		storagetest.Must(t, err)
		if len(near) != 1 || near[0].ID != r.ID {
			t.Fatalf("nearby: %+v", near)
		}
		if far, _ := s.NearbyOpen(ctx, "fire", 36.0610, 103.8400, 50, now.Add(-time.Hour)); len(far) != 0 {
			t.Fatalf("111 m away counted as nearby")
		}
		if other, _ := s.NearbyOpen(ctx, "gas", 36.0600, 103.8400, 50, now.Add(-time.Hour)); len(other) != 0 {
			t.Fatalf("another category counted")
		}
		added, err := s.FollowReport(ctx, r.ID, "o-f", now)
		storagetest.Must(t, err)
		again, _ := s.FollowReport(ctx, r.ID, "o-f", now)
		self, _ := s.FollowReport(ctx, r.ID, "o-a", now)
		if !added || again || self {
			t.Fatalf("follow: added %v again %v self %v", added, again, self)
		}
		mine, err := s.ReportsFor(ctx, "o-f", 10)
		storagetest.Must(t, err)
		if len(mine) != 1 || mine[0].Followers != 1 {
			t.Fatalf("followed reports: %+v", mine)
		}
		ev, err := s.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending,
			To: hazardbot.StatusVerified, Actor: "staff:1", Note: "已现场核实", Public: true, At: now})
		storagetest.Must(t, err)
		if _, err := s.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending,
			To: hazardbot.StatusRejected, Actor: "staff:2", Public: true, At: now}); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("stale change: %v", err)
		}
		jobs, err := s.ClaimJobs(ctx, now, 10, time.Minute, hazardbot.JobNotifyStatus)
		storagetest.Must(t, err)
		if len(jobs) != 2 {
			t.Fatalf("notify jobs %d, want reporter and follower", len(jobs))
		}
		got, _ := s.Report(ctx, r.ID)
		if got.Status != hazardbot.StatusVerified {
			t.Fatalf("status %s", got.Status)
		}
		if e, _ := s.Event(ctx, ev.ID); e.Note != "已现场核实" {
			t.Fatalf("event %+v", e)
		}
	})
}

func TestAwardIsIdempotentAndNeverNegative(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		a := hazardbot.Award{OpenID: "o-p", Points: 10, Reason: "核实上报", SourceType: "report", SourceID: "1", Key: "report:1", At: time.Now()}
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = s.Award(ctx, a) }()
		}
		wg.Wait()
		if b, _ := s.Balance(ctx, "o-p"); b != 10 {
			t.Fatalf("balance %d after 5 deliveries, want 10", b)
		}
		_, err := s.Award(ctx, hazardbot.Award{OpenID: "o-p", Points: -11, Reason: "兑换", SourceType: "redemption", Key: "r:1", At: time.Now()})
		if !errors.Is(err, storage.ErrInsufficientPoints) {
			t.Fatalf("overdraw: %v", err)
		}
		ok, err := s.Award(ctx, hazardbot.Award{OpenID: "o-p", Points: -10, Reason: "兑换", SourceType: "redemption", Key: "r:2", At: time.Now()})
		if !ok || err != nil {
			t.Fatalf("spend: %v %v", ok, err)
		}
		l, _ := s.Ledger(ctx, "o-p", 10)
		if len(l) != 2 || l[0].Balance != 0 || l[1].Balance != 10 {
			t.Fatalf("ledger %+v", l)
		}
	})
}
