package console_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// The volunteer, patrol, rewards and points pages (volunteers.go,
// rewards.go), on the env of console_test.go.

func (e *env) volunteer(openid, name, community string) hazardbot.Volunteer {
	e.t.Helper()
	v, err := e.st.ApplyVolunteer(context.Background(), hazardbot.Volunteer{OpenID: openid, Name: name, Mobile: "13912345678",
		CommunityID: community, Skills: []string{"急救"}}, e.clock.Now())
	storagetest.Must(e.t, err)
	return v
}

func (e *env) points(openid string, n int, key string) {
	e.t.Helper()
	_, err := e.st.Award(context.Background(), hazardbot.Award{OpenID: openid, Points: n, Reason: "每日答题答对一题",
		SourceType: hazardbot.SourceQuiz, SourceID: key, Key: key, At: e.clock.Now()})
	storagetest.Must(e.t, err)
}

func TestPointsPagesRefuseAnonymousUsersAndWrongRoles(t *testing.T) {
	e := newEnv(t)
	anon := e.browser()
	for _, r := range []struct{ method, path string }{
		{"GET", "/console/volunteers"}, {"POST", "/console/volunteers/1/approve"}, {"GET", "/console/patrol"},
		{"POST", "/console/patrol"}, {"GET", "/console/rewards"}, {"POST", "/console/rewards"}, {"POST", "/console/rewards/1/stock"},
		{"POST", "/console/pickup"}, {"POST", "/console/redemptions/1/cancel"}, {"GET", "/console/points"},
		{"GET", "/console/points/export.csv"}, {"POST", "/console/points/malicious"}, {"GET", "/console/points/o-x"},
		{"POST", "/console/points/o-x/adjust"},
	} {
		req, _ := http.NewRequest(r.method, e.srv.URL+r.path, strings.NewReader("csrf=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p := anon.do(req); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/console/login") {
			t.Errorf("anonymous %s %s: %d → %q", r.method, r.path, p.status, p.location)
		}
	}
	v := e.volunteer("o-v", "张三", "c1")
	for _, tc := range []struct {
		who, method, path string
		kv                []string
	}{
		{"kan", "POST", fmt.Sprintf("/console/volunteers/%d/approve", v.ID), nil},
		{"xiyuan", "POST", fmt.Sprintf("/console/volunteers/%d/approve", v.ID), nil}, // another community's
		{"kan", "POST", "/console/patrol", []string{"name", "x", "community", "c1", "lat", "36.065", "lng", "103.848", "radius", "100"}},
		{"xiyuan", "POST", "/console/patrol", []string{"name", "x", "community", "c1", "lat", "36.065", "lng", "103.848", "radius", "100"}},
		{"donghu", "POST", "/console/rewards", []string{"name", "灭火毯", "points", "10", "stock", "1", "per_person", "0", "from", "2025-03-14"}},
		{"kan", "POST", "/console/pickup", []string{"code", "12345678"}},
		{"donghu", "GET", "/console/points", nil},
		{"donghu", "GET", "/console/points/export.csv?from=2025-03-01&to=2025-03-31", nil},
		{"kan", "POST", "/console/points/o-v/adjust", []string{"delta", "5", "reason", "x", "key", "k"}},
	} {
		b := e.as(tc.who)
		var p page
		if tc.method == "GET" {
			p = b.get(tc.path)
		} else {
			p = b.form(tc.path, tc.kv...)
		}
		if p.status != http.StatusForbidden {
			t.Errorf("%s %s %s: %d, want 403", tc.who, tc.method, tc.path, p.status)
		}
	}
	got, _ := e.st.Volunteer(context.Background(), "o-v")
	pts, _ := e.st.PatrolPoints(context.Background(), false)
	rws, _ := e.st.Rewards(context.Background())
	if got.Status != hazardbot.VolunteerPending || len(pts) != 0 || len(rws) != 0 {
		t.Fatalf("refused requests changed something: %+v %+v %+v", got, pts, rws)
	}
	// And every POST checks the CSRF token.
	b := e.as("admin")
	p := b.post(fmt.Sprintf("/console/volunteers/%d/approve", v.ID), nil)
	want(t, p, http.StatusForbidden, "安全校验未通过")
}

func TestVolunteerApprovalInTheConsole(t *testing.T) {
	e := newEnv(t)
	mine := e.volunteer("o-v1", "张三", "c1")
	other := e.volunteer("o-v2", "赵六", "c2")
	b := e.as("donghu")
	p := b.get("/console/volunteers")
	want(t, p, http.StatusOK, "1 人待审核", "张三", "13912345678", "急救")
	if strings.Contains(p.body, "赵六") {
		t.Fatal("community staff see another community's volunteers")
	}
	want(t, b.form(fmt.Sprintf("/console/volunteers/%d/approve", mine.ID)), http.StatusSeeOther)
	want(t, b.get("/console/volunteers?done=approve"), http.StatusOK, "已通过", mine.Number())
	if v, _ := e.st.Volunteer(context.Background(), "o-v1"); v.Status != hazardbot.VolunteerApproved || v.DecidedBy != "staff:donghu" {
		t.Fatalf("approved %+v", v)
	}
	// Twice: told it was decided, nothing changes.
	want(t, b.form(fmt.Sprintf("/console/volunteers/%d/approve", mine.ID)), http.StatusConflict, "刚刚已被处理")

	// Street staff see everyone, phones of other communities' too, and decline.
	s := e.as("jiedao")
	want(t, s.get("/console/volunteers?status=pending"), http.StatusOK, "赵六")
	want(t, s.form(fmt.Sprintf("/console/volunteers/%d/decline", other.ID), "note", "请先完成社区登记"), http.StatusSeeOther)
	v, _ := e.st.Volunteer(context.Background(), "o-v2")
	a, _ := e.st.AuditFor(context.Background(), "volunteer", fmt.Sprint(other.ID))
	if v.Status != hazardbot.VolunteerDeclined || v.Note != "请先完成社区登记" || len(a) != 1 || a[0].Actor != "staff:jiedao" {
		t.Fatalf("declined %+v, audit %+v", v, a)
	}
	// A viewer sees masked phones and no buttons.
	p = e.as("kan").get("/console/volunteers")
	want(t, p, http.StatusOK, "139****5678")
	if strings.Contains(p.body, "13912345678") || strings.Contains(p.body, "/approve") {
		t.Fatal("a viewer sees phones or actions")
	}
}

func TestPatrolPointsInTheConsole(t *testing.T) {
	e := newEnv(t)
	b := e.as("donghu")
	want(t, b.form("/console/patrol", "name", "", "community", "c1", "lat", "1", "lng", "103.848", "radius", "5"),
		http.StatusUnprocessableEntity, "名称", "坐标", "打卡半径")
	want(t, b.form("/console/patrol", "name", "东湖公园北门", "community", "c1", "lat", "36.065", "lng", "103.848",
		"radius", "80", "active", "1"), http.StatusSeeOther)
	pts, _ := e.st.PatrolPoints(context.Background(), true)
	if len(pts) != 1 || pts[0].Radius != 80 || pts[0].CommunityID != "c1" {
		t.Fatalf("points %+v", pts)
	}
	ci := &hazardbot.CheckIn{OpenID: "o-v1", PointID: pts[0].ID, Lat: 36.065, Lng: 103.848, At: e.clock.Now()}
	_, err := e.st.CheckIn(context.Background(), ci, hazardbot.Award{Points: 5, Reason: "巡查打卡：东湖公园北门"})
	storagetest.Must(t, err)
	want(t, b.get("/console/patrol"), http.StatusOK, "东湖公园北门", "80 米", "<td>1</td>", "+5")
	// Retired by its community's staff; another community's may not touch it.
	x := e.as("xiyuan")
	want(t, x.form("/console/patrol", "id", fmt.Sprint(pts[0].ID), "name", "改名", "community", "c2", "lat", "36.065",
		"lng", "103.848", "radius", "80"), http.StatusForbidden)
	want(t, b.form("/console/patrol", "id", fmt.Sprint(pts[0].ID), "name", "东湖公园北门", "community", "c1", "lat", "36.065",
		"lng", "103.848", "radius", "80"), http.StatusSeeOther)
	if pts, _ := e.st.PatrolPoints(context.Background(), true); len(pts) != 0 {
		t.Fatalf("still active: %+v", pts)
	}
}

var codeCell = regexp.MustCompile(`<td><b>(\d{8})</b></td>`)

func TestRewardsCatalogPickupAndCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.as("jiedao")
	want(t, s.form("/console/rewards", "name", "灭火毯", "points", "0", "stock", "-1", "per_person", "x", "from", "nope"),
		http.StatusUnprocessableEntity, "所需积分", "库存", "每人限兑", "开始兑换日期")
	want(t, s.form("/console/rewards", "name", "灭火毯", "description", "1.2米×1.2米", "points", "25", "stock", "2",
		"per_person", "1", "from", "2025-03-14", "to", "2025-12-31", "active", "1"), http.StatusSeeOther)
	rws, _ := e.st.Rewards(ctx)
	if len(rws) != 1 || rws[0].Stock != 2 || rws[0].PerPerson != 1 || !rws[0].ValidTo.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, hazardbot.Shanghai)) {
		t.Fatalf("catalog %+v", rws)
	}
	id := rws[0].ID
	want(t, s.form(fmt.Sprintf("/console/rewards/%d/stock", id), "delta", "+3"), http.StatusSeeOther)
	want(t, s.form(fmt.Sprintf("/console/rewards/%d/stock", id), "delta", "-9"), http.StatusConflict, "库存不能减到0以下")
	want(t, s.get("/console/rewards"), http.StatusOK, "灭火毯", "兑换中", `value="2025-12-31"`)

	for i, who := range []string{"o-a", "o-b"} {
		e.points(who, 30, "seed-"+who)
		_, err := e.st.Redeem(ctx, hazardbot.RedeemRequest{OpenID: who, RewardID: id, Key: fmt.Sprint("k", i),
			Reason: "兑换冻结：灭火毯", HoldFor: 7 * 24 * time.Hour, At: e.clock.Now()})
		storagetest.Must(t, err)
	}
	desk := e.as("donghu")
	p := desk.get("/console/rewards")
	codes := codeCell.FindAllStringSubmatch(p.body, -1)
	if len(codes) != 2 {
		t.Fatalf("held codes on the page: %v", codes)
	}
	want(t, desk.form("/console/pickup", "code", "1234"), http.StatusUnprocessableEntity, "取货码是8位数字")
	want(t, desk.form("/console/pickup", "code", codes[0][1]), http.StatusOK, "已确认领取", "「灭火毯」（25积分）")
	want(t, desk.form("/console/pickup", "code", codes[0][1]), http.StatusConflict, "已领取")

	held, _ := e.st.Redemptions(ctx, storage.RedemptionFilter{Status: hazardbot.RedemptionHeld})
	want(t, desk.form(fmt.Sprintf("/console/redemptions/%d/cancel", held[0].ID), "note", ""), http.StatusUnprocessableEntity, "原因")
	want(t, desk.form(fmt.Sprintf("/console/redemptions/%d/cancel", held[0].ID), "note", "居民来电取消"), http.StatusSeeOther)
	if b, _ := e.st.Balance(ctx, held[0].OpenID); b != 30 {
		t.Fatalf("balance after a cancellation %d", b)
	}
	want(t, desk.get("/console/rewards"), http.StatusOK, "已取消，积分已退回", "已领取", "staff:donghu")
}

func TestPointsLedgerAdjustMaliciousAndExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.volunteer("o-v1", "张三", "c1")
	e.points("o-v1", 12, "q1")
	s := e.as("jiedao")
	want(t, s.get("/console/points?q=张三"), http.StatusOK, "张三", "<td>12</td>", "/console/points/o-v1")
	p := s.get("/console/points/o-v1")
	want(t, p, http.StatusOK, "o-v1", `id="balance">12<`, "每日答题答对一题")
	key := regexp.MustCompile(`name="key" value="([0-9a-f]+)"`).FindStringSubmatch(p.body)[1]
	want(t, s.form("/console/points/o-v1/adjust", "delta", "-20", "reason", "纠正", "key", key), http.StatusUnprocessableEntity, "小于0")
	want(t, s.form("/console/points/o-v1/adjust", "delta", "+8", "reason", "", "key", key), http.StatusUnprocessableEntity, "请填写调整理由")
	want(t, s.form("/console/points/o-v1/adjust", "delta", "+8", "reason", "参加消防演练", "key", key), http.StatusSeeOther)
	want(t, s.form("/console/points/o-v1/adjust", "delta", "+8", "reason", "参加消防演练", "key", key), http.StatusSeeOther) // sent twice
	if b, _ := e.st.Balance(ctx, "o-v1"); b != 20 {
		t.Fatalf("balance %d, want 20", b)
	}
	audit, _ := e.st.AuditFor(ctx, "points", "o-v1")
	var views, adjusts int
	for _, a := range audit {
		switch a.Action {
		case "points.view":
			views++
		case "points.adjust":
			adjusts++
		}
	}
	if views != 1 || adjusts != 1 {
		t.Fatalf("audit %+v", audit)
	}
	want(t, s.get("/console/points/o-nobody"), http.StatusNotFound)

	// A rejected report found malicious.
	c := e.report("o-v1", "编造的隐患", "c1")
	want(t, s.form("/console/points/malicious", "ticket", c.Ticket, "note", "编造"), http.StatusConflict, "只有不予受理的工单")
	_, err := e.st.ChangeStatus(ctx, storage.StatusChange{ReportID: c.ID, From: hazardbot.StatusPending, To: hazardbot.StatusRejected,
		Actor: "staff:jiedao", At: e.clock.Now()})
	storagetest.Must(t, err)
	want(t, s.form("/console/points/malicious", "ticket", "YH-20990101-0001", "note", "编造"), http.StatusUnprocessableEntity, "没有找到")
	want(t, s.form("/console/points/malicious", "ticket", c.Ticket, "note", "编造"), http.StatusSeeOther)
	want(t, s.get("/console/points?deducted=20"), http.StatusOK, "扣除 20 积分")
	if b, _ := e.st.Balance(ctx, "o-v1"); b != 0 {
		t.Fatalf("balance after the penalty %d", b)
	}

	// The export: a CSV Excel opens, audited.
	from := hazardbot.Day(e.clock.Now())
	p = s.get("/console/points/export.csv?from=" + from + "&to=" + from)
	want(t, p, http.StatusOK, "\ufeff时间,居民openid,变动,变动后余额,事由,来源,来源编号", "o-v1,+12,12,每日答题答对一题,答题",
		"o-v1,+8,20,工作人员调整：参加消防演练,调整", "o-v1,-20,0,恶意或虚假上报扣分 "+c.Ticket)
	if ct := p.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	want(t, s.get("/console/points/export.csv?from=x&to="+from), http.StatusBadRequest)
	exports := 0
	all, _ := e.st.AuditFor(ctx, "points", "")
	for _, a := range all {
		if a.Action == "points.export" {
			exports++
		}
	}
	if exports != 1 {
		t.Fatalf("exports audited %d times", exports)
	}
}
