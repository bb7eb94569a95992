package hazardbot

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the case lifecycle in one place: which action moves a report
// from which status to which, who may take it, what it needs, what residents
// are told, and what else it sets. Storage applies a Transition planned here;
// the console shows only the actions Allowed returns.

// Risk is a verified hazard's risk level on the national four-colour scale.
type Risk string

// Risk levels, highest first.
const (
	RiskRed    Risk = "red"    // 红色 · 重大风险
	RiskOrange Risk = "orange" // 橙色 · 较大风险
	RiskYellow Risk = "yellow" // 黄色 · 一般风险
	RiskBlue   Risk = "blue"   // 蓝色 · 低风险
)

// Risks lists the levels, highest first.
var Risks = []Risk{RiskRed, RiskOrange, RiskYellow, RiskBlue}

var riskInfo = map[Risk]struct {
	colour, label, hex string
	rank               int
}{
	RiskRed:    {"红色", "重大风险", "#d93025", 4},
	RiskOrange: {"橙色", "较大风险", "#f08c00", 3},
	RiskYellow: {"黄色", "一般风险", "#f2c500", 2},
	RiskBlue:   {"蓝色", "低风险", "#1a73e8", 1},
}

// Valid reports whether r is one of the four levels.
func (r Risk) Valid() bool { _, ok := riskInfo[r]; return ok }

// Name is the level as staff read it: 红色.
func (r Risk) Name() string {
	if i, ok := riskInfo[r]; ok {
		return i.colour
	}
	return "未分级"
}

// Label is the level's meaning: 重大风险.
func (r Risk) Label() string { return riskInfo[r].label }

// Colour is the level's colour on the risk map (CSS hex).
func (r Risk) Colour() string {
	if i, ok := riskInfo[r]; ok {
		return i.hex
	}
	return "#9aa0a6"
}

// Rank orders levels: red 4 … blue 1, no level 0.
func (r Risk) Rank() int { return riskInfo[r].rank }

// Major reports whether a hazard of this level may be put under listed
// supervision (挂牌督办): 重大 and 较大 risks.
func (r Risk) Major() bool { return r == RiskRed || r == RiskOrange }

// ParseRisk accepts red/orange/yellow/blue or 红/橙/黄/蓝 (with or without 色).
func ParseRisk(s string) (Risk, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(strings.ToLower(s)), "色")
	for r, i := range riskInfo {
		if s == string(r) || s+"色" == i.colour {
			return r, true
		}
	}
	return "", false
}

// Deadlines are how long the assignee has to rectify a hazard of each level.
type Deadlines map[Risk]time.Duration

// DefaultDeadlines: red 24 hours, orange 3 days, yellow 7 days, blue 15 days.
var DefaultDeadlines = Deadlines{RiskRed: 24 * time.Hour, RiskOrange: 72 * time.Hour, RiskYellow: 168 * time.Hour, RiskBlue: 360 * time.Hour}

// ParseDeadlines reads "red=24h,orange=72h,yellow=168h,blue=360h"; levels
// left out keep their default, "" gives the defaults.
func ParseDeadlines(s string) (Deadlines, error) {
	d := Deadlines{}
	for r, v := range DefaultDeadlines {
		d[r] = v
	}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		r, known := ParseRisk(k)
		if !ok || !known {
			return nil, fmt.Errorf("%q is not level=duration (levels: red, orange, yellow, blue)", kv)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || dur < time.Hour || dur > 366*24*time.Hour {
			return nil, fmt.Errorf("%q: want a Go duration from 1h to 8784h, such as 72h", kv)
		}
		d[r] = dur
	}
	return d, nil
}

// Role is what a console user may do.
type Role string

// Console roles.
const (
	RoleAdmin     Role = "admin"     // everything, including user management
	RoleStreet    Role = "street"    // 街道: every case
	RoleCommunity Role = "community" // 社区: the cases of their own community
	RoleViewer    Role = "viewer"    // read-only
)

// Roles lists the roles, most powerful first.
var Roles = []Role{RoleAdmin, RoleStreet, RoleCommunity, RoleViewer}

var roleNames = map[Role]string{RoleAdmin: "系统管理员", RoleStreet: "街道工作人员", RoleCommunity: "社区工作人员", RoleViewer: "只读用户"}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { _, ok := roleNames[r]; return ok }

// Name is the role as staff read it.
func (r Role) Name() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return string(r)
}

// Actor is a staff member taking an action.
type Actor struct {
	Username    string
	Role        Role
	CommunityID string // for RoleCommunity
}

// Label is how the actor appears in history and audit entries.
func (a Actor) Label() string { return "staff:" + a.Username }

// Sees reports whether the actor may see a case at all: community staff see
// only their community's.
func (a Actor) Sees(c Case) bool {
	switch a.Role {
	case RoleAdmin, RoleStreet, RoleViewer:
		return true
	case RoleCommunity:
		return a.CommunityID != "" && c.CommunityID == a.CommunityID
	}
	return false
}

// SeesIdentity reports whether the actor may see who reported (openid and
// phone); everyone else sees a masked phone only.
func (a Actor) SeesIdentity() bool { return a.Role == RoleAdmin || a.Role == RoleStreet }

// Case is a report with what staff manage about it.
type Case struct {
	Report
	AssigneeType    string // AssignCommunity, AssignGrid or AssignDepartment
	AssigneeID      string // community or grid id; "" for a department
	AssigneeName    string
	Deadline        time.Time // zero until assigned
	Overdue         bool      // past the deadline while being rectified
	OverdueAt       time.Time // when it was first found overdue
	Supervised      bool      // 挂牌督办
	SupervisingUnit string
	DuplicateOf     string // the ticket it was merged into
	Rectification   string // the assignee's notes on what was done
	VerifiedAt      time.Time
	ClosedAt        time.Time
}

// Risk is the case's level, "" before verification.
func (c Case) Risk() Risk { return Risk(c.RiskLevel) }

// Assignee kinds.
const (
	AssignCommunity  = "community"
	AssignGrid       = "grid"
	AssignDepartment = "department"
)

// Action is something staff do to a case.
type Action string

// Actions.
const (
	ActVerify    Action = "verify"    // 核实：定风险等级与类别
	ActReject    Action = "reject"    // 不予受理
	ActDuplicate Action = "duplicate" // 合并到重复工单
	ActAssign    Action = "assign"    // 交办
	ActStart     Action = "start"     // 开始整改
	ActSubmit    Action = "submit"    // 提交整改结果，待复核
	ActClose     Action = "close"     // 复核通过，销号
	ActReturn    Action = "return"    // 复核不通过，退回整改
	ActSupervise Action = "supervise" // 挂牌督办
)

// Actions lists every action in the order the console offers them.
var Actions = []Action{ActVerify, ActReject, ActDuplicate, ActAssign, ActStart, ActSubmit, ActClose, ActReturn, ActSupervise}

// rule is one row of the lifecycle.
type rule struct {
	name   string
	from   []Status
	to     Status // "" keeps the status
	roles  []Role
	public bool // residents are told
}

var (
	bySiteStaff   = []Role{RoleAdmin, RoleStreet, RoleCommunity}
	byStreetStaff = []Role{RoleAdmin, RoleStreet}
	underWay      = []Status{StatusVerified, StatusAssigned, StatusFixing, StatusReview}
)

// rules is the lifecycle. Community staff check reports on site and carry
// out rectification in their community; street staff dispatch, review and
// close, and decide on listed supervision.
var rules = map[Action]rule{
	ActVerify:    {"核实", []Status{StatusPending}, StatusVerified, bySiteStaff, true},
	ActReject:    {"不予受理", []Status{StatusPending}, StatusRejected, bySiteStaff, true},
	ActDuplicate: {"合并重复", []Status{StatusPending, StatusVerified}, StatusDuplicate, bySiteStaff, true},
	ActAssign:    {"交办", []Status{StatusVerified}, StatusAssigned, byStreetStaff, true},
	ActStart:     {"开始整改", []Status{StatusAssigned}, StatusFixing, bySiteStaff, true},
	ActSubmit:    {"提交整改", []Status{StatusFixing}, StatusReview, bySiteStaff, true},
	ActClose:     {"复核通过并销号", []Status{StatusReview}, StatusClosed, byStreetStaff, true},
	ActReturn:    {"复核不通过", []Status{StatusReview}, StatusFixing, byStreetStaff, true},
	ActSupervise: {"挂牌督办", underWay, "", byStreetStaff, false},
}

// Name is the action as staff read it.
func (a Action) Name() string {
	if r, ok := rules[a]; ok {
		return r.name
	}
	return string(a)
}

// Public reports whether residents are told when the action is taken.
func (a Action) Public() bool { return rules[a].public }

// Lifecycle errors, checked with errors.Is; each CaseError says what went
// wrong in a sentence staff can act on.
var (
	ErrForbidden = errors.New("not allowed for this user")
	ErrIllegal   = errors.New("illegal transition")
	ErrInvalid   = errors.New("missing or invalid input")
	ErrStale     = errors.New("case changed meanwhile")
)

// CaseError is a refused action.
type CaseError struct {
	Kind error // ErrForbidden, ErrIllegal, ErrInvalid or ErrStale
	Msg  string
}

func (e *CaseError) Error() string { return e.Msg }
func (e *CaseError) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) error {
	return &CaseError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ActionInput is what staff entered with an action.
type ActionInput struct {
	Action Action
	// Seen is the status the staff member saw when they chose the action;
	// if the case has moved since, the action is refused as stale. "" skips
	// the check.
	Seen         Status
	Risk         Risk   // verify
	Category     string // verify
	Reason       string // reject, return: required
	Note         string // optional remark, told to residents on public actions
	Target       string // duplicate: the ticket to merge into
	AssigneeType string // assign
	AssigneeID   string // assign: community or grid id
	AssigneeName string // assign
	// AssigneeCommunity is the community the case then belongs to (the
	// community itself, or the grid's); "" for a department, which leaves
	// the case where its location put it.
	AssigneeCommunity string
	SupervisingUnit   string // supervise
	Photos            int    // submit: rectification photos attached
}

// Transition is a planned, checked change: storage applies it as a whole
// or not at all, and only while the case is still in From.
type Transition struct {
	Action   Action
	ReportID int64
	Ticket   string
	From, To Status // To == From for actions that keep the status
	Actor    Actor
	At       time.Time
	Public   bool
	Note     string // the history entry; residents read it when Public

	Risk              Risk   // verify
	Category          string // verify
	Target            string // duplicate: ticket merged into
	AssigneeType      string // assign
	AssigneeID        string
	AssigneeName      string
	AssigneeCommunity string
	Deadline          time.Time // assign
	Rectification     string    // submit
	SupervisingUnit   string    // supervise
	ReporterOpenID    string    // verify: who earns the points
}

// JobReportVerified is the job kind enqueued, in the transaction that
// verifies a report, to award the reporter's points; its dedup key is
// "verified:<report id>".
const JobReportVerified = "report.verified"

// ReportVerified is the payload of JobReportVerified.
type ReportVerified struct {
	ReportID  int64  `json:"report_id"`
	OpenID    string `json:"openid"`
	RiskLevel string `json:"risk_level"`
}

// Limits on what staff type, in characters.
const (
	MaxNote     = 500
	MaxUnitName = 60
	MaxPhotos   = 6
)

// Lifecycle plans transitions. The zero value uses DefaultDeadlines.
type Lifecycle struct {
	Deadlines Deadlines
}

func (l Lifecycle) deadline(r Risk) time.Duration {
	if d, ok := l.Deadlines[r]; ok && d > 0 {
		return d
	}
	return DefaultDeadlines[r]
}

// Allowed lists the actions the actor may take on the case now, in the
// order the console shows them.
func (l Lifecycle) Allowed(c Case, a Actor) []Action {
	var out []Action
	for _, act := range Actions {
		if l.check(c, a, act) == nil {
			out = append(out, act)
		}
	}
	return out
}

// check tells whether the action fits the case's state and the actor,
// before looking at the input.
func (l Lifecycle) check(c Case, a Actor, act Action) error {
	r, ok := rules[act]
	if !ok {
		return refuse(ErrInvalid, "未知操作“%s”", act)
	}
	if !a.Role.Valid() || a.Role == RoleViewer {
		return refuse(ErrForbidden, "只读用户不能处理工单")
	}
	if !a.Sees(c) {
		return refuse(ErrForbidden, "工单 %s 不属于您所在的社区", c.Ticket)
	}
	if !slices.Contains(r.roles, a.Role) {
		return refuse(ErrForbidden, "%s不能执行“%s”", a.Role.Name(), r.name)
	}
	if !slices.Contains(r.from, c.Status) {
		return refuse(ErrIllegal, "工单 %s 当前为“%s”，不能%s", c.Ticket, c.Status.Name(), r.name)
	}
	if act == ActSupervise {
		if c.Supervised {
			return refuse(ErrIllegal, "工单 %s 已经挂牌督办（督办单位：%s）", c.Ticket, c.SupervisingUnit)
		}
		if !c.Risk().Major() {
			return refuse(ErrIllegal, "只有红色、橙色风险的重大隐患才能挂牌督办，工单 %s 为%s", c.Ticket, c.Risk().Name())
		}
	}
	return nil
}

// Plan checks an action against the case, the actor and the rules, and
// returns the transition to apply. It does no I/O: storage re-checks that
// the case is still in Transition.From when it applies it.
func (l Lifecycle) Plan(c Case, a Actor, in ActionInput, now time.Time) (Transition, error) {
	err := l.check(c, a, in.Action)
	if errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) {
		return Transition{}, err
	}
	// A staff member who acted on what they saw gets told that someone
	// else moved the case first, rather than a puzzling rule.
	if in.Seen != "" && in.Seen != c.Status {
		return Transition{}, refuse(ErrStale, "工单 %s 刚刚已被他人处理，当前为“%s”，请刷新后再操作", c.Ticket, c.Status.Name())
	}
	if err != nil {
		return Transition{}, err
	}
	r := rules[in.Action]
	t := Transition{Action: in.Action, ReportID: c.ID, Ticket: c.Ticket, From: c.Status, To: r.to, Actor: a,
		At: now.UTC(), Public: r.public}
	if t.To == "" {
		t.To = c.Status
	}
	note := strings.TrimSpace(in.Note)
	reason := strings.TrimSpace(in.Reason)
	for name, s := range map[string]string{"备注": note, "理由": reason} {
		if utf8.RuneCountInString(s) > MaxNote {
			return Transition{}, refuse(ErrInvalid, "%s最多%d个字", name, MaxNote)
		}
	}
	join := func(parts ...string) string {
		var keep []string
		for _, p := range parts {
			if p != "" {
				keep = append(keep, p)
			}
		}
		return strings.Join(keep, "；")
	}
	switch in.Action {
	case ActVerify:
		if !in.Risk.Valid() {
			return Transition{}, refuse(ErrInvalid, "请选择风险等级（红、橙、黄、蓝）")
		}
		if strings.TrimSpace(in.Category) == "" {
			return Transition{}, refuse(ErrInvalid, "请确认隐患类别")
		}
		t.Risk, t.Category, t.ReporterOpenID = in.Risk, strings.TrimSpace(in.Category), c.OpenID
		t.Note = join("经核实，风险等级为"+in.Risk.Name()+"（"+in.Risk.Label()+"）", note)
	case ActReject:
		if reason == "" {
			return Transition{}, refuse(ErrInvalid, "不予受理须填写理由（将告知举报人）")
		}
		t.Note = reason
	case ActDuplicate:
		target := strings.ToUpper(strings.TrimSpace(in.Target))
		if !TicketPattern.MatchString(target) || TicketPattern.FindString(target) != target {
			return Transition{}, refuse(ErrInvalid, "请填写要合并到的工单号，如 YH-20250314-0001")
		}
		if target == c.Ticket {
			return Transition{}, refuse(ErrInvalid, "不能把工单合并到它自己")
		}
		t.Target = target
		t.Note = join("与工单 "+target+" 为同一隐患，已合并处理，后续进展将按该工单通知您", note)
	case ActAssign:
		in.AssigneeName = strings.TrimSpace(in.AssigneeName)
		switch in.AssigneeType {
		case AssignCommunity, AssignGrid:
			if in.AssigneeID == "" || in.AssigneeName == "" || in.AssigneeCommunity == "" {
				return Transition{}, refuse(ErrInvalid, "请选择交办的社区或网格")
			}
		case AssignDepartment:
			if in.AssigneeName == "" {
				return Transition{}, refuse(ErrInvalid, "请填写交办的部门名称")
			}
			in.AssigneeID, in.AssigneeCommunity = "", ""
		default:
			return Transition{}, refuse(ErrInvalid, "请选择交办对象：社区、网格或部门")
		}
		if utf8.RuneCountInString(in.AssigneeName) > MaxUnitName {
			return Transition{}, refuse(ErrInvalid, "单位名称最多%d个字", MaxUnitName)
		}
		if !c.Risk().Valid() {
			return Transition{}, refuse(ErrIllegal, "工单 %s 还没有风险等级，不能交办", c.Ticket)
		}
		t.AssigneeType, t.AssigneeID, t.AssigneeName = in.AssigneeType, in.AssigneeID, in.AssigneeName
		t.AssigneeCommunity = in.AssigneeCommunity
		t.Deadline = t.At.Add(l.deadline(c.Risk()))
		t.Note = join("已交办"+in.AssigneeName+"，整改期限 "+t.Deadline.In(Shanghai).Format("2006-01-02 15:04"), note)
	case ActStart:
		t.Note = join("责任单位已开始整改", note)
	case ActSubmit:
		if note == "" {
			return Transition{}, refuse(ErrInvalid, "请填写整改情况说明")
		}
		if in.Photos > MaxPhotos {
			return Transition{}, refuse(ErrInvalid, "整改照片最多%d张", MaxPhotos)
		}
		t.Rectification = note
		t.Note = "整改已完成，等待街道复核"
	case ActClose:
		t.Note = join("复核通过，隐患已销号，感谢您的上报", note)
	case ActReturn:
		if reason == "" {
			return Transition{}, refuse(ErrInvalid, "复核不通过须填写理由")
		}
		t.Note = "复核未通过，继续整改：" + reason
	case ActSupervise:
		unit := strings.TrimSpace(in.SupervisingUnit)
		if unit == "" {
			return Transition{}, refuse(ErrInvalid, "请填写督办单位")
		}
		if utf8.RuneCountInString(unit) > MaxUnitName {
			return Transition{}, refuse(ErrInvalid, "单位名称最多%d个字", MaxUnitName)
		}
		t.SupervisingUnit = unit
		t.Note = join("挂牌督办，督办单位："+unit, note)
	}
	return t, nil
}
