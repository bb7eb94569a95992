package rewards_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/rewards"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var t0 = time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai

const textJob = "wechat.custom_text"

func newService(st *storage.Store, clock *storagetest.Clock) *rewards.Service {
	c := content.MustLoadEmbedded()
	return &rewards.Service{Store: st, Content: func() *content.Content { return c }, Now: clock.Now, TextJob: textJob}
}

func TestVerifiedAwardsByRiskLevel(t *testing.T) {
	p := content.MustLoadEmbedded().Points
	r := hazardbot.Report{ID: 7, Ticket: "YH-20260314-0007", OpenID: "o-a"}
	for _, tt := range []struct {
		risk  hazardbot.Risk
		first bool
		want  []int
	}{
		{hazardbot.RiskBlue, false, []int{5}},
		{hazardbot.RiskYellow, false, []int{10}},
		{hazardbot.RiskOrange, false, []int{20}},
		{hazardbot.RiskRed, false, []int{50}},
		{hazardbot.RiskRed, true, []int{50, 10}},
	} {
		t.Run(fmt.Sprint(tt.risk, tt.first), func(t *testing.T) {
			got := rewards.VerifiedAwards(p, r, tt.risk, tt.first, t0)
			if len(got) != len(tt.want) {
				t.Fatalf("awards %+v", got)
			}
			for i, a := range got {
				if a.Points != tt.want[i] || a.OpenID != "o-a" || a.SourceType != "report" || a.SourceID != "7" || !a.At.Equal(t0) {
					t.Errorf("award %+v", a)
				}
			}
			if got[0].Key != "report:7:verified" || !strings.Contains(got[0].Reason, tt.risk.Name()+"风险") ||
				!strings.Contains(got[0].Reason, r.Ticket) {
				t.Errorf("award %+v", got[0])
			}
			if tt.first && got[1].Key != "report:7:first" {
				t.Errorf("bonus %+v", got[1])
			}
		})
	}
	// Every level the lifecycle knows has a rule.
	for _, risk := range hazardbot.Risks {
		if _, ok := p.Rules.ReportVerified[string(risk)]; !ok {
			t.Errorf("no points rule for %s", risk)
		}
	}
}

func submit(t *testing.T, st *storage.Store, openid, key string, lat, lng float64, at time.Time) hazardbot.Report {
	t.Helper()
	r := &hazardbot.Report{OpenID: openid, Category: "fire", Description: "楼道堆满纸箱堵住消防通道", HasLocation: true,
		Lat: lat, Lng: lng, Address: "东湖路18号", CommunityID: "c1", GridID: "c1-g1"}
	storagetest.Must(t, st.SubmitReport(context.Background(), r, key, at))
	return *r
}

func verifiedJob(r hazardbot.Report, risk string) storage.Job {
	body, _ := json.Marshal(hazardbot.ReportVerified{ReportID: r.ID, OpenID: r.OpenID, RiskLevel: risk})
	return storage.Job{Kind: hazardbot.JobReportVerified, Payload: body}
}

func notes(t *testing.T, st *storage.Store, at time.Time) []string {
	t.Helper()
	jobs, err := st.ClaimJobs(context.Background(), at, 100, time.Minute, textJob)
	storagetest.Must(t, err)
	var out []string
	for _, j := range jobs {
		var p struct{ OpenID, Text string }
		storagetest.Must(t, json.Unmarshal(j.Payload, &p))
		out = append(out, p.OpenID+": "+p.Text)
	}
	return out
}

func TestReportVerifiedJob(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		svc := newService(st, clock)
		first := submit(t, st, "o-first", "k1", 36.0650, 103.8480, t0)
		// The same hazard, filed later by someone who said it was another.
		later := submit(t, st, "o-later", "k2", 36.06502, 103.84801, t0.Add(time.Hour))
		clock.Set(t0.Add(2 * time.Hour))

		// Delivered five times at once: counted once.
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := svc.HandleReportVerified(ctx, verifiedJob(first, "orange")); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		storagetest.Must(t, svc.HandleReportVerified(ctx, verifiedJob(later, "橙")))
		b1, _ := st.Balance(ctx, "o-first")
		b2, _ := st.Balance(ctx, "o-later")
		if b1 != 30 || b2 != 20 {
			t.Fatalf("balances %d (first, want 20+10) and %d (later, want 20)", b1, b2)
		}
		// Told by the status notification, not by a message of its own.
		if got := notes(t, st, clock.Now()); len(got) != 0 {
			t.Fatalf("notes %q", got)
		}
		hist, _ := st.PointsHistory(ctx, "o-first", 5)
		if len(hist) != 2 || hist[1].Reason != "上报隐患经核实（橙色风险）"+first.Ticket || hist[0].Reason != "首位发现隐患奖励 "+first.Ticket {
			t.Fatalf("history %+v", hist)
		}

		if err := svc.HandleReportVerified(ctx, verifiedJob(first, "purple")); err == nil {
			t.Fatal("unknown risk level accepted")
		}
		if err := svc.HandleReportVerified(ctx, storage.Job{Payload: []byte(`{"report_id": 999, "risk_level": "red"}`)}); err == nil {
			t.Fatal("unknown report accepted")
		}
	})
}

func TestFirstReporter(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		const radius, window = 50.0, 30 * 24 * time.Hour
		a := submit(t, st, "o-a", "k1", 36.0650, 103.8480, t0)
		far := submit(t, st, "o-b", "k2", 36.0660, 103.8480, t0.Add(time.Hour))  // 111 m away
		near := submit(t, st, "o-c", "k3", 36.0652, 103.8480, t0.Add(time.Hour)) // 22 m away
		mine := submit(t, st, "o-a", "k4", 36.0651, 103.8480, t0.Add(time.Hour)) // the same resident again
		for _, tt := range []struct {
			r    hazardbot.Report
			want bool
		}{{a, true}, {far, true}, {near, false}, {mine, true}} {
			got, err := st.FirstReporter(ctx, tt.r, radius, window)
			storagetest.Must(t, err)
			if got != tt.want {
				t.Errorf("%s by %s: first %v, want %v", tt.r.Ticket, tt.r.OpenID, got, tt.want)
			}
		}
		// A rejected earlier report does not count.
		_, err := st.ChangeStatus(ctx, storage.StatusChange{ReportID: a.ID, From: hazardbot.StatusPending,
			To: hazardbot.StatusRejected, Actor: "staff:x", At: t0.Add(2 * time.Hour)})
		storagetest.Must(t, err)
		if ok, _ := st.FirstReporter(ctx, near, radius, window); !ok {
			t.Error("a rejected report still came first")
		}
		// Nor one long before.
		old := submit(t, st, "o-d", "k5", 36.0660, 103.8481, t0.Add(-40*24*time.Hour))
		_ = old
		if ok, _ := st.FirstReporter(ctx, far, radius, window); !ok {
			t.Error("a report from 40 days before still came first")
		}
	})
}

func TestMaliciousDeduction(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		svc := newService(st, clock)
		street := hazardbot.Actor{Username: "li", Role: hazardbot.RoleStreet}
		r := submit(t, st, "o-bad", "k1", 36.0650, 103.8480, t0)
		_, err := st.Award(ctx, hazardbot.Award{OpenID: "o-bad", Points: 30, Reason: "x", SourceType: "quiz", Key: "q", At: t0})
		storagetest.Must(t, err)
		var ce *hazardbot.CaseError
		if _, err := svc.MarkMalicious(ctx, street, r.Ticket, "编造隐患"); !errors.As(err, &ce) || !errors.Is(err, hazardbot.ErrIllegal) {
			t.Fatalf("pending report: %v", err)
		}
		_, err = st.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending,
			To: hazardbot.StatusRejected, Actor: "staff:li", Note: "现场无此情况", Public: false, At: t0})
		storagetest.Must(t, err)
		if _, err := svc.MarkMalicious(ctx, hazardbot.Actor{Username: "z", Role: hazardbot.RoleCommunity, CommunityID: "c1"},
			r.Ticket, "编造隐患"); !errors.Is(err, hazardbot.ErrForbidden) {
			t.Fatalf("community staff: %v", err)
		}
		if _, err := svc.MarkMalicious(ctx, street, r.Ticket, " "); !errors.Is(err, hazardbot.ErrInvalid) {
			t.Fatalf("no reason: %v", err)
		}
		n, err := svc.MarkMalicious(ctx, street, r.Ticket, "编造隐患，多次骚扰")
		storagetest.Must(t, err)
		if n != 30 { // the rule says 50; the balance had 30
			t.Fatalf("deducted %d", n)
		}
		if _, err := svc.MarkMalicious(ctx, street, r.Ticket, "again"); !errors.Is(err, hazardbot.ErrIllegal) {
			t.Fatalf("twice: %v", err)
		}
		b, _ := st.Balance(ctx, "o-bad")
		a, _ := st.AuditFor(ctx, "report", fmt.Sprint(r.ID))
		got := notes(t, st, t0)
		if b != 0 || len(a) != 1 || a[0].Actor != "staff:li" || len(got) != 1 || !strings.Contains(got[0], "扣除 50 积分") {
			t.Fatalf("balance %d, audit %+v, notes %q", b, a, got)
		}
	})
}

func TestManualAdjustment(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		svc := newService(st, clock)
		admin := hazardbot.Actor{Username: "root", Role: hazardbot.RoleAdmin}
		for _, tt := range []struct {
			actor  hazardbot.Actor
			delta  int
			reason string
			kind   error
		}{
			{hazardbot.Actor{Username: "v", Role: hazardbot.RoleViewer}, 5, "补发", hazardbot.ErrForbidden},
			{hazardbot.Actor{Username: "c", Role: hazardbot.RoleCommunity, CommunityID: "c1"}, 5, "补发", hazardbot.ErrForbidden},
			{admin, 5, "  ", hazardbot.ErrInvalid},
			{admin, 0, "补发", hazardbot.ErrInvalid},
			{admin, 20000, "补发", hazardbot.ErrInvalid},
			{admin, -5, "纠正", hazardbot.ErrInvalid}, // below zero
		} {
			if _, err := svc.Adjust(ctx, tt.actor, "o-a", tt.delta, tt.reason, "form-1"); !errors.Is(err, tt.kind) {
				t.Errorf("%+v: %v, want %v", tt, err, tt.kind)
			}
		}
		res, err := svc.Adjust(ctx, admin, "o-a", 15, "线下活动补发积分", "form-2")
		storagetest.Must(t, err)
		again, err := svc.Adjust(ctx, admin, "o-a", 15, "线下活动补发积分", "form-2") // the form sent twice
		storagetest.Must(t, err)
		if res.Added != 1 || res.Balance != 15 || again.Added != 0 {
			t.Fatalf("adjusted %+v, again %+v", res, again)
		}
		hist, _ := st.PointsHistory(ctx, "o-a", 5)
		a, _ := st.AuditFor(ctx, "points", "o-a")
		if len(hist) != 1 || hist[0].Reason != "工作人员调整：线下活动补发积分" || len(a) != 1 || a[0].Actor != "staff:root" {
			t.Fatalf("history %+v, audit %+v", hist, a)
		}
	})
}

func TestExpireHoldJob(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		svc := newService(st, clock)
		r := hazardbot.Reward{Name: "灭火毯", Points: 25, Stock: 1, ValidFrom: t0, Active: true}
		storagetest.Must(t, st.SaveReward(ctx, &r, "staff:x", t0))
		_, err := st.Award(ctx, hazardbot.Award{OpenID: "o-a", Points: 30, Reason: "x", SourceType: "quiz", Key: "q", At: t0})
		storagetest.Must(t, err)
		red, err := st.Redeem(ctx, hazardbot.RedeemRequest{OpenID: "o-a", RewardID: r.ID, Key: "k", Reason: "兑换冻结：灭火毯",
			HoldFor: 7 * 24 * time.Hour, At: t0})
		storagetest.Must(t, err)
		job := storage.Job{Payload: []byte(fmt.Sprintf(`{"redemption_id": %d}`, red.ID))}
		if err := svc.HandleExpireHold(ctx, job); !errors.Is(err, storage.ErrNotDue) {
			t.Fatalf("early: %v", err)
		}
		clock.Set(red.ExpiresAt)
		for range 3 {
			storagetest.Must(t, svc.HandleExpireHold(ctx, job))
		}
		b, _ := st.Balance(ctx, "o-a")
		hist, _ := st.PointsHistory(ctx, "o-a", 5)
		got := notes(t, st, clock.Now())
		if b != 30 || len(hist) != 3 || hist[0].Reason != "兑换过期未领，积分退回：灭火毯" || len(got) != 1 ||
			!strings.Contains(got[0], "冻结的 25 积分已经退回") {
			t.Fatalf("balance %d, history %+v, notes %q", b, hist, got)
		}
	})
}

func TestStaffOnRedemptionsAndVolunteers(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		clock := storagetest.NewClock(t0)
		svc := newService(st, clock)
		desk := hazardbot.Actor{Username: "desk", Role: hazardbot.RoleCommunity, CommunityID: "c1"}
		viewer := hazardbot.Actor{Username: "v", Role: hazardbot.RoleViewer}
		r := hazardbot.Reward{Name: "灭火毯", Points: 10, Stock: 5, ValidFrom: t0, Active: true}
		storagetest.Must(t, st.SaveReward(ctx, &r, "staff:x", t0))
		_, err := st.Award(ctx, hazardbot.Award{OpenID: "o-a", Points: 30, Reason: "x", SourceType: "quiz", Key: "q", At: t0})
		storagetest.Must(t, err)
		hold := func(key string) hazardbot.Redemption {
			red, err := st.Redeem(ctx, hazardbot.RedeemRequest{OpenID: "o-a", RewardID: r.ID, Key: key, Reason: "兑换冻结：灭火毯",
				HoldFor: 24 * time.Hour, At: t0})
			storagetest.Must(t, err)
			return red
		}
		red := hold("k1")
		if _, err := svc.ConfirmPickup(ctx, viewer, red.Code); !errors.Is(err, hazardbot.ErrForbidden) {
			t.Fatalf("viewer: %v", err)
		}
		if _, err := svc.ConfirmPickup(ctx, desk, "12ab"); !errors.Is(err, hazardbot.ErrInvalid) {
			t.Fatalf("bad code: %v", err)
		}
		got, err := svc.ConfirmPickup(ctx, desk, red.Code)
		storagetest.Must(t, err)
		if got.Status != hazardbot.RedemptionPickedUp {
			t.Fatalf("picked up %+v", got)
		}
		if _, err := svc.ConfirmPickup(ctx, desk, red.Code); !errors.Is(err, hazardbot.ErrIllegal) {
			t.Fatalf("twice: %v", err)
		}
		red2 := hold("k2")
		if err := svc.CancelRedemption(ctx, desk, red2.ID, ""); !errors.Is(err, hazardbot.ErrInvalid) {
			t.Fatalf("no reason: %v", err)
		}
		storagetest.Must(t, svc.CancelRedemption(ctx, desk, red2.ID, "居民改主意了"))
		if err := svc.CancelRedemption(ctx, desk, red2.ID, "再取消"); !errors.Is(err, hazardbot.ErrStale) {
			t.Fatalf("twice: %v", err)
		}
		if b, _ := st.Balance(ctx, "o-a"); b != 20 {
			t.Fatalf("balance %d, want 20", b)
		}

		// Volunteers: community staff decide on their own community's.
		_, err = st.ApplyVolunteer(ctx, hazardbot.Volunteer{OpenID: "o-v2", Name: "赵六", Mobile: "13900000000", CommunityID: "c2"}, t0)
		storagetest.Must(t, err)
		if _, err := svc.DecideVolunteer(ctx, desk, "o-v2", true, ""); !errors.Is(err, hazardbot.ErrForbidden) {
			t.Fatalf("other community: %v", err)
		}
		_, err = st.ApplyVolunteer(ctx, hazardbot.Volunteer{OpenID: "o-v1", Name: "钱七", Mobile: "13900000001", CommunityID: "c1"}, t0)
		storagetest.Must(t, err)
		v, err := svc.DecideVolunteer(ctx, desk, "o-v1", true, "")
		storagetest.Must(t, err)
		if v.Status != hazardbot.VolunteerApproved {
			t.Fatalf("approved %+v", v)
		}
		if _, err := svc.DecideVolunteer(ctx, desk, "o-v1", true, ""); !errors.Is(err, hazardbot.ErrStale) {
			t.Fatalf("twice: %v", err)
		}
		_, err = svc.DecideVolunteer(ctx, desk, "o-v1", false, "已搬离本社区")
		storagetest.Must(t, err)
		got2 := strings.Join(notes(t, st, t0), "\n")
		if !strings.Contains(got2, "o-v1: 🎉 恭喜！您的志愿者报名已通过") || !strings.Contains(got2, "o-v1: 您的志愿者身份已被取消（原因：已搬离本社区）") ||
			!strings.Contains(got2, "o-a: 您兑换的「灭火毯」已取消") {
			t.Fatalf("notes %s", got2)
		}
	})
}
