// Package notices is the domain of notices (通知) and early warnings (预警)
// that staff broadcast to residents, and their delivery.
//
// A notice goes draft → awaiting approval (orange and red warnings only) →
// scheduled → sending → sent, or is cancelled on the way. When it starts
// sending, its audience is resolved into one delivery row per resident;
// the Dispatcher claims those rows (SELECT … FOR UPDATE SKIP LOCKED on
// MariaDB), picks each resident's channel (a customer-service message inside
// the 48-hour window, else a template message linking to the full text, or a
// mass send for all-followers notices when configured), and records each
// outcome. Warnings are also published as CAP 1.2 (cap.go) and every notice
// has a public page (web.go).
//
// The package declares the small interfaces it needs (Store, Sender, …):
// storage implements them over the database and bot over WeChat's API, so
// this package imports neither, and dialogs can use its types.
package notices

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
)

// Kind tells a notice from a warning.
type Kind string

// Kinds.
const (
	KindNotice  Kind = "notice"  // 通知
	KindWarning Kind = "warning" // 预警
)

// Level is a warning's level on the national four-colour scale; notices
// have none.
type Level string

// Levels, highest first.
const (
	LevelRed    Level = "red"
	LevelOrange Level = "orange"
	LevelYellow Level = "yellow"
	LevelBlue   Level = "blue"
)

// Levels lists the levels highest first.
var Levels = []Level{LevelRed, LevelOrange, LevelYellow, LevelBlue}

// Valid reports whether l is one of the four levels.
func (l Level) Valid() bool { return slices.Contains(Levels, l) }

// Rank orders levels: red 4 … blue 1, none 0.
func (l Level) Rank() int {
	if i := slices.Index(Levels, l); i >= 0 {
		return len(Levels) - i
	}
	return 0
}

// State is where a notice stands.
type State string

// States.
const (
	StateDraft    State = "draft"
	StateApproval State = "awaiting_approval"
	StateSched    State = "scheduled"
	StateSending  State = "sending"
	StateSent     State = "sent"
	StateCanceled State = "cancelled"
)

var stateNames = map[State]string{StateDraft: "草稿", StateApproval: "待审核", StateSched: "待发送",
	StateSending: "发送中", StateSent: "已发送", StateCanceled: "已撤回"}

// Name is the state as staff read it.
func (s State) Name() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return string(s)
}

// Published reports whether residents may see the notice: it has started
// going out.
func (s State) Published() bool { return s == StateSending || s == StateSent }

// MsgType is the CAP message type: a new warning, an update to one in
// force, or the lifting of one.
type MsgType string

// Message types.
const (
	MsgAlert  MsgType = "alert"
	MsgUpdate MsgType = "update"
	MsgCancel MsgType = "cancel"
)

// Audience kinds.
const (
	AudienceAll         = "all"         // every follower
	AudienceCommunities = "communities" // residents of chosen communities
	AudienceGrids       = "grids"       // residents of chosen grids
	AudienceVolunteers  = "volunteers"  // registered volunteers
	AudienceNear        = "near"        // residents last seen within Radius metres of a point
	AudienceTag         = "tag"         // followers with a WeChat tag
)

// Audience is who a notice goes to. A resident belongs to a community or
// grid when their last known location lies in it, or when they reported a
// hazard there; "near" uses the last known location only.
type Audience struct {
	Kind        string   `json:"kind"`
	Communities []string `json:"communities,omitempty"`
	Grids       []string `json:"grids,omitempty"`
	Lat         float64  `json:"lat,omitempty"` // GCJ-02, as WeChat sends it
	Lng         float64  `json:"lng,omitempty"`
	Radius      float64  `json:"radius,omitempty"` // metres
	Place       string   `json:"place,omitempty"`  // the point's name, for people
	TagID       int      `json:"tag_id,omitempty"`
	TagName     string   `json:"tag_name,omitempty"`
}

// Limits on what staff enter.
const (
	MaxTitle       = 40 // characters
	MaxBody        = 1000
	MaxInstruction = 300
	MinRadius      = 100.0 // metres
	MaxRadius      = 20000.0
	// DefaultValidity is how long a notice stays in force when staff give
	// no end.
	DefaultValidity = 24 * time.Hour
	MaxValidity     = 90 * 24 * time.Hour
)

// Notice is a notice or warning.
type Notice struct {
	ID          int64
	Kind        Kind
	Level       Level  // warnings only
	Hazard      string // hazard type id (content), warnings only
	MsgType     MsgType
	Refs        int64 // the notice this one updates or lifts; 0 for an alert
	Title       string
	Body        string
	Instruction string // 防御指南
	Audience    Audience
	State       State
	Exercise    bool // a drill: CAP status Exercise

	SendAt     time.Time // zero: as soon as it may go
	ValidFrom  time.Time // zero: from when it starts sending
	ValidUntil time.Time // zero: DefaultValidity after ValidFrom

	CreatedBy, CreatedByName   string // Staff.ID and name
	ApprovedBy, ApprovedByName string
	ApprovedAt                 time.Time
	RejectNote                 string // why the last approval was refused
	CancelledBy                string
	CancelledAt                time.Time
	CancelReason               string
	SupersededBy               int64     // the update or lift that replaced it
	PublishedAt                time.Time // when sending started: CAP's sent
	FinishedAt                 time.Time
	Recipients                 int    // delivery rows, once resolved
	MassMode                   string // how it goes by mass send (MassList, …), fixed when it starts sending
	CreatedAt, UpdatedAt       time.Time
}

// NeedsApproval reports whether a second staff member must approve the
// notice: orange and red warnings.
func (n *Notice) NeedsApproval() bool {
	return n.Kind == KindWarning && (n.Level == LevelRed || n.Level == LevelOrange)
}

// Important reports whether the notice reaches residents who muted notices:
// orange and red warnings.
func (n *Notice) Important() bool { return n.NeedsApproval() }

// Until is when the notice stops being in force.
func (n *Notice) Until() time.Time {
	if !n.ValidUntil.IsZero() {
		return n.ValidUntil
	}
	return n.From().Add(DefaultValidity)
}

// From is when the notice comes into force.
func (n *Notice) From() time.Time {
	switch {
	case !n.ValidFrom.IsZero():
		return n.ValidFrom
	case !n.PublishedAt.IsZero():
		return n.PublishedAt
	case !n.SendAt.IsZero():
		return n.SendAt
	}
	return n.CreatedAt
}

// InForce reports whether residents should see the notice as current.
func (n *Notice) InForce(now time.Time) bool {
	return n.State.Published() && n.SupersededBy == 0 && !now.Before(n.From()) && now.Before(n.Until())
}

// Staff is a staff member acting on notices, from the console or from a
// bound WeChat account.
type Staff struct {
	ID          string // stable identity: "staff:<username>", or "wechat:<openid>" for users.role = 'staff'
	Name        string
	Role        hazardbot.Role
	CommunityID string // for hazardbot.RoleCommunity
}

// CanCompose reports whether the staff member may write and send notices.
func (s Staff) CanCompose() bool {
	switch s.Role {
	case hazardbot.RoleAdmin, hazardbot.RoleStreet:
		return true
	case hazardbot.RoleCommunity:
		return s.CommunityID != ""
	}
	return false
}

// CanApprove reports whether the staff member may approve orange and red
// warnings: street staff and administrators, who answer for the whole
// sub-district.
func (s Staff) CanApprove() bool {
	return s.Role == hazardbot.RoleAdmin || s.Role == hazardbot.RoleStreet
}

// Errors, checked with errors.Is; each Error carries a sentence staff can act on.
var (
	ErrForbidden = hazardbot.ErrForbidden
	ErrInvalid   = hazardbot.ErrInvalid
	ErrState     = hazardbot.ErrIllegal
	ErrStale     = hazardbot.ErrStale
	ErrNotFound  = hazardbot.ErrNotFound
)

// Error is a refused action.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Message is what staff should read for err: the sentence of an *Error, or
// a generic one.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return "操作失败，请稍后再试"
}

// Validate checks a notice as written, against the content (hazard types,
// grids) and what the author may target. It normalises the text fields.
func Validate(n *Notice, by Staff, c *content.Content, now time.Time) error {
	n.Title = strings.TrimSpace(n.Title)
	n.Body = strings.TrimSpace(n.Body)
	n.Instruction = strings.TrimSpace(n.Instruction)
	if r := utf8.RuneCountInString(n.Title); r < 2 || r > MaxTitle {
		return refuse(ErrInvalid, "标题需要 2 到 %d 个字", MaxTitle)
	}
	if strings.ContainsAny(n.Title, "\r\n") {
		return refuse(ErrInvalid, "标题不能换行")
	}
	if r := utf8.RuneCountInString(n.Body); r < 5 || r > MaxBody {
		return refuse(ErrInvalid, "正文需要 5 到 %d 个字", MaxBody)
	}
	if utf8.RuneCountInString(n.Instruction) > MaxInstruction {
		return refuse(ErrInvalid, "防御指南最多 %d 个字", MaxInstruction)
	}
	switch n.Kind {
	case KindNotice:
		n.Level, n.Hazard = "", ""
		if n.MsgType != MsgAlert && n.MsgType != "" {
			return refuse(ErrInvalid, "只有预警可以更新或解除")
		}
	case KindWarning:
		if !n.Level.Valid() {
			return refuse(ErrInvalid, "请选择预警级别（红、橙、黄、蓝）")
		}
		if _, ok := c.Notices.Hazard(n.Hazard); !ok {
			return refuse(ErrInvalid, "请选择灾害类型")
		}
	default:
		return refuse(ErrInvalid, "请选择类型：通知或预警")
	}
	if n.MsgType == "" {
		n.MsgType = MsgAlert
	}
	if (n.MsgType == MsgAlert) != (n.Refs == 0) {
		return refuse(ErrInvalid, "更新或解除须指明原预警")
	}
	if err := validateAudience(&n.Audience, by, c); err != nil {
		return err
	}
	from, until := n.ValidFrom, n.ValidUntil
	if from.IsZero() {
		from = now
		if !n.SendAt.IsZero() {
			from = n.SendAt
		}
	}
	if !until.IsZero() && !until.After(from) {
		return refuse(ErrInvalid, "有效期的结束时间须晚于开始时间")
	}
	if !until.IsZero() && until.Sub(from) > MaxValidity {
		return refuse(ErrInvalid, "有效期最长 %d 天", int(MaxValidity.Hours()/24))
	}
	if !n.SendAt.IsZero() && !until.IsZero() && !until.After(n.SendAt) {
		return refuse(ErrInvalid, "定时发送的时间须早于有效期结束")
	}
	return nil
}

func validateAudience(a *Audience, by Staff, c *content.Content) error {
	communities := map[string]bool{}
	grids := map[string]string{} // grid → community
	for _, g := range c.Grids.List {
		communities[g.CommunityID] = true
		grids[g.ID] = g.CommunityID
	}
	own := by.Role != hazardbot.RoleCommunity
	switch a.Kind {
	case AudienceAll, AudienceVolunteers, AudienceTag:
		if a.Kind == AudienceTag && a.TagID <= 0 {
			return refuse(ErrInvalid, "请选择微信标签")
		}
		if !own {
			return refuse(ErrForbidden, "社区工作人员只能向本社区发送")
		}
		a.Communities, a.Grids, a.Lat, a.Lng, a.Radius = nil, nil, 0, 0, 0
	case AudienceCommunities:
		if len(a.Communities) == 0 {
			return refuse(ErrInvalid, "请至少选择一个社区")
		}
		for _, id := range a.Communities {
			if !communities[id] {
				return refuse(ErrInvalid, "没有编号为 %s 的社区", id)
			}
			own = own || id == by.CommunityID
			if by.Role == hazardbot.RoleCommunity && id != by.CommunityID {
				return refuse(ErrForbidden, "社区工作人员只能向本社区发送")
			}
		}
		slices.Sort(a.Communities)
		a.Communities = slices.Compact(a.Communities)
		a.Grids = nil
	case AudienceGrids:
		if len(a.Grids) == 0 {
			return refuse(ErrInvalid, "请至少选择一个网格")
		}
		for _, id := range a.Grids {
			cid, ok := grids[id]
			if !ok {
				return refuse(ErrInvalid, "没有编号为 %s 的网格", id)
			}
			if by.Role == hazardbot.RoleCommunity && cid != by.CommunityID {
				return refuse(ErrForbidden, "社区工作人员只能向本社区发送")
			}
		}
		slices.Sort(a.Grids)
		a.Grids = slices.Compact(a.Grids)
		a.Communities = nil
	case AudienceNear:
		if a.Lat < 3 || a.Lat > 54 || a.Lng < 73 || a.Lng > 136 {
			return refuse(ErrInvalid, "请选择一个位置")
		}
		if a.Radius < MinRadius || a.Radius > MaxRadius {
			return refuse(ErrInvalid, "半径须在 %.0f 到 %.0f 米之间", MinRadius, MaxRadius)
		}
		if !own {
			if g, ok := c.Grids.Locate(a.Lat, a.Lng); !ok || g.CommunityID != by.CommunityID {
				return refuse(ErrForbidden, "社区工作人员只能向本社区发送")
			}
		}
		a.Communities, a.Grids = nil, nil
	default:
		return refuse(ErrInvalid, "请选择发送范围")
	}
	return nil
}

// GridIDs lists the grids an audience covers, for its CAP area and for
// resolving it: every grid for audiences not bound to a place.
func (a Audience) GridIDs(g *content.Grids) []string {
	var out []string
	for _, gr := range g.List {
		switch a.Kind {
		case AudienceCommunities:
			if !slices.Contains(a.Communities, gr.CommunityID) {
				continue
			}
		case AudienceGrids:
			if !slices.Contains(a.Grids, gr.ID) {
				continue
			}
		case AudienceNear:
			continue
		}
		out = append(out, gr.ID)
	}
	return out
}

// Progress is how a notice's delivery stands.
type Progress struct {
	Recipients int
	Pending    int // not yet sent (waiting, being sent, or retrying)
	Delivered  int // accepted by WeChat
	Failed     int // undeliverable or given up
	// Unconfirmed of Delivered: customer-service messages whose sender
	// died after calling WeChat and before recording the answer. WeChat
	// reports nothing for them, so they count as delivered and are not
	// sent again.
	Unconfirmed int
	Cancelled   int            // not sent because the notice was withdrawn
	ByChannel   map[string]int // delivered, by channel
	ByReason    map[string]int // failed, by reason
	Mass        []MassBatch
}

// MassBatch is one mass-send call and what WeChat reported about it.
type MassBatch struct {
	ClientMsgID                 string
	Mode                        string // list, all or tag
	State                       string
	MsgID                       int64
	Size                        int // residents addressed (list) or covered (all, tag)
	Total, Filter, Sent, Errors int64
}
