package dialogs

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot/content"
	"hazardbot/notices"
)

// Notices in the chat. Residents: 最新通知 lists the notices and warnings in
// force; 通知设置 mutes ordinary notices (orange and red warnings still
// come). Staff whose WeChat account is bound: 发布通知 composes a notice or
// warning step by step; 待审核, 批准 N and 驳回 N let a second staff member
// release orange and red warnings; 通知进度 N follows a send.

// NoticeBoard is what residents' notice features need from storage.
type NoticeBoard interface {
	InForce(ctx context.Context, now time.Time, openid string, warningsOnly bool, limit int) ([]notices.Notice, error)
	NoticesMuted(ctx context.Context, openid string) (bool, error)
	SetNoticesMuted(ctx context.Context, openid string, muted bool, at time.Time) error
	NoticeStaff(ctx context.Context, openid string) (notices.Staff, bool, error)
}

// NoticeDesk is what staff do with notices (notices.Service).
type NoticeDesk interface {
	Get(ctx context.Context, id int64) (notices.Notice, error)
	List(ctx context.Context, f notices.ListFilter) ([]notices.Notice, error)
	Create(ctx context.Context, by notices.Staff, n notices.Notice) (notices.Notice, error)
	Submit(ctx context.Context, by notices.Staff, id int64) (notices.Notice, error)
	Approve(ctx context.Context, by notices.Staff, id int64) (notices.Notice, error)
	Reject(ctx context.Context, by notices.Staff, id int64, reason string) (notices.Notice, error)
	Progress(ctx context.Context, id int64) (notices.Progress, error)
}

// Notices wires the notice features.
type Notices struct {
	Board     NoticeBoard
	Desk      NoticeDesk
	PublicURL string // notice pages are linked from here when set
}

// Menu keys of the notice features.
const KeyNotices = "NOTICES"

const (
	noticeSettingsFlow = "notice_settings"
	noticeComposeFlow  = "notice_compose"
	noticeListLimit    = 5
)

var (
	noticeApprovePattern  = regexp.MustCompile(`^(?:批准|审核通过|同意发布)\s*第?(\d+)号?$`)
	noticeRejectPattern   = regexp.MustCompile(`^(?:驳回|退回)\s*第?(\d+)号?\s*(.*)$`)
	noticeProgressPattern = regexp.MustCompile(`^通知进度\s*第?(\d+)号?$`)
)

// AddNotices registers the notice features.
func (e *Engine) AddNotices(n Notices) {
	e.AddRoute(Route{Words: []string{"最新通知", "通知", "预警", "通知公告", "公告", "最新预警", "预警信息", "有什么通知"},
		Keys: []string{KeyNotices}, Answer: n.latest})
	e.AddFlow(n.settingsFlow())
	e.AddRoute(Route{Words: []string{"通知设置", "免打扰", "通知免打扰", "消息设置", "取消免打扰"}, Flow: noticeSettingsFlow})
	e.AddFlow(n.composeFlow())
	e.AddRoute(Route{Words: []string{"发布通知", "发通知", "发布预警", "发预警"}, Flow: noticeComposeFlow})
	e.AddRoute(Route{Words: []string{"待审核", "审核预警", "审核通知"}, Answer: n.staffOnly(n.approvals)})
	e.AddRoute(Route{Match: func(_ *Ctx, t string) bool { return noticeApprovePattern.MatchString(Normalize(t)) }, Answer: n.staffOnly(n.approve)})
	e.AddRoute(Route{Match: func(_ *Ctx, t string) bool { return noticeRejectPattern.MatchString(Normalize(t)) }, Answer: n.staffOnly(n.reject)})
	e.AddRoute(Route{Match: func(_ *Ctx, t string) bool { return noticeProgressPattern.MatchString(Normalize(t)) }, Answer: n.staffOnly(n.progress)})
}

// latest is 最新通知: warnings first, highest level first, then newest.
func (n Notices) latest(c *Ctx, in Input) ([]string, error) {
	t := &c.Content.Notices
	list, err := n.Board.InForce(c, c.Now, c.OpenID, false, 50)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return []string{t.ListEmpty}, nil
	}
	notices.SortForResidents(list)
	lines := []string{t.ListHeader}
	for i := range list[:min(len(list), noticeListLimit)] {
		lines = append(lines, notices.ListItem(&list[i], c.Content, notices.Link(n.PublicURL, list[i].ID)))
	}
	lines = append(lines, t.ListFooter)
	return []string{strings.Join(lines, "\n")}, nil
}

// staffOnly answers only bound staff; everyone else is told how to bind.
func (n Notices) staffOnly(f func(c *Ctx, st notices.Staff, text string) ([]string, error)) func(c *Ctx, in Input) ([]string, error) {
	return func(c *Ctx, in Input) ([]string, error) {
		st, ok, err := n.Board.NoticeStaff(c, c.OpenID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return []string{c.Content.Notices.NotStaff}, nil
		}
		return f(c, st, Normalize(in.Text))
	}
}

// noticeRefusal turns a refused action into its sentence for staff; other errors
// stay errors.
func noticeRefusal(err error) ([]string, error) {
	var e *notices.Error
	if errors.As(err, &e) {
		return []string{e.Msg}, nil
	}
	return nil, err
}

func (n Notices) approvals(c *Ctx, st notices.Staff, _ string) ([]string, error) {
	t := &c.Content.Notices
	list, err := n.Desk.List(c, notices.ListFilter{States: []notices.State{notices.StateApproval}, Limit: 10})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return []string{t.ApprovalsEmpty}, nil
	}
	lines := []string{t.ApprovalsHeader}
	for i := range list {
		x := &list[i]
		lines = append(lines, content.Fill(t.ApprovalsItem, "id", strconv.FormatInt(x.ID, 10),
			"headline", notices.Headline(x, c.Content), "title", x.Title, "author", x.CreatedByName))
	}
	lines = append(lines, t.ApprovalsFooter)
	return []string{strings.Join(lines, "\n")}, nil
}

func (n Notices) approve(c *Ctx, st notices.Staff, text string) ([]string, error) {
	id, _ := strconv.ParseInt(noticeApprovePattern.FindStringSubmatch(text)[1], 10, 64)
	x, err := n.Desk.Approve(c, st, id)
	if err != nil {
		return noticeRefusal(err)
	}
	return []string{content.Fill(c.Content.Notices.Approved, "id", strconv.FormatInt(x.ID, 10),
		"headline", notices.Headline(&x, c.Content))}, nil
}

func (n Notices) reject(c *Ctx, st notices.Staff, text string) ([]string, error) {
	m := noticeRejectPattern.FindStringSubmatch(text)
	id, _ := strconv.ParseInt(m[1], 10, 64)
	x, err := n.Desk.Reject(c, st, id, strings.TrimSpace(m[2]))
	if err != nil {
		return noticeRefusal(err)
	}
	return []string{content.Fill(c.Content.Notices.Rejected, "id", strconv.FormatInt(x.ID, 10),
		"headline", notices.Headline(&x, c.Content))}, nil
}

func (n Notices) progress(c *Ctx, st notices.Staff, text string) ([]string, error) {
	id, _ := strconv.ParseInt(noticeProgressPattern.FindStringSubmatch(text)[1], 10, 64)
	x, err := n.Desk.Get(c, id)
	if err != nil {
		return noticeRefusal(err)
	}
	p, err := n.Desk.Progress(c, id)
	if err != nil {
		return nil, err
	}
	return []string{content.Fill(c.Content.Notices.Progress, "id", strconv.FormatInt(id, 10), "state", x.State.Name(),
		"recipients", strconv.Itoa(p.Recipients), "delivered", strconv.Itoa(p.Delivered),
		"pending", strconv.Itoa(p.Pending), "failed", strconv.Itoa(p.Failed))}, nil
}

// 通知设置.

type noticeSettingsState struct {
	Muted bool `json:"muted"`
}

type (
	noticeLoadSettings struct{}
	noticeSaveSettings struct{ Muted bool }
)

func (n Notices) settingsFlow() *Flow[noticeSettingsState] {
	return &Flow[noticeSettingsState]{
		Name: noticeSettingsFlow, Title: "通知设置", Version: 1, First: "choose",
		Begin: func(c *Ctx, s *noticeSettingsState, in Input) Result {
			return Result{Next: "choose", Effects: []any{noticeLoadSettings{}}}
		},
		Steps: map[string]Step[noticeSettingsState]{
			"choose": {
				Ask: func(c *Ctx, s *noticeSettingsState) string {
					t := &c.Content.Notices
					current := t.SettingsAll
					if s.Muted {
						current = t.SettingsMuted
					}
					return content.Fill(t.SettingsAsk, "current", current)
				},
				Handle: func(c *Ctx, s *noticeSettingsState, in Input) Result {
					switch Normalize(in.Text) {
					case "1", "接收全部", "全部", "全部接收", "取消免打扰", "关闭免打扰":
						return Result{Done: true, Effects: []any{noticeSaveSettings{false}}}
					case "2", "免打扰", "只接收橙色红色预警", "只收预警", "开启免打扰":
						return Result{Done: true, Effects: []any{noticeSaveSettings{true}}}
					}
					return Result{Hint: c.Content.Notices.SettingsHint}
				},
			},
		},
		Apply: func(c *Ctx, s *noticeSettingsState, effect any) ([]string, error) {
			switch e := effect.(type) {
			case noticeLoadSettings:
				muted, err := n.Board.NoticesMuted(c, c.OpenID)
				s.Muted = muted
				return nil, err
			case noticeSaveSettings:
				if err := n.Board.SetNoticesMuted(c, c.OpenID, e.Muted, c.Now); err != nil {
					return nil, err
				}
				if e.Muted {
					return []string{c.Content.Notices.SettingsSavedMuted}, nil
				}
				return []string{c.Content.Notices.SettingsSavedAll}, nil
			}
			return nil, nil
		},
	}
}

// 发布通知.

type noticeComposeState struct {
	Refused  bool             `json:"refused,omitempty"`
	Kind     notices.Kind     `json:"kind,omitempty"`
	Hazard   string           `json:"hazard,omitempty"`
	Level    notices.Level    `json:"level,omitempty"`
	Title    string           `json:"title,omitempty"`
	Body     string           `json:"body,omitempty"`
	Audience notices.Audience `json:"audience"`
}

type (
	noticeCheckStaff struct{}
	noticeSubmit     struct{}
)

func (s *noticeComposeState) notice() notices.Notice {
	return notices.Notice{Kind: s.Kind, Level: s.Level, Hazard: s.Hazard, Title: s.Title, Body: s.Body, Audience: s.Audience}
}

func (n Notices) composeFlow() *Flow[noticeComposeState] {
	return &Flow[noticeComposeState]{
		Name: noticeComposeFlow, Title: "发布通知", Version: 1, First: "kind",
		Begin: func(c *Ctx, s *noticeComposeState, in Input) Result {
			return Result{Next: NextMissing, Effects: []any{noticeCheckStaff{}}}
		},
		Next: noticeComposeNext,
		Steps: map[string]Step[noticeComposeState]{
			"kind":        {Ask: noticeAsk(func(t *content.Notices) string { return t.AskKind }), Handle: noticeHandleKind},
			"hazard":      {Ask: noticeAskHazard, Handle: noticeHandleHazard},
			"level":       {Ask: noticeAsk(func(t *content.Notices) string { return t.AskLevel }), Handle: noticeHandleLevel},
			"title":       {Ask: noticeAskMax(func(t *content.Notices) string { return t.AskTitle }, notices.MaxTitle), Handle: noticeHandleTitle},
			"body":        {Ask: noticeAskMax(func(t *content.Notices) string { return t.AskBody }, notices.MaxBody), Handle: noticeHandleBody},
			"audience":    {Ask: noticeAsk(func(t *content.Notices) string { return t.AskAudience }), Handle: noticeHandleAudience},
			"communities": {Ask: noticeAskCommunities, Handle: noticeHandleCommunities},
			"place":       {Ask: noticeAsk(func(t *content.Notices) string { return t.AskPlace }), Handle: noticeHandlePlace},
			"radius":      {Ask: noticeAsk(func(t *content.Notices) string { return t.AskRadius }), Handle: noticeHandleRadius},
			"confirm":     {Ask: n.askConfirm, Handle: noticeHandleConfirm},
		},
		Apply: n.applyCompose,
	}
}

func noticeAsk(f func(t *content.Notices) string) func(c *Ctx, s *noticeComposeState) string {
	return func(c *Ctx, s *noticeComposeState) string { return f(&c.Content.Notices) }
}

func noticeAskMax(f func(t *content.Notices) string, max int) func(c *Ctx, s *noticeComposeState) string {
	return func(c *Ctx, s *noticeComposeState) string {
		return content.Fill(f(&c.Content.Notices), "max", strconv.Itoa(max))
	}
}

// noticeComposeNext is the first thing the notice still lacks.
func noticeComposeNext(c *Ctx, s *noticeComposeState) string {
	a := s.Audience
	switch {
	case s.Refused:
		return ""
	case s.Kind == "":
		return "kind"
	case s.Kind == notices.KindWarning && s.Hazard == "":
		return "hazard"
	case s.Kind == notices.KindWarning && s.Level == "":
		return "level"
	case s.Title == "":
		return "title"
	case s.Body == "":
		return "body"
	case a.Kind == "":
		return "audience"
	case a.Kind == notices.AudienceCommunities && len(a.Communities) == 0:
		return "communities"
	case a.Kind == notices.AudienceNear && a.Lat == 0:
		return "place"
	case a.Kind == notices.AudienceNear && a.Radius == 0:
		return "radius"
	}
	return "confirm"
}

func noticeNext() Result { return Result{Next: NextMissing} }

func noticeHandleKind(c *Ctx, s *noticeComposeState, in Input) Result {
	switch Normalize(in.Text) {
	case "1", "通知":
		s.Kind, s.Hazard, s.Level = notices.KindNotice, "", ""
	case "2", "预警":
		s.Kind = notices.KindWarning
	default:
		return Result{Hint: c.Content.Notices.KindHint}
	}
	return noticeNext()
}

func noticeAskHazard(c *Ctx, s *noticeComposeState) string {
	var b strings.Builder
	for i, h := range c.Content.Notices.Hazards {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(i+1) + ". " + h.Name)
	}
	return content.Fill(c.Content.Notices.AskHazard, "list", b.String())
}

func noticeHandleHazard(c *Ctx, s *noticeComposeState, in Input) Result {
	w := Normalize(in.Text)
	hs := c.Content.Notices.Hazards
	if k, err := strconv.Atoi(w); err == nil && k >= 1 && k <= len(hs) {
		s.Hazard = hs[k-1].ID
		return noticeNext()
	}
	for _, h := range hs {
		if w == h.Name || w == h.ID {
			s.Hazard = h.ID
			return noticeNext()
		}
	}
	return Result{Hint: c.Content.Notices.HazardHint}
}

func noticeHandleLevel(c *Ctx, s *noticeComposeState, in Input) Result {
	w := strings.TrimSuffix(strings.TrimSuffix(Normalize(in.Text), "预警"), "色")
	levels := map[string]notices.Level{"1": notices.LevelRed, "红": notices.LevelRed, "2": notices.LevelOrange,
		"橙": notices.LevelOrange, "3": notices.LevelYellow, "黄": notices.LevelYellow, "4": notices.LevelBlue, "蓝": notices.LevelBlue}
	l, ok := levels[w]
	if !ok {
		return Result{Hint: c.Content.Notices.LevelHint}
	}
	s.Level = l
	return noticeNext()
}

func noticeHandleTitle(c *Ctx, s *noticeComposeState, in Input) Result {
	t := strings.Join(strings.Fields(in.Text), " ")
	if r := utf8.RuneCountInString(t); in.Kind != KindText || r < 2 || r > notices.MaxTitle {
		return Result{Hint: content.Fill(c.Content.Notices.TitleHint, "max", strconv.Itoa(notices.MaxTitle))}
	}
	s.Title = t
	return noticeNext()
}

func noticeHandleBody(c *Ctx, s *noticeComposeState, in Input) Result {
	b := strings.TrimSpace(in.Text)
	if r := utf8.RuneCountInString(b); (in.Kind != KindText && in.Kind != KindVoice) || r < 5 || r > notices.MaxBody {
		return Result{Hint: content.Fill(c.Content.Notices.BodyHint, "max", strconv.Itoa(notices.MaxBody))}
	}
	s.Body = b
	return noticeNext()
}

func noticeHandleAudience(c *Ctx, s *noticeComposeState, in Input) Result {
	switch Normalize(in.Text) {
	case "1", "全体", "全体关注者", "全部":
		s.Audience = notices.Audience{Kind: notices.AudienceAll}
	case "2", "按社区", "社区":
		s.Audience = notices.Audience{Kind: notices.AudienceCommunities}
	case "3", "志愿者":
		s.Audience = notices.Audience{Kind: notices.AudienceVolunteers}
	case "4", "附近", "某个位置附近", "位置":
		s.Audience = notices.Audience{Kind: notices.AudienceNear}
	default:
		return Result{Hint: c.Content.Notices.AudienceHint}
	}
	return noticeNext()
}

func noticeAskCommunities(c *Ctx, s *noticeComposeState) string {
	var b strings.Builder
	for i, cm := range c.Content.Grids.Communities() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(i+1) + ". " + cm.Name)
	}
	return content.Fill(c.Content.Notices.AskCommunities, "list", b.String())
}

func noticeHandleCommunities(c *Ctx, s *noticeComposeState, in Input) Result {
	all := c.Content.Grids.Communities()
	var picked []string
	for _, f := range strings.FieldsFunc(Normalize(in.Text), func(r rune) bool { return strings.ContainsRune(" ,，、", r) }) {
		k, err := strconv.Atoi(f)
		if err != nil || k < 1 || k > len(all) {
			return Result{Hint: c.Content.Notices.CommunitiesHint}
		}
		picked = append(picked, all[k-1].ID)
	}
	if len(picked) == 0 {
		return Result{Hint: c.Content.Notices.CommunitiesHint}
	}
	s.Audience.Communities = picked
	return noticeNext()
}

func noticeHandlePlace(c *Ctx, s *noticeComposeState, in Input) Result {
	if !hasLocation(in) {
		return Result{Hint: c.Content.Notices.PlaceHint}
	}
	s.Audience.Lat, s.Audience.Lng = in.Lat, in.Lng
	s.Audience.Place = truncate(strings.TrimSpace(in.Label), 40)
	return noticeNext()
}

func noticeHandleRadius(c *Ctx, s *noticeComposeState, in Input) Result {
	w := strings.TrimSuffix(strings.TrimSuffix(Normalize(in.Text), "米"), "m")
	r, err := strconv.Atoi(strings.TrimSpace(w))
	if err != nil || float64(r) < notices.MinRadius || float64(r) > notices.MaxRadius {
		return Result{Hint: c.Content.Notices.RadiusHint}
	}
	s.Audience.Radius = float64(r)
	return noticeNext()
}

func (n Notices) askConfirm(c *Ctx, s *noticeComposeState) string {
	x := s.notice()
	p := notices.MakePreview(&x, c.Content, n.PublicURL, notices.DefaultTemplateKeys, c.Now)
	approval := ""
	if x.NeedsApproval() {
		approval = c.Content.Notices.ApprovalNeeded
	}
	return content.Fill(c.Content.Notices.AskConfirm, "preview", p.ChatPreview(), "approval", approval)
}

func noticeHandleConfirm(c *Ctx, s *noticeComposeState, in Input) Result {
	switch Normalize(in.Text) {
	case "确认", "确定", "提交", "发布", "确认发布", "确认提交":
		return Result{Done: true, Effects: []any{noticeSubmit{}}}
	}
	return Result{Hint: c.Content.Notices.ConfirmHint}
}

func (n Notices) applyCompose(c *Ctx, s *noticeComposeState, effect any) ([]string, error) {
	switch effect.(type) {
	case noticeCheckStaff:
		st, ok, err := n.Board.NoticeStaff(c, c.OpenID)
		if err != nil {
			return nil, err
		}
		if !ok || !st.CanCompose() {
			s.Refused = true
			return []string{c.Content.Notices.NotStaff}, nil
		}
	case noticeSubmit:
		// Staff status is checked again: it may have been revoked since
		// the flow began.
		st, ok, err := n.Board.NoticeStaff(c, c.OpenID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return []string{c.Content.Notices.NotStaff}, nil
		}
		x, err := n.Desk.Create(c, st, s.notice())
		if err != nil {
			return noticeRefusal(err)
		}
		if x, err = n.Desk.Submit(c, st, x.ID); err != nil {
			return noticeRefusal(err)
		}
		text := c.Content.Notices.SubmittedSending
		if x.State == notices.StateApproval {
			text = c.Content.Notices.SubmittedApprove
		}
		return []string{content.Fill(text, "id", strconv.FormatInt(x.ID, 10), "headline", notices.Headline(&x, c.Content))}, nil
	}
	return nil, nil
}
