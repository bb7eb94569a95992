package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var rt0 = time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai

func award(openid string, points int, key string) hazardbot.Award {
	return hazardbot.Award{OpenID: openid, Points: points, Reason: "测试", SourceType: hazardbot.SourceManual,
		SourceID: key, Key: key, At: rt0}
}

// checkLedger fails unless every balance equals the sum of its entries and
// none is negative.
func checkLedger(t *testing.T, s *storage.Store) {
	t.Helper()
	entries, balances, err := s.LedgerSums(context.Background())
	storagetest.Must(t, err)
	if entries != balances {
		t.Fatalf("ledger entries sum to %d, balances to %d", entries, balances)
	}
	var negative int
	storagetest.Must(t, s.DB.Get(&negative, "SELECT COUNT(*) FROM points_balances WHERE balance < 0"))
	if negative > 0 {
		t.Fatalf("%d negative balances", negative)
	}
}

func newReward(t *testing.T, s *storage.Store, points, stock, perPerson int) hazardbot.Reward {
	t.Helper()
	r := hazardbot.Reward{Name: "灭火毯", Points: points, Stock: stock, PerPerson: perPerson, ValidFrom: rt0.Add(-time.Hour), Active: true}
	storagetest.Must(t, s.SaveReward(context.Background(), &r, "staff:admin", rt0))
	return r
}

func redeemReq(openid string, rewardID int64, key string) storage.RedeemRequest {
	return storage.RedeemRequest{OpenID: openid, RewardID: rewardID, Key: key, Reason: "兑换冻结：灭火毯",
		HoldFor: 7 * 24 * time.Hour, At: rt0}
}

func TestAwardDeliveredFiveTimesCountsOnce(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		added := make(chan bool, 5)
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Award(ctx, award("o-a", 20, "report:1:verified"))
				if err != nil {
					t.Error(err)
				}
				added <- ok
			}()
		}
		wg.Wait()
		close(added)
		n := 0
		for ok := range added {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d deliveries added an entry, want 1", n)
		}
		// And once more, after the fact.
		if ok, err := s.Award(ctx, award("o-a", 20, "report:1:verified")); ok || err != nil {
			t.Fatalf("late redelivery: %v %v", ok, err)
		}
		entries, err := s.Ledger(ctx, "o-a", 10)
		storagetest.Must(t, err)
		if b, _ := s.Balance(ctx, "o-a"); len(entries) != 1 || b != 20 {
			t.Fatalf("entries %d, balance %d", len(entries), b)
		}
		checkLedger(t, s)
	})
}

func TestApplyPointsClampsPenaltiesAndAudits(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		storagetest.Must(t, must1(s.Award(ctx, award("o-a", 8, "k1"))))
		if _, err := s.Award(ctx, award("o-a", -30, "k2")); !errors.Is(err, storage.ErrInsufficientPoints) {
			t.Fatalf("overdraft: %v", err)
		}
		audit := &storage.AuditEntry{At: rt0, Actor: "staff:admin", Action: "points.malicious", SubjectType: "report", SubjectID: "9"}
		res, err := s.ApplyPoints(ctx, storage.PointsChange{Awards: []hazardbot.Award{award("o-a", -30, "malicious:9")},
			Clamp: true, Audit: audit})
		storagetest.Must(t, err)
		if res.Added != 1 || res.Applied[0] != -8 || res.Balance != 0 {
			t.Fatalf("clamped %+v", res)
		}
		// The same penalty again changes nothing, at zero too.
		res, err = s.ApplyPoints(ctx, storage.PointsChange{Awards: []hazardbot.Award{award("o-a", -30, "malicious:9")}, Clamp: true, Audit: audit})
		storagetest.Must(t, err)
		if res.Added != 0 {
			t.Fatalf("penalty counted twice: %+v", res)
		}
		a, err := s.AuditFor(ctx, "report", "9")
		storagetest.Must(t, err)
		if len(a) != 1 {
			t.Fatalf("audit %+v", a)
		}
		checkLedger(t, s)
	})
}

func must1(_ bool, err error) error { return err }

func TestFiftyConcurrentRedemptionsByOneResident(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 10, 100, 0)
		storagetest.Must(t, must1(s.Award(ctx, award("o-rich", 35, "seed")))) // covers 3, not 4
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, short := 0, 0
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Redeem(ctx, redeemReq("o-rich", r.ID, fmt.Sprintf("req-%d", i)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, storage.ErrInsufficientPoints):
					short++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 3 || short != 47 {
			t.Fatalf("%d succeeded, %d short of points; want 3 and 47", ok, short)
		}
		b, err := s.Balance(ctx, "o-rich")
		storagetest.Must(t, err)
		got, err := s.Reward(ctx, r.ID)
		storagetest.Must(t, err)
		if b != 5 || got.Stock != 97 {
			t.Fatalf("balance %d, stock %d; want 5 and 97", b, got.Stock)
		}
		checkLedger(t, s)
	})
}

func TestStockTenHundredRedeemers(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 10, 10, 1)
		for i := range 100 {
			storagetest.Must(t, must1(s.Award(ctx, award(fmt.Sprintf("o-%03d", i), 50, fmt.Sprintf("seed-%d", i)))))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, out := 0, 0
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Redeem(ctx, redeemReq(fmt.Sprintf("o-%03d", i), r.ID, fmt.Sprintf("req-%d", i)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, storage.ErrOutOfStock):
					out++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 10 || out != 90 {
			t.Fatalf("%d redeemed, %d out of stock; want 10 and 90", ok, out)
		}
		got, err := s.Reward(ctx, r.ID)
		storagetest.Must(t, err)
		held, err := s.Redemptions(ctx, storage.RedemptionFilter{Status: hazardbot.RedemptionHeld, Limit: 1000})
		storagetest.Must(t, err)
		if got.Stock != 0 || len(held) != 10 {
			t.Fatalf("stock %d, held %d", got.Stock, len(held))
		}
		codes := map[string]bool{}
		for _, h := range held {
			codes[h.Code] = true
		}
		if len(codes) != 10 {
			t.Fatalf("pickup codes not unique: %v", codes)
		}
		checkLedger(t, s)
	})
}

func TestRedeemRules(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 10, 5, 1)
		storagetest.Must(t, must1(s.Award(ctx, award("o-a", 100, "seed"))))
		first, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k1"))
		storagetest.Must(t, err)
		if len(first.Code) != 8 || first.Status != hazardbot.RedemptionHeld || !first.ExpiresAt.Equal(rt0.Add(7*24*time.Hour)) {
			t.Fatalf("redemption %+v", first)
		}
		// A double click: the same request again is the same redemption.
		again, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k1"))
		if err != nil || again.ID != first.ID {
			t.Fatalf("repeat: %+v %v", again, err)
		}
		if _, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k2")); !errors.Is(err, storage.ErrLimitReached) {
			t.Fatalf("second of a limit-1 reward: %v", err)
		}
		if _, err := s.Redeem(ctx, redeemReq("o-a", 999, "k3")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown reward: %v", err)
		}
		late := hazardbot.Reward{Name: "过期礼品", Points: 1, Stock: 5, ValidFrom: rt0.Add(-48 * time.Hour), ValidTo: rt0.Add(-time.Hour), Active: true}
		storagetest.Must(t, s.SaveReward(ctx, &late, "staff:admin", rt0))
		if _, err := s.Redeem(ctx, redeemReq("o-a", late.ID, "k4")); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("expired reward: %v", err)
		}
		if b, _ := s.Balance(ctx, "o-a"); b != 90 {
			t.Fatalf("balance %d, want 90", b)
		}
		hist, err := s.PointsHistory(ctx, "o-a", 10)
		storagetest.Must(t, err)
		if len(hist) != 2 || hist[0].Delta != -10 || hist[0].HoldStatus != hazardbot.RedemptionHeld || hist[0].Reason != "兑换冻结：灭火毯" {
			t.Fatalf("history %+v", hist)
		}
		// The expiry job waits for the hold's end.
		jobs, err := s.ClaimJobs(ctx, rt0.Add(7*24*time.Hour), 10, time.Minute, hazardbot.JobExpireHold)
		storagetest.Must(t, err)
		if len(jobs) != 1 || string(jobs[0].Payload) != fmt.Sprintf(`{"redemption_id":%d}`, first.ID) {
			t.Fatalf("expiry jobs %+v", jobs)
		}
		checkLedger(t, s)
	})
}

func TestExpiredHoldReturnsPointsOnce(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 30, 1, 0)
		storagetest.Must(t, must1(s.Award(ctx, award("o-a", 40, "seed"))))
		red, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k1"))
		storagetest.Must(t, err)
		rel := storage.ReleaseHold{RedemptionID: red.ID, To: hazardbot.RedemptionExpired, Actor: "system",
			Reason: "兑换过期退回：灭火毯", At: red.ExpiresAt.Add(-time.Second)}
		if _, err := s.Release(ctx, rel); !errors.Is(err, storage.ErrNotDue) {
			t.Fatalf("early expiry: %v", err)
		}
		rel.At = red.ExpiresAt
		var wg sync.WaitGroup
		var mu sync.Mutex
		released := 0
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Release(ctx, rel)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if ok {
					released++
				}
			}()
		}
		wg.Wait()
		if released != 1 {
			t.Fatalf("released %d times", released)
		}
		b, _ := s.Balance(ctx, "o-a")
		got, _ := s.Reward(ctx, r.ID)
		hist, err := s.PointsHistory(ctx, "o-a", 10)
		storagetest.Must(t, err)
		if b != 40 || got.Stock != 1 || len(hist) != 3 || hist[0].Delta != 30 || hist[1].HoldStatus != hazardbot.RedemptionExpired {
			t.Fatalf("balance %d, stock %d, history %+v", b, got.Stock, hist)
		}
		if _, err := s.ConfirmPickup(ctx, red.Code, "staff:desk", rel.At); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("pickup of an expired hold: %v", err)
		}
		m, err := s.PointsMonth(ctx, "o-a", rt0)
		storagetest.Must(t, err)
		if m.Month != "2026-03" || m.Redeemed != 0 || m.Earned[hazardbot.SourceManual] != 40 {
			t.Fatalf("month %+v", m)
		}
		checkLedger(t, s)
	})
}

func TestPickupKeepsPointsSpent(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 30, 2, 0)
		storagetest.Must(t, must1(s.Award(ctx, award("o-a", 40, "seed"))))
		red, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k1"))
		storagetest.Must(t, err)
		if _, err := s.ConfirmPickup(ctx, "00000000", "staff:desk", rt0); !errors.Is(err, storage.ErrNotFound) && red.Code != "00000000" {
			t.Fatalf("unknown code: %v", err)
		}
		if _, err := s.ConfirmPickup(ctx, red.Code, "staff:desk", red.ExpiresAt); !errors.Is(err, storage.ErrHoldExpired) {
			t.Fatalf("pickup at expiry: %v", err)
		}
		got, err := s.ConfirmPickup(ctx, " "+red.Code+" ", "staff:desk", rt0.Add(time.Hour))
		storagetest.Must(t, err)
		if got.Status != hazardbot.RedemptionPickedUp || got.ClosedBy != "staff:desk" {
			t.Fatalf("picked up %+v", got)
		}
		if _, err := s.ConfirmPickup(ctx, red.Code, "staff:desk", rt0.Add(time.Hour)); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second pickup: %v", err)
		}
		// The expiry job that comes later does nothing.
		if ok, err := s.Release(ctx, storage.ReleaseHold{RedemptionID: red.ID, To: hazardbot.RedemptionExpired,
			Actor: "system", Reason: "x", At: red.ExpiresAt}); ok || err != nil {
			t.Fatalf("expiry after pickup: %v %v", ok, err)
		}
		b, _ := s.Balance(ctx, "o-a")
		stock, _ := s.Reward(ctx, r.ID)
		hist, _ := s.PointsHistory(ctx, "o-a", 10)
		if b != 10 || stock.Stock != 1 || len(hist) != 2 || hist[0].HoldStatus != hazardbot.RedemptionPickedUp {
			t.Fatalf("balance %d, stock %d, history %+v", b, stock.Stock, hist)
		}
		m, err := s.PointsMonth(ctx, "o-a", rt0)
		storagetest.Must(t, err)
		if m.Redeemed != -30 {
			t.Fatalf("month %+v", m)
		}
		a, _ := s.AuditFor(ctx, "redemption", fmt.Sprint(red.ID))
		if len(a) != 1 || a[0].Action != "redemption.pickup" {
			t.Fatalf("audit %+v", a)
		}
		// A cancellation by staff returns the points like an expiry.
		red2, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k2"))
		if !errors.Is(err, storage.ErrInsufficientPoints) {
			t.Fatalf("redeem with 10 points left: %+v %v", red2, err)
		}
		checkLedger(t, s)
	})
}

func TestCancelRedemption(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 30, 2, 0)
		storagetest.Must(t, must1(s.Award(ctx, award("o-a", 40, "seed"))))
		red, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k1"))
		storagetest.Must(t, err)
		ok, err := s.Release(ctx, storage.ReleaseHold{RedemptionID: red.ID, To: hazardbot.RedemptionCancelled,
			Actor: "staff:desk", Reason: "兑换取消退回：灭火毯", Note: "居民不需要了", At: rt0.Add(time.Hour)})
		if !ok || err != nil {
			t.Fatalf("cancel: %v %v", ok, err)
		}
		got, _ := s.Redemption(ctx, red.ID)
		b, _ := s.Balance(ctx, "o-a")
		a, _ := s.AuditFor(ctx, "redemption", fmt.Sprint(red.ID))
		if got.Status != hazardbot.RedemptionCancelled || b != 40 || len(a) != 1 {
			t.Fatalf("cancelled %+v, balance %d, audit %+v", got, b, a)
		}
		checkLedger(t, s)
	})
}

func TestVolunteers(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		storagetest.Must(t, s.TouchUser(ctx, "o-v", rt0))
		v, err := s.ApplyVolunteer(ctx, hazardbot.Volunteer{OpenID: "o-v", Name: "张三", Mobile: "13912345678",
			CommunityID: "c1", Skills: []string{"急救", "消防"}}, rt0)
		storagetest.Must(t, err)
		if v.Status != hazardbot.VolunteerPending || v.Number() != fmt.Sprintf("ZY-%06d", v.ID) || len(v.Skills) != 2 {
			t.Fatalf("applied %+v", v)
		}
		list, err := s.Volunteers(ctx, storage.VolunteerFilter{Status: hazardbot.VolunteerPending, Search: "张"})
		storagetest.Must(t, err)
		if len(list) != 1 {
			t.Fatalf("pending list %+v", list)
		}
		v, err = s.DecideVolunteer(ctx, storage.VolunteerDecision{OpenID: "o-v", Approve: true, Actor: "staff:admin", At: rt0,
			FollowUps: []storage.FollowUp{{Kind: "wechat.custom_text", Key: "volunteer-approved:o-v", Payload: map[string]string{"openid": "o-v"}}}})
		storagetest.Must(t, err)
		u, err := s.GetUser(ctx, "o-v")
		storagetest.Must(t, err)
		if v.Status != hazardbot.VolunteerApproved || u.Role != storage.RoleVolunteer || v.DecidedBy != "staff:admin" {
			t.Fatalf("approved %+v, role %s", v, u.Role)
		}
		if _, err := s.DecideVolunteer(ctx, storage.VolunteerDecision{OpenID: "o-v", Approve: true, Actor: "staff:b", At: rt0}); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second approval: %v", err)
		}
		if _, err := s.ApplyVolunteer(ctx, hazardbot.Volunteer{OpenID: "o-v", Name: "张三", Mobile: "13912345678", CommunityID: "c1"}, rt0); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("applying when approved: %v", err)
		}
		jobs, err := s.ClaimJobs(ctx, rt0, 10, time.Minute, "wechat.custom_text")
		storagetest.Must(t, err)
		if len(jobs) != 1 {
			t.Fatalf("follow-ups %d", len(jobs))
		}
		// Revoked, then applying again.
		_, err = s.DecideVolunteer(ctx, storage.VolunteerDecision{OpenID: "o-v", Actor: "staff:admin", Note: "已搬离", At: rt0})
		storagetest.Must(t, err)
		u, _ = s.GetUser(ctx, "o-v")
		if u.Role != storage.RoleResident {
			t.Fatalf("role after revoke %s", u.Role)
		}
		v, err = s.ApplyVolunteer(ctx, hazardbot.Volunteer{OpenID: "o-v", Name: "张三丰", Mobile: "13912345679", CommunityID: "c2"}, rt0.Add(time.Hour))
		storagetest.Must(t, err)
		if v.Status != hazardbot.VolunteerPending || v.Name != "张三丰" || !v.DecidedAt.IsZero() || v.Note != "" {
			t.Fatalf("reapplied %+v", v)
		}
		a, _ := s.AuditFor(ctx, "volunteer", fmt.Sprint(v.ID))
		if len(a) != 2 || a[0].Action != "volunteer.approve" || a[1].Action != "volunteer.revoke" {
			t.Fatalf("audit %+v", a)
		}
		if _, err := s.Volunteer(ctx, "o-none"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	})
}

func TestCheckInOncePerPointAndDay(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		p := hazardbot.PatrolPoint{Name: "东湖公园北门", CommunityID: "c1", Lat: 36.065, Lng: 103.848, Radius: 100, Active: true}
		storagetest.Must(t, s.SavePatrolPoint(ctx, &p, "staff:admin", rt0))
		pts, err := s.PatrolPoints(ctx, true)
		storagetest.Must(t, err)
		if len(pts) != 1 || pts[0] != p {
			t.Fatalf("points %+v", pts)
		}
		checkIn := func(at time.Time) (bool, error) {
			c := &hazardbot.CheckIn{OpenID: "o-v", PointID: p.ID, Lat: 36.0651, Lng: 103.8481, Distance: 14, At: at}
			return s.CheckIn(ctx, c, hazardbot.Award{Points: 5, Reason: "巡查打卡：东湖公园北门"})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		n := 0
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := checkIn(rt0)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if ok {
					n++
				}
			}()
		}
		wg.Wait()
		if n != 1 {
			t.Fatalf("%d check-ins the same day", n)
		}
		// 23:59 Shanghai is still the same day; 00:00 is the next.
		if ok, _ := checkIn(time.Date(2026, 3, 14, 15, 59, 0, 0, time.UTC)); ok {
			t.Fatal("checked in twice on one Shanghai day")
		}
		if ok, err := checkIn(time.Date(2026, 3, 14, 16, 0, 0, 0, time.UTC)); !ok || err != nil {
			t.Fatalf("next day: %v %v", ok, err)
		}
		c, err := s.CheckInOf(ctx, "o-v", p.ID, "2026-03-14")
		storagetest.Must(t, err)
		storagetest.Must(t, s.SetCheckInPhoto(ctx, c.ID, "o-v", "media-1", "http://pic/1"))
		list, err := s.CheckIns(ctx, storage.CheckInFilter{OpenID: "o-v"})
		storagetest.Must(t, err)
		if len(list) != 2 || list[1].MediaID != "media-1" || list[0].Day != "2026-03-15" || list[0].Points != 5 {
			t.Fatalf("check-ins %+v", list)
		}
		if n, _ := s.CountCheckIns(ctx, "o-v", "2026-03-01"); n != 2 {
			t.Fatalf("count %d", n)
		}
		b, _ := s.Balance(ctx, "o-v")
		m, _ := s.PointsMonth(ctx, "o-v", rt0)
		if b != 10 || m.Earned[hazardbot.SourcePatrol] != 10 {
			t.Fatalf("balance %d, month %+v", b, m)
		}
		p.Active = false
		storagetest.Must(t, s.SavePatrolPoint(ctx, &p, "staff:admin", rt0))
		if pts, _ := s.PatrolPoints(ctx, true); len(pts) != 0 {
			t.Fatalf("retired point still active: %+v", pts)
		}
		checkLedger(t, s)
	})
}

func TestStockAndAccounts(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		r := newReward(t, s, 10, 1, 0)
		if n, err := s.AddStock(ctx, r.ID, 4, "staff:admin", rt0); n != 5 || err != nil {
			t.Fatalf("add stock: %d %v", n, err)
		}
		if _, err := s.AddStock(ctx, r.ID, -6, "staff:admin", rt0); !errors.Is(err, storage.ErrOutOfStock) {
			t.Fatalf("below zero: %v", err)
		}
		r.Name, r.Stock = "灭火毯（大）", 999 // an edit does not touch the stock
		storagetest.Must(t, s.SaveReward(ctx, &r, "staff:admin", rt0))
		got, _ := s.Reward(ctx, r.ID)
		if got.Stock != 5 || got.Name != "灭火毯（大）" {
			t.Fatalf("after edit %+v", got)
		}
		storagetest.Must(t, must1(s.Award(ctx, award("o-a", 40, "a"))))
		storagetest.Must(t, must1(s.Award(ctx, award("o-b", 10, "b"))))
		_, err := s.Redeem(ctx, redeemReq("o-a", r.ID, "k"))
		storagetest.Must(t, err)
		acc, err := s.PointsAccounts(ctx, "", 10, 0)
		storagetest.Must(t, err)
		if len(acc) != 2 || acc[0].OpenID != "o-a" || acc[0].Balance != 30 || acc[0].Held != 10 || acc[0].Entries != 2 {
			t.Fatalf("accounts %+v", acc)
		}
		var n int
		storagetest.Must(t, s.EachLedgerEntry(ctx, rt0, rt0.Add(time.Second), func(hazardbot.PointsEntry) error { n++; return nil }))
		if n != 3 {
			t.Fatalf("exported %d entries", n)
		}
	})
}
