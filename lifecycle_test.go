package hazardbot

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	lcNow       = time.Date(2025, 3, 14, 1, 30, 0, 0, time.UTC) // 09:30 in Shanghai
	admin       = Actor{Username: "admin", Role: RoleAdmin}
	streetStaff = Actor{Username: "jiedao", Role: RoleStreet}
	c1Staff     = Actor{Username: "donghu", Role: RoleCommunity, CommunityID: "c1"}
	c2Staff     = Actor{Username: "xihu", Role: RoleCommunity, CommunityID: "c2"}
	viewer      = Actor{Username: "kan", Role: RoleViewer}
)

func caseIn(s Status, risk Risk) Case {
	return Case{Report: Report{ID: 7, Ticket: "YH-20250314-0007", OpenID: "o-reporter", Status: s, RiskLevel: string(risk), CommunityID: "c1"}}
}

// validInput is an input that satisfies each action's required fields.
func validInput(a Action) ActionInput {
	in := ActionInput{Action: a}
	switch a {
	case ActVerify:
		in.Risk, in.Category = RiskOrange, "fire"
	case ActReject, ActReturn:
		in.Reason = "现场无此情况"
	case ActDuplicate:
		in.Target = "YH-20250313-0001"
	case ActAssign:
		in.AssigneeType, in.AssigneeID, in.AssigneeName, in.AssigneeCommunity = AssignCommunity, "c1", "东湖社区", "c1"
	case ActSubmit:
		in.Note = "已清理楼道纸箱"
	case ActSupervise:
		in.SupervisingUnit = "区应急管理局"
	}
	return in
}

// TestTransitionMatrix spells out, for every status, which actions each role
// may take: the lifecycle as one readable table.
func TestTransitionMatrix(t *testing.T) {
	type row struct {
		status        Status
		street, site  []Action // admin may do what street staff may
		viewerAllowed []Action
	}
	rows := []row{
		{StatusPending, []Action{ActVerify, ActReject, ActDuplicate}, []Action{ActVerify, ActReject, ActDuplicate}, nil},
		{StatusVerified, []Action{ActDuplicate, ActAssign, ActSupervise}, []Action{ActDuplicate}, nil},
		{StatusAssigned, []Action{ActStart, ActSupervise}, []Action{ActStart}, nil},
		{StatusFixing, []Action{ActSubmit, ActSupervise}, []Action{ActSubmit}, nil},
		{StatusReview, []Action{ActClose, ActReturn, ActSupervise}, nil, nil},
		{StatusClosed, nil, nil, nil},
		{StatusRejected, nil, nil, nil},
		{StatusDuplicate, nil, nil, nil},
	}
	var l Lifecycle
	for _, r := range rows {
		t.Run(string(r.status), func(t *testing.T) {
			c := caseIn(r.status, RiskRed)
			for _, tc := range []struct {
				actor Actor
				want  []Action
			}{{admin, r.street}, {streetStaff, r.street}, {c1Staff, r.site}, {c2Staff, nil}, {viewer, r.viewerAllowed}} {
				if got := l.Allowed(c, tc.actor); !slices.Equal(got, tc.want) {
					t.Errorf("%s may %v, want %v", tc.actor.Role, got, tc.want)
				}
				// Plan agrees with Allowed for every action.
				for _, a := range Actions {
					_, err := l.Plan(c, tc.actor, validInput(a), lcNow)
					if allowed := slices.Contains(tc.want, a); allowed != (err == nil) {
						t.Errorf("%s %s on %s: err %v, allowed %v", tc.actor.Role, a, r.status, err, allowed)
					}
				}
			}
		})
	}
}

func TestTransitionTargetsAndPublicity(t *testing.T) {
	var l Lifecycle
	for _, tc := range []struct {
		from   Status
		act    Action
		to     Status
		public bool
	}{
		{StatusPending, ActVerify, StatusVerified, true},
		{StatusPending, ActReject, StatusRejected, true},
		{StatusPending, ActDuplicate, StatusDuplicate, true},
		{StatusVerified, ActAssign, StatusAssigned, true},
		{StatusAssigned, ActStart, StatusFixing, true},
		{StatusFixing, ActSubmit, StatusReview, true},
		{StatusReview, ActClose, StatusClosed, true},
		{StatusReview, ActReturn, StatusFixing, true},
		{StatusFixing, ActSupervise, StatusFixing, false},
	} {
		t.Run(string(tc.act), func(t *testing.T) {
			tr, err := l.Plan(caseIn(tc.from, RiskOrange), admin, validInput(tc.act), lcNow)
			if err != nil {
				t.Fatal(err)
			}
			if tr.From != tc.from || tr.To != tc.to || tr.Public != tc.public || tr.Note == "" || tr.Actor != admin || !tr.At.Equal(lcNow) {
				t.Fatalf("transition %+v", tr)
			}
		})
	}
}

func TestRequiredFields(t *testing.T) {
	var l Lifecycle
	long := strings.Repeat("长", MaxNote+1)
	for _, tc := range []struct {
		name string
		from Status
		in   ActionInput
		want string
	}{
		{"verify without risk", StatusPending, ActionInput{Action: ActVerify, Category: "fire"}, "风险等级"},
		{"verify with unknown risk", StatusPending, ActionInput{Action: ActVerify, Risk: "purple", Category: "fire"}, "风险等级"},
		{"verify without category", StatusPending, ActionInput{Action: ActVerify, Risk: RiskRed, Category: "  "}, "类别"},
		{"reject without reason", StatusPending, ActionInput{Action: ActReject, Reason: " "}, "理由"},
		{"duplicate without ticket", StatusPending, ActionInput{Action: ActDuplicate}, "工单号"},
		{"duplicate of junk", StatusPending, ActionInput{Action: ActDuplicate, Target: "YH-20250314-0001' OR 1=1"}, "工单号"},
		{"duplicate of itself", StatusPending, ActionInput{Action: ActDuplicate, Target: "yh-20250314-0007"}, "自己"},
		{"assign to nobody", StatusVerified, ActionInput{Action: ActAssign}, "交办对象"},
		{"assign to community without id", StatusVerified, ActionInput{Action: ActAssign, AssigneeType: AssignCommunity, AssigneeName: "东湖"}, "社区或网格"},
		{"assign to unnamed department", StatusVerified, ActionInput{Action: ActAssign, AssigneeType: AssignDepartment}, "部门名称"},
		{"submit without notes", StatusFixing, ActionInput{Action: ActSubmit, Photos: 2}, "整改情况"},
		{"submit with too many photos", StatusFixing, ActionInput{Action: ActSubmit, Note: "好了", Photos: MaxPhotos + 1}, "最多"},
		{"return without reason", StatusReview, ActionInput{Action: ActReturn}, "理由"},
		{"supervise without unit", StatusFixing, ActionInput{Action: ActSupervise}, "督办单位"},
		{"note too long", StatusAssigned, ActionInput{Action: ActStart, Note: long}, "最多"},
		{"unknown action", StatusPending, ActionInput{Action: "delete"}, "未知操作"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Plan(caseIn(tc.from, RiskRed), streetStaff, tc.in, lcNow)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	var l Lifecycle
	supervised := caseIn(StatusFixing, RiskRed)
	supervised.Supervised, supervised.SupervisingUnit = true, "区应急管理局"
	unrated := caseIn(StatusVerified, "")
	for _, tc := range []struct {
		name  string
		c     Case
		actor Actor
		in    ActionInput
		kind  error
		want  string
	}{
		{"repeated verify", caseIn(StatusVerified, RiskRed), c1Staff, validInput(ActVerify), ErrIllegal, "当前为“已核实”，不能核实"},
		{"close before review", caseIn(StatusFixing, RiskRed), streetStaff, validInput(ActClose), ErrIllegal, "不能复核通过并销号"},
		{"closed stays closed", caseIn(StatusClosed, RiskRed), admin, validInput(ActReturn), ErrIllegal, "已销号"},
		{"acted on a stale page", caseIn(StatusVerified, RiskRed), c1Staff, ActionInput{Action: ActVerify, Seen: StatusPending, Risk: RiskRed, Category: "fire"}, ErrStale, "刚刚已被他人处理"},
		{"viewer", caseIn(StatusPending, ""), viewer, validInput(ActVerify), ErrForbidden, "只读"},
		{"other community", caseIn(StatusPending, ""), c2Staff, validInput(ActVerify), ErrForbidden, "不属于您所在的社区"},
		{"community staff assign", caseIn(StatusVerified, RiskRed), c1Staff, validInput(ActAssign), ErrForbidden, "不能执行“交办”"},
		{"community staff close", caseIn(StatusReview, RiskRed), c1Staff, validInput(ActClose), ErrForbidden, "不能执行"},
		{"supervise twice", supervised, streetStaff, validInput(ActSupervise), ErrIllegal, "已经挂牌督办"},
		{"supervise a minor hazard", caseIn(StatusAssigned, RiskYellow), streetStaff, validInput(ActSupervise), ErrIllegal, "只有红色、橙色"},
		{"assign without risk", unrated, streetStaff, validInput(ActAssign), ErrIllegal, "还没有风险等级"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Plan(tc.c, tc.actor, tc.in, lcNow)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %v mentioning %q", err, tc.kind, tc.want)
			}
		})
	}
}

func TestDeadlinesByRisk(t *testing.T) {
	custom, err := ParseDeadlines("red=12h, 橙=48h")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		l    Lifecycle
		risk Risk
		want time.Duration
	}{
		{Lifecycle{}, RiskRed, 24 * time.Hour},
		{Lifecycle{}, RiskOrange, 3 * 24 * time.Hour},
		{Lifecycle{}, RiskYellow, 7 * 24 * time.Hour},
		{Lifecycle{}, RiskBlue, 15 * 24 * time.Hour},
		{Lifecycle{Deadlines: custom}, RiskRed, 12 * time.Hour},
		{Lifecycle{Deadlines: custom}, RiskOrange, 48 * time.Hour},
		{Lifecycle{Deadlines: custom}, RiskBlue, 15 * 24 * time.Hour},
	} {
		tr, err := tc.l.Plan(caseIn(StatusVerified, tc.risk), streetStaff, validInput(ActAssign), lcNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.Deadline.Sub(lcNow); got != tc.want {
			t.Errorf("%s: deadline in %v, want %v", tc.risk, got, tc.want)
		}
		if !strings.Contains(tr.Note, "整改期限 "+tr.Deadline.In(Shanghai).Format("2006-01-02 15:04")) {
			t.Errorf("note %q does not give the deadline in Shanghai time", tr.Note)
		}
	}
	for _, bad := range []string{"red", "pink=3h", "red=3x", "red=10m", "blue=9000h"} {
		if _, err := ParseDeadlines(bad); err == nil {
			t.Errorf("ParseDeadlines(%q) accepted", bad)
		}
	}
	if d, err := ParseDeadlines(""); err != nil || d[RiskBlue] != DefaultDeadlines[RiskBlue] {
		t.Errorf("empty: %v %v", d, err)
	}
}

func TestPlanCarriesWhatStorageSets(t *testing.T) {
	var l Lifecycle
	tr, _ := l.Plan(caseIn(StatusPending, ""), c1Staff, ActionInput{Action: ActVerify, Risk: RiskRed, Category: "gas", Note: "已现场查看"}, lcNow)
	if tr.Risk != RiskRed || tr.Category != "gas" || tr.ReporterOpenID != "o-reporter" || !strings.Contains(tr.Note, "红色（重大风险）；已现场查看") {
		t.Fatalf("verify %+v", tr)
	}
	tr, _ = l.Plan(caseIn(StatusPending, ""), c1Staff, ActionInput{Action: ActDuplicate, Target: " yh-20250313-0001 "}, lcNow)
	if tr.Target != "YH-20250313-0001" {
		t.Fatalf("duplicate target %q", tr.Target)
	}
	tr, _ = l.Plan(caseIn(StatusVerified, RiskBlue), streetStaff, ActionInput{Action: ActAssign, AssigneeType: AssignDepartment, AssigneeID: "ignored", AssigneeCommunity: "c9", AssigneeName: "城管执法中队"}, lcNow)
	if tr.AssigneeID != "" || tr.AssigneeCommunity != "" || tr.AssigneeName != "城管执法中队" {
		t.Fatalf("department assignment %+v", tr)
	}
	tr, _ = l.Plan(caseIn(StatusFixing, RiskBlue), c1Staff, ActionInput{Action: ActSubmit, Note: "已清理", Photos: 2}, lcNow)
	if tr.Rectification != "已清理" || strings.Contains(tr.Note, "已清理") {
		t.Fatalf("submit %+v: residents read a fixed sentence, staff the notes", tr)
	}
}

func TestRiskAndRoleNames(t *testing.T) {
	for in, want := range map[string]Risk{"red": RiskRed, "红": RiskRed, "橙色": RiskOrange, " Yellow ": RiskYellow, "蓝": RiskBlue} {
		if got, ok := ParseRisk(in); !ok || got != want {
			t.Errorf("ParseRisk(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := ParseRisk("紫"); ok {
		t.Error("ParseRisk accepted 紫")
	}
	if RiskRed.Rank() <= RiskOrange.Rank() || Risk("").Rank() != 0 || Risk("").Name() != "未分级" {
		t.Error("ranks")
	}
	if !c1Staff.Sees(caseIn(StatusPending, "")) || c2Staff.Sees(caseIn(StatusPending, "")) ||
		(Actor{Role: RoleCommunity}).Sees(Case{}) || c1Staff.SeesIdentity() || viewer.SeesIdentity() || !streetStaff.SeesIdentity() {
		t.Error("scopes")
	}
}
