package storage_test

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
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var (
	caseNow    = time.Date(2025, 3, 14, 1, 30, 0, 0, time.UTC) // 09:30 in Shanghai
	lc         hazardbot.Lifecycle
	streetUser = hazardbot.Actor{Username: "jiedao", Role: hazardbot.RoleStreet}
	siteUser   = hazardbot.Actor{Username: "donghu", Role: hazardbot.RoleCommunity, CommunityID: "c1"}
)

// fileCase stores a report the way the chat does and returns its case.
func fileCase(t *testing.T, s *storage.Store, openid, desc string, at time.Time) hazardbot.Case {
	t.Helper()
	r := &hazardbot.Report{OpenID: openid, Category: "fire", Description: desc, HasLocation: true, Lat: 36.065, Lng: 103.848,
		Address: "东湖路18号", CommunityID: "c1", GridID: "c1-g1", Phone: "13912345678"}
	storagetest.Must(t, s.SubmitReport(context.Background(), r, "key-"+openid+desc, at))
	c, err := s.Case(context.Background(), r.ID)
	storagetest.Must(t, err)
	return c
}

// act plans and applies an action, failing the test on any error.
func act(t *testing.T, s *storage.Store, c hazardbot.Case, a hazardbot.Actor, in hazardbot.ActionInput, at time.Time) hazardbot.Case {
	t.Helper()
	tr, err := lc.Plan(c, a, in, at)
	storagetest.Must(t, err)
	_, err = s.ApplyTransition(context.Background(), tr, nil)
	storagetest.Must(t, err)
	c, err = s.Case(context.Background(), c.ID)
	storagetest.Must(t, err)
	return c
}

func jobsOf(t *testing.T, s *storage.Store, kind string) []storage.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), caseNow.Add(365*24*time.Hour), 100, time.Minute, kind)
	storagetest.Must(t, err)
	return jobs
}

func TestCaseThroughTheClosedLoop(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		c := fileCase(t, s, "o-rep", "楼道堆满纸箱", caseNow)
		_, err := s.FollowReport(ctx, c.ID, "o-fan", caseNow)
		storagetest.Must(t, err)
		jobsOf(t, s, hazardbot.JobNotifyStatus) // none yet; clears nothing

		c = act(t, s, c, siteUser, hazardbot.ActionInput{Action: hazardbot.ActVerify, Risk: hazardbot.RiskOrange, Category: "electric"}, caseNow)
		if c.Status != hazardbot.StatusVerified || c.RiskLevel != "orange" || c.Category != "electric" || !c.VerifiedAt.Equal(caseNow) {
			t.Fatalf("verified %+v", c)
		}
		verified := jobsOf(t, s, hazardbot.JobReportVerified)
		if len(verified) != 1 || verified[0].DedupKey != fmt.Sprintf("verified:%d", c.ID) {
			t.Fatalf("points jobs %+v", verified)
		}
		var p hazardbot.ReportVerified
		storagetest.Must(t, json.Unmarshal(verified[0].Payload, &p))
		if p != (hazardbot.ReportVerified{ReportID: c.ID, OpenID: "o-rep", RiskLevel: "orange"}) {
			t.Fatalf("points payload %+v", p)
		}
		if n := len(jobsOf(t, s, hazardbot.JobNotifyStatus)); n != 2 {
			t.Fatalf("verification notifies %d residents, want reporter and follower", n)
		}

		at := caseNow.Add(time.Hour)
		c = act(t, s, c, streetUser, hazardbot.ActionInput{Action: hazardbot.ActAssign, AssigneeType: hazardbot.AssignGrid,
			AssigneeID: "c2-g1", AssigneeName: "西湖社区第1网格", AssigneeCommunity: "c2"}, at)
		if c.Status != hazardbot.StatusAssigned || !c.Deadline.Equal(at.Add(72*time.Hour)) || c.CommunityID != "c2" || c.GridID != "c2-g1" ||
			c.AssigneeName != "西湖社区第1网格" {
			t.Fatalf("assigned %+v", c)
		}
		c2 := hazardbot.Actor{Username: "xihu", Role: hazardbot.RoleCommunity, CommunityID: "c2"}
		c = act(t, s, c, c2, hazardbot.ActionInput{Action: hazardbot.ActStart}, at)
		tr, err := lc.Plan(c, c2, hazardbot.ActionInput{Action: hazardbot.ActSubmit, Note: "纸箱已清理", Photos: 1}, at)
		storagetest.Must(t, err)
		ev, err := s.ApplyTransition(ctx, tr, []storage.CasePhoto{{Path: "rectification/1/a.jpg", SHA256: strings.Repeat("a", 64), Size: 10, MIME: "image/jpeg"}})
		storagetest.Must(t, err)
		photos, err := s.CasePhotos(ctx, c.ID)
		storagetest.Must(t, err)
		if len(photos) != 1 || photos[0].EventID != ev.ID || photos[0].UploadedBy != "staff:xihu" {
			t.Fatalf("rectification photos %+v", photos)
		}
		c, _ = s.Case(ctx, c.ID)
		c = act(t, s, c, streetUser, hazardbot.ActionInput{Action: hazardbot.ActReturn, Reason: "照片看不清"}, at)
		c = act(t, s, c, c2, hazardbot.ActionInput{Action: hazardbot.ActSubmit, Note: "重新拍照"}, at)
		c = act(t, s, c, streetUser, hazardbot.ActionInput{Action: hazardbot.ActClose}, at.Add(time.Hour))
		if c.Status != hazardbot.StatusClosed || c.Rectification != "重新拍照" || !c.ClosedAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("closed %+v", c)
		}

		tl, err := s.Timeline(ctx, c.ID, false)
		storagetest.Must(t, err)
		var path []string
		for _, e := range tl {
			path = append(path, string(e.To))
		}
		if got := strings.Join(path, ","); got != "pending,verified,assigned,fixing,review,fixing,review,closed" {
			t.Fatalf("timeline %s", got)
		}
		audit, err := s.AuditFor(ctx, "report", fmt.Sprint(c.ID))
		storagetest.Must(t, err)
		if len(audit) != 7 || audit[0].Actor != "staff:donghu" || audit[0].Action != "case.verify" ||
			!strings.Contains(audit[0].Detail, "pending → verified") || audit[6].Action != "case.close" {
			t.Fatalf("audit %+v", audit)
		}
		// Every later step was public too: 6 steps × 2 residents.
		if n := len(jobsOf(t, s, hazardbot.JobNotifyStatus)); n != 12 {
			t.Fatalf("notification jobs %d, want 12 more", n)
		}
	})
}

func TestTwoStaffActAtOnce(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		c := fileCase(t, s, "o-race", "电动车在楼道充电", caseNow)
		// Both planned against the case as they saw it: pending.
		verify, err := lc.Plan(c, siteUser, hazardbot.ActionInput{Action: hazardbot.ActVerify, Risk: hazardbot.RiskRed, Category: "electric"}, caseNow)
		storagetest.Must(t, err)
		reject, err := lc.Plan(c, streetUser, hazardbot.ActionInput{Action: hazardbot.ActReject, Reason: "不在辖区"}, caseNow)
		storagetest.Must(t, err)
		for round := range 2 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, tr := range []hazardbot.Transition{verify, reject} {
				wg.Go(func() { _, errs[i] = s.ApplyTransition(ctx, tr, nil) })
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, storage.ErrConflict):
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if want := 1 - round; wins != want { // the second round finds the case moved on
				t.Fatalf("round %d: %d winners, want %d (%v)", round, wins, want, errs)
			}
		}
		got, err := s.Case(ctx, c.ID)
		storagetest.Must(t, err)
		tl, _ := s.Timeline(ctx, c.ID, false)
		audit, _ := s.AuditFor(ctx, "report", fmt.Sprint(c.ID))
		if len(tl) != 2 || len(audit) != 1 || (got.Status != hazardbot.StatusVerified && got.Status != hazardbot.StatusRejected) {
			t.Fatalf("after the race: status %s, %d events, %d audit entries", got.Status, len(tl), len(audit))
		}
		points := jobsOf(t, s, hazardbot.JobReportVerified)
		if (got.Status == hazardbot.StatusVerified) != (len(points) == 1) {
			t.Fatalf("status %s with %d points jobs", got.Status, len(points))
		}

		// Listed supervision keeps the status, so it is guarded on its own flag.
		if got.Status == hazardbot.StatusRejected {
			got = fileCase(t, s, "o-race2", "电动车在楼道充电", caseNow)
			got = act(t, s, got, siteUser, hazardbot.ActionInput{Action: hazardbot.ActVerify, Risk: hazardbot.RiskRed, Category: "electric"}, caseNow)
		}
		sup, err := lc.Plan(got, streetUser, hazardbot.ActionInput{Action: hazardbot.ActSupervise, SupervisingUnit: "区应急管理局"}, caseNow)
		storagetest.Must(t, err)
		_, err1 := s.ApplyTransition(ctx, sup, nil)
		_, err2 := s.ApplyTransition(ctx, sup, nil)
		if err1 != nil || !errors.Is(err2, storage.ErrConflict) {
			t.Fatalf("supervise twice: %v, %v", err1, err2)
		}
	})
}

func TestDuplicateMovesPeopleToTheTarget(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		target := fileCase(t, s, "o-first", "消防栓被挡", caseNow)
		dup := fileCase(t, s, "o-second", "消防栓被杂物挡住", caseNow)
		for _, f := range []string{"o-fan", "o-first"} {
			_, err := s.FollowReport(ctx, dup.ID, f, caseNow)
			storagetest.Must(t, err)
		}
		closed := fileCase(t, s, "o-third", "消防栓", caseNow)
		closed = act(t, s, closed, siteUser, hazardbot.ActionInput{Action: hazardbot.ActReject, Reason: "重复"}, caseNow)

		tr, err := lc.Plan(dup, siteUser, hazardbot.ActionInput{Action: hazardbot.ActDuplicate, Target: closed.Ticket}, caseNow)
		storagetest.Must(t, err)
		_, err = s.ApplyTransition(ctx, tr, nil)
		if !errors.Is(err, hazardbot.ErrInvalid) || !strings.Contains(err.Error(), "不予受理") {
			t.Fatalf("merge into a rejected case: %v", err)
		}
		tr.Target = "YH-19990101-0001"
		if _, err = s.ApplyTransition(ctx, tr, nil); !errors.Is(err, hazardbot.ErrInvalid) || !strings.Contains(err.Error(), "没有找到") {
			t.Fatalf("merge into nothing: %v", err)
		}
		if got, _ := s.Case(ctx, dup.ID); got.Status != hazardbot.StatusPending {
			t.Fatalf("a refused merge changed the case: %s", got.Status)
		}

		dup = act(t, s, dup, siteUser, hazardbot.ActionInput{Action: hazardbot.ActDuplicate, Target: strings.ToLower(target.Ticket)}, caseNow)
		if dup.Status != hazardbot.StatusDuplicate || dup.DuplicateOf != target.Ticket {
			t.Fatalf("duplicate %+v", dup)
		}
		followers, err := s.Followers(ctx, target.ID)
		storagetest.Must(t, err)
		if strings.Join(followers, ",") != "o-fan,o-second" && strings.Join(followers, ",") != "o-second,o-fan" {
			t.Fatalf("target's followers %v", followers)
		}
		// The merged case's people hear of the target's progress now.
		jobsOf(t, s, hazardbot.JobNotifyStatus)
		act(t, s, target, siteUser, hazardbot.ActionInput{Action: hazardbot.ActVerify, Risk: hazardbot.RiskBlue, Category: "fire"}, caseNow)
		told := map[string]bool{}
		for _, j := range jobsOf(t, s, hazardbot.JobNotifyStatus) {
			var n hazardbot.NotifyStatus
			storagetest.Must(t, json.Unmarshal(j.Payload, &n))
			told[n.OpenID] = true
		}
		if len(told) != 3 || !told["o-first"] || !told["o-second"] || !told["o-fan"] {
			t.Fatalf("told %v", told)
		}
	})
}

func TestCaseQueries(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		a := fileCase(t, s, "o-a", "3号楼楼道堆满纸箱", caseNow.Add(-48*time.Hour))
		b := fileCase(t, s, "o-b", "井盖缺失 100%危险_注意", caseNow.Add(-2*time.Hour))
		hostile := fileCase(t, s, "o-c", "x' OR '1'='1'; DROP TABLE reports; --", caseNow.Add(-time.Hour))
		act(t, s, a, siteUser, hazardbot.ActionInput{Action: hazardbot.ActVerify, Risk: hazardbot.RiskRed, Category: "fire"}, caseNow.Add(-47*time.Hour))
		a, _ = s.Case(ctx, a.ID)
		a = act(t, s, a, streetUser, hazardbot.ActionInput{Action: hazardbot.ActAssign, AssigneeType: hazardbot.AssignCommunity,
			AssigneeID: "c1", AssigneeName: "东湖社区", AssigneeCommunity: "c1"}, caseNow.Add(-47*time.Hour))

		// Overdue: the red case's 24 hours ran out a day ago.
		marked, err := s.MarkOverdue(ctx, caseNow)
		storagetest.Must(t, err)
		again, err := s.MarkOverdue(ctx, caseNow.Add(time.Minute))
		storagetest.Must(t, err)
		if len(marked) != 1 || marked[0].ID != a.ID || len(again) != 0 {
			t.Fatalf("overdue marked %d then %d", len(marked), len(again))
		}
		tl, _ := s.Timeline(ctx, a.ID, false)
		if last := tl[len(tl)-1]; last.Public || last.Actor != "system" || !strings.Contains(last.Note, "已超过整改期限") {
			t.Fatalf("overdue entry %+v", last)
		}

		tickets := func(q storage.CaseQuery) string {
			t.Helper()
			cs, total, err := s.Cases(ctx, q)
			storagetest.Must(t, err)
			var out []string
			for _, c := range cs {
				out = append(out, fmt.Sprint(c.ID))
			}
			return fmt.Sprintf("%d:%s", total, strings.Join(out, ""))
		}
		// a=1, b=2, hostile=3 by id; overdue first, then newest first.
		for _, tc := range []struct {
			name string
			q    storage.CaseQuery
			want string
		}{
			{"all", storage.CaseQuery{}, "3:132"},
			{"oldest first", storage.CaseQuery{Sort: "created", Asc: true}, "3:123"},
			{"sort by risk", storage.CaseQuery{Sort: "risk"}, "3:132"},
			{"unknown sort column", storage.CaseQuery{Sort: "r.id; DROP TABLE reports"}, "3:132"},
			{"page", storage.CaseQuery{Limit: 1, Offset: 1}, "3:3"},
			{"status", storage.CaseQuery{Statuses: []hazardbot.Status{hazardbot.StatusPending}}, "2:32"},
			{"risk", storage.CaseQuery{Risk: hazardbot.RiskRed}, "1:1"},
			{"overdue", storage.CaseQuery{Overdue: true}, "1:1"},
			{"scope", storage.CaseQuery{Scope: "c2"}, "0:"},
			{"ticket", storage.CaseQuery{Text: strings.ToLower(b.Ticket)}, "1:2"},
			{"ticket without dashes", storage.CaseQuery{Text: strings.ReplaceAll(b.Ticket, "-", "")}, "1:2"},
			{"words", storage.CaseQuery{Text: "纸箱"}, "1:1"},
			{"percent is a character", storage.CaseQuery{Text: "100%危险"}, "1:2"},
			{"underscore is a character", storage.CaseQuery{Text: "险_注"}, "1:2"},
			{"a lone percent", storage.CaseQuery{Text: "%"}, "1:2"},
			{"SQL stays data", storage.CaseQuery{Text: "' OR '1'='1"}, "1:3"},
			{"SQL in a filter", storage.CaseQuery{Category: "fire' OR '1'='1"}, "0:"},
			{"date range", storage.CaseQuery{From: caseNow.Add(-3 * time.Hour), To: caseNow}, "2:32"},
		} {
			if got := tickets(tc.q); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
		}
		if _, err := s.Case(ctx, hostile.ID); err != nil {
			t.Fatal(err)
		}

		st, err := s.Stats(ctx, "", caseNow)
		storagetest.Must(t, err)
		if st.Total != 3 || st.Open != 3 || st.Overdue != 1 || len(st.Week) != 7 || st.Week[6].Filed != 2 || st.Week[4].Filed != 1 {
			t.Fatalf("stats %+v", st)
		}
		if scoped, _ := s.Stats(ctx, "c2", caseNow); scoped.Total != 0 {
			t.Fatalf("scoped stats %+v", scoped)
		}
		open, err := s.OpenCases(ctx, "")
		storagetest.Must(t, err)
		if len(open) != 3 || open[2].ID != a.ID {
			t.Fatalf("open cases: red should come last to be drawn on top: %+v", open)
		}
	})
}

func TestDigestRecords(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		id, err := s.CreateStaff(ctx, storage.Staff{Username: "donghu", PasswordHash: []byte("$2a$04$x"), Role: hazardbot.RoleCommunity, CommunityID: "c1"}, caseNow)
		storagetest.Must(t, err)
		_, err = s.CreateStaff(ctx, storage.Staff{Username: "viewer", PasswordHash: []byte("$2a$04$x"), Role: hazardbot.RoleViewer}, caseNow)
		storagetest.Must(t, err)
		if r, _ := s.DigestRecipients(ctx); len(r) != 0 {
			t.Fatalf("unbound staff get digests: %+v", r)
		}
		storagetest.Must(t, s.SetBindCode(ctx, id, "123456", caseNow.Add(10*time.Minute), caseNow))
		_, err = s.BindWeChat(ctx, "123456", "o-staff", caseNow)
		storagetest.Must(t, err)
		r, err := s.DigestRecipients(ctx)
		storagetest.Must(t, err)
		if len(r) != 1 || r[0].OpenID != "o-staff" {
			t.Fatalf("recipients %+v", r)
		}
		storagetest.Must(t, s.RecordDigest(ctx, storage.Digest{StaffID: id, Day: "2025-03-14", Cases: 2, Channel: "custom", Outcome: "failed"}, caseNow))
		storagetest.Must(t, s.RecordDigest(ctx, storage.Digest{StaffID: id, Day: "2025-03-14", Cases: 2, Channel: "template", Outcome: "sent"}, caseNow))
		d, err := s.Digests(ctx, "2025-03-14")
		storagetest.Must(t, err)
		if len(d) != 1 || d[0].Outcome != "sent" || d[0].Channel != "template" {
			t.Fatalf("digests %+v", d)
		}
	})
}
