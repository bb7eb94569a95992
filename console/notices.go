package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/notices"
	"hazardbot/storage"
)

// Notices and early warnings (通知预警): compose, preview as residents will
// see it (the chat message and the template message), submit, approve or
// send back (a second staff member, for orange and red warnings), schedule,
// send now, withdraw, update or lift a warning in force, and follow the
// delivery: recipients, delivered, pending, failed by reason. The rules
// live in notices.Service; these pages only collect and show.

// NoticeDesk is what the notice pages need (notices.Service).
type NoticeDesk interface {
	Get(ctx context.Context, id int64) (notices.Notice, error)
	List(ctx context.Context, f notices.ListFilter) ([]notices.Notice, error)
	Create(ctx context.Context, by notices.Staff, n notices.Notice) (notices.Notice, error)
	Edit(ctx context.Context, by notices.Staff, n notices.Notice) (notices.Notice, error)
	Submit(ctx context.Context, by notices.Staff, id int64) (notices.Notice, error)
	Approve(ctx context.Context, by notices.Staff, id int64) (notices.Notice, error)
	Reject(ctx context.Context, by notices.Staff, id int64, reason string) (notices.Notice, error)
	Schedule(ctx context.Context, by notices.Staff, id int64, at time.Time) (notices.Notice, error)
	Cancel(ctx context.Context, by notices.Staff, id int64, reason string) (notices.Notice, error)
	Amend(ctx context.Context, by notices.Staff, id int64) (notices.Notice, error)
	Lift(ctx context.Context, by notices.Staff, id int64) (notices.Notice, error)
	Progress(ctx context.Context, id int64) (notices.Progress, error)
	Preview(n *notices.Notice) notices.Preview
}

type noticePages struct {
	c    *Console
	desk NoticeDesk
}

// AddNotices mounts the notice pages under /console/notices.
func (c *Console) AddNotices(desk NoticeDesk) {
	p := &noticePages{c: c, desk: desk}
	m := c.mux
	m.HandleFunc("GET /console/notices", c.auth(anyone, p.list))
	m.HandleFunc("GET /console/notices/new", c.auth(workers, p.newForm))
	m.HandleFunc("POST /console/notices", c.auth(workers, p.create))
	m.HandleFunc("GET /console/notices/{id}", c.auth(anyone, p.detail))
	m.HandleFunc("GET /console/notices/{id}/edit", c.auth(workers, p.editForm))
	m.HandleFunc("POST /console/notices/{id}/{op}", c.auth(workers, p.op))
}

// noticeStaffOf is the console user as the notice rules see them.
func noticeStaffOf(st storage.Staff) notices.Staff {
	name := st.Name
	if name == "" {
		name = st.Username
	}
	return notices.Staff{ID: "staff:" + st.Username, Name: name, Role: st.Role, CommunityID: st.CommunityID}
}

// noticeError turns a refused action into a page: the sentence the rules
// wrote, with the status its kind calls for.
func noticeError(err error) error {
	var ne *notices.Error
	if !errors.As(err, &ne) {
		return err
	}
	switch {
	case errors.Is(ne, notices.ErrForbidden):
		return &httpError{http.StatusForbidden, ne.Msg}
	case errors.Is(ne, notices.ErrNotFound):
		return &httpError{http.StatusNotFound, ne.Msg}
	case errors.Is(ne, notices.ErrInvalid):
		return &httpError{http.StatusUnprocessableEntity, ne.Msg}
	}
	return &httpError{http.StatusConflict, ne.Msg}
}

type noticeRow struct {
	notices.Notice
	Headline, Badge, Colour, Area string
}

func (p *noticePages) row(n notices.Notice) noticeRow {
	c := p.c.Content()
	colour := "#2f6f4e"
	if l, ok := c.Notices.Level(string(n.Level)); ok && n.Kind == notices.KindWarning {
		colour = l.Colour
	}
	return noticeRow{Notice: n, Headline: notices.Headline(&n, c), Badge: notices.Badge(&n, c), Colour: colour,
		Area: notices.AreaDesc(n.Audience, c)}
}

type noticeListView struct {
	Rows   []noticeRow
	State  string
	States []noticeStateTab
	Worker bool
	Done   string
}

type noticeStateTab struct {
	Key, Name string
	On        bool
}

var noticeDone = map[string]string{
	"created": "已保存草稿。", "saved": "已保存修改。", "submit": "已提交。", "approve": "已批准，正在发送。",
	"reject": "已退回提交人。", "schedule": "已更新发送时间。", "send": "已安排立即发送。", "cancel": "已撤回。",
	"amend": "已生成更新预警的草稿，请修改后提交。", "lift": "已生成解除预警的草稿，请核对后提交。",
}

func (p *noticePages) list(w http.ResponseWriter, r *request) error {
	state := r.URL.Query().Get("state")
	f := notices.ListFilter{Limit: 100}
	if state != "" {
		f.States = []notices.State{notices.State(state)}
	}
	list, err := p.desk.List(r.Context(), f)
	if err != nil {
		return err
	}
	v := noticeListView{State: state, Worker: r.staff.Role != hazardbot.RoleViewer, Done: noticeDone[r.URL.Query().Get("done")]}
	v.States = append(v.States, noticeStateTab{"", "全部", state == ""})
	for _, s := range []notices.State{notices.StateDraft, notices.StateApproval, notices.StateSched, notices.StateSending,
		notices.StateSent, notices.StateCanceled} {
		v.States = append(v.States, noticeStateTab{string(s), s.Name(), state == string(s)})
	}
	for _, n := range list {
		v.Rows = append(v.Rows, p.row(n))
	}
	p.c.render(w, r, http.StatusOK, "notices_list", "通知预警", v)
	return nil
}

// noticeForm is the compose form, as typed.
type noticeForm struct {
	ID                            int64
	MsgType                       notices.MsgType
	Kind, Level, Hazard           string
	Title, Body, Instruction      string
	Audience                      string
	Communities, Grids            []string
	Lat, Lng, Radius, Place       string
	TagID, TagName                string
	ValidFrom, ValidUntil, SendAt string // datetime-local, Shanghai
	Exercise                      bool
	Error, Done                   string
	Hazards                       []noticeHazardOption
	Levels                        []noticeLevelOption
	CommunityList                 []noticeCommunityOption
	DefaultGuide                  string
	Refs                          int64
	Community                     bool // the author is community staff: their community only
	AudienceKinds                 []noticeAudienceOption
	Action                        string // the form's target
	Submit                        string // its button
	RefTitle                      string
}

type noticeHazardOption struct {
	ID, Name, Guide string
	On              bool
}

type noticeLevelOption struct {
	ID, Name string
	On       bool
}

type noticeCommunityOption struct {
	ID, Name string
	On       bool
	Grids    []noticeGridOption
}

type noticeGridOption struct {
	ID, Name string
	On       bool
}

type noticeAudienceOption struct {
	Kind, Name string
	On         bool
}

const noticeDateTimeLocal = "2006-01-02T15:04"

func noticeLocalTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(hazardbot.Shanghai).Format(noticeDateTimeLocal)
}

func noticeParseLocal(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(noticeDateTimeLocal, s, hazardbot.Shanghai)
	if err != nil {
		return time.Time{}, badRequest("时间格式不对：%s", s)
	}
	return t.UTC(), nil
}

// formOf fills the form from a notice.
func (p *noticePages) formOf(n notices.Notice) noticeForm {
	a := n.Audience
	f := noticeForm{ID: n.ID, MsgType: n.MsgType, Refs: n.Refs, Kind: string(n.Kind), Level: string(n.Level), Hazard: n.Hazard,
		Title: n.Title, Body: n.Body, Instruction: n.Instruction, Audience: a.Kind, Communities: a.Communities, Grids: a.Grids,
		Place: a.Place, TagName: a.TagName, ValidFrom: noticeLocalTime(n.ValidFrom), ValidUntil: noticeLocalTime(n.ValidUntil),
		SendAt: noticeLocalTime(n.SendAt), Exercise: n.Exercise}
	if a.Kind == notices.AudienceNear {
		f.Lat, f.Lng = strconv.FormatFloat(a.Lat, 'f', 6, 64), strconv.FormatFloat(a.Lng, 'f', 6, 64)
		f.Radius = strconv.Itoa(int(a.Radius))
	}
	if a.TagID > 0 {
		f.TagID = strconv.Itoa(a.TagID)
	}
	return f
}

// decorate adds the choices the form offers.
func (p *noticePages) decorate(f *noticeForm, r *request) {
	c := p.c.Content()
	for _, h := range c.Notices.Hazards {
		f.Hazards = append(f.Hazards, noticeHazardOption{ID: h.ID, Name: h.Name, Guide: h.Guide, On: h.ID == f.Hazard})
		if h.ID == f.Hazard {
			f.DefaultGuide = h.Guide
		}
	}
	for _, l := range c.Notices.Levels {
		f.Levels = append(f.Levels, noticeLevelOption{ID: l.ID, Name: l.Name, On: l.ID == f.Level})
	}
	f.Community = r.staff.Role == hazardbot.RoleCommunity
	for _, cm := range c.Grids.Communities() {
		if f.Community && cm.ID != r.staff.CommunityID {
			continue
		}
		o := noticeCommunityOption{ID: cm.ID, Name: cm.Name, On: slices.Contains(f.Communities, cm.ID)}
		for _, g := range cm.Grids {
			o.Grids = append(o.Grids, noticeGridOption{ID: g, Name: p.c.gridName(g), On: slices.Contains(f.Grids, g)})
		}
		f.CommunityList = append(f.CommunityList, o)
	}
	kinds := []noticeAudienceOption{{notices.AudienceAll, "全体关注者", false}, {notices.AudienceCommunities, "按社区", false},
		{notices.AudienceGrids, "按网格", false}, {notices.AudienceVolunteers, "志愿者", false},
		{notices.AudienceNear, "某个位置周边", false}, {notices.AudienceTag, "微信标签", false}}
	for _, k := range kinds {
		if f.Community && k.Kind != notices.AudienceCommunities && k.Kind != notices.AudienceGrids && k.Kind != notices.AudienceNear {
			continue // community staff reach their own community only
		}
		k.On = k.Kind == f.Audience
		f.AudienceKinds = append(f.AudienceKinds, k)
	}
	f.Action, f.Submit = "/console/notices", "保存草稿并预览"
	if f.ID != 0 {
		f.Action, f.Submit = "/console/notices/"+strconv.FormatInt(f.ID, 10)+"/edit", "保存修改并预览"
	}
	if f.Refs != 0 {
		if orig, err := p.desk.Get(r.Context(), f.Refs); err == nil {
			f.RefTitle = notices.Headline(&orig, c) + "：" + orig.Title
		}
	}
}

// noticeFrom reads a notice from the posted form; problems with the form
// itself (a malformed number or date) are errors, the rules' are not here.
func noticeFrom(r *request) (notices.Notice, noticeForm, error) {
	f := noticeForm{Kind: r.FormValue("kind"), Level: r.FormValue("level"), Hazard: r.FormValue("hazard"),
		Title: r.FormValue("title"), Body: r.FormValue("body"), Instruction: r.FormValue("instruction"),
		Audience: r.FormValue("audience"), Communities: r.Form["community"], Grids: r.Form["grid"],
		Lat: strings.TrimSpace(r.FormValue("lat")), Lng: strings.TrimSpace(r.FormValue("lng")),
		Radius: strings.TrimSpace(r.FormValue("radius")), Place: strings.TrimSpace(r.FormValue("place")),
		TagID: strings.TrimSpace(r.FormValue("tag_id")), TagName: strings.TrimSpace(r.FormValue("tag_name")),
		ValidFrom: r.FormValue("valid_from"), ValidUntil: r.FormValue("valid_until"), SendAt: r.FormValue("send_at"),
		Exercise: r.FormValue("exercise") != ""}
	n := notices.Notice{Kind: notices.Kind(f.Kind), Level: notices.Level(f.Level), Hazard: f.Hazard, Title: f.Title,
		Body: strings.ReplaceAll(f.Body, "\r\n", "\n"), Instruction: f.Instruction, Exercise: f.Exercise,
		Audience: notices.Audience{Kind: f.Audience, Communities: f.Communities, Grids: f.Grids, Place: f.Place, TagName: f.TagName}}
	var err error
	num := func(s, what string) float64 {
		if s == "" || err != nil {
			return 0
		}
		v, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			err = badRequest("%s不是数字：%s", what, s)
		}
		return v
	}
	if f.Audience == notices.AudienceNear {
		n.Audience.Lat, n.Audience.Lng, n.Audience.Radius = num(f.Lat, "纬度"), num(f.Lng, "经度"), num(f.Radius, "半径")
	}
	if f.Audience == notices.AudienceTag {
		n.Audience.TagID = int(num(f.TagID, "标签编号"))
	}
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{f.ValidFrom, &n.ValidFrom}, {f.ValidUntil, &n.ValidUntil}, {f.SendAt, &n.SendAt}} {
		if err == nil {
			*t.dst, err = noticeParseLocal(t.s)
		}
	}
	return n, f, err
}

func (p *noticePages) newForm(w http.ResponseWriter, r *request) error {
	f := noticeForm{Kind: string(notices.KindWarning), Level: string(notices.LevelYellow), Hazard: "rainstorm", Audience: notices.AudienceAll}
	if r.staff.Role == hazardbot.RoleCommunity {
		f.Audience, f.Communities = notices.AudienceCommunities, []string{r.staff.CommunityID}
	}
	p.decorate(&f, r)
	p.c.render(w, r, http.StatusOK, "notices_edit", "发布通知", f)
	return nil
}

// refusedForm shows the form again, as typed, with the rules' sentence.
func (p *noticePages) refusedForm(w http.ResponseWriter, r *request, f noticeForm, err error) error {
	var ne *notices.Error
	if !errors.As(err, &ne) || errors.Is(ne, notices.ErrNotFound) {
		return noticeError(err)
	}
	f.Error = ne.Msg
	p.decorate(&f, r)
	status := http.StatusUnprocessableEntity
	if errors.Is(ne, notices.ErrForbidden) {
		status = http.StatusForbidden
	}
	p.c.render(w, r, status, "notices_edit", "发布通知", f)
	return nil
}

func (p *noticePages) create(w http.ResponseWriter, r *request) error {
	n, f, err := noticeFrom(r)
	if err != nil {
		return err
	}
	n, err = p.desk.Create(r.Context(), noticeStaffOf(r.staff), n)
	if err != nil {
		return p.refusedForm(w, r, f, err)
	}
	http.Redirect(w, r.Request, "/console/notices/"+strconv.FormatInt(n.ID, 10)+"?done=created", http.StatusSeeOther)
	return nil
}

func (p *noticePages) load(r *request) (notices.Notice, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return notices.Notice{}, errNotFound
	}
	n, err := p.desk.Get(r.Context(), id)
	return n, noticeError(err)
}

func (p *noticePages) editForm(w http.ResponseWriter, r *request) error {
	n, err := p.load(r)
	if err != nil {
		return err
	}
	if n.State != notices.StateDraft {
		return &httpError{http.StatusConflict, "只有草稿可以修改；已提交的请先撤回，或对已发布的预警使用“更新预警”。"}
	}
	f := p.formOf(n)
	f.Done = noticeDone[r.URL.Query().Get("done")]
	p.decorate(&f, r)
	p.c.render(w, r, http.StatusOK, "notices_edit", "修改通知", f)
	return nil
}

type noticeDetailView struct {
	noticeRow
	Preview     notices.Preview
	Progress    notices.Progress
	Reasons     []noticeCount
	Channels    []noticeCount
	History     []noticeHistory
	Guide       string
	Done        string
	Me          string
	CanEdit     bool // a draft, and the user may change it
	CanApprove  bool
	CanCancel   bool
	CanSchedule bool
	CanSendNow  bool
	CanFollowUp bool // update or lift: a warning in force
	Approval    bool // it needs a second staff member
	InForce     bool
	SendAt      string
	Newer       *noticeRow
	Original    *noticeRow
}

type noticeHistory struct {
	At          time.Time
	Actor, What string
	Detail      string
}

var noticeActions = map[string]string{"notice.create": "创建", "notice.edit": "修改", "notice.submit": "提交",
	"notice.approve": "审核通过", "notice.reject": "退回修改", "notice.schedule": "设定发送时间", "notice.cancel": "撤回",
	"notice.start": "开始发送"}

type noticeCount struct {
	Name string
	N    int
}

func (p *noticePages) detail(w http.ResponseWriter, r *request) error {
	n, err := p.load(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	me := noticeStaffOf(r.staff)
	mine := n.CreatedBy == me.ID || me.CanApprove()
	v := noticeDetailView{noticeRow: p.row(n), Preview: p.desk.Preview(&n), Guide: notices.Guide(&n, p.c.Content()),
		Done: noticeDone[r.URL.Query().Get("done")], Me: me.ID, InForce: n.InForce(r.now), SendAt: noticeLocalTime(n.SendAt)}
	worker := me.CanCompose()
	open := n.State == notices.StateDraft || n.State == notices.StateApproval || n.State == notices.StateSched
	v.CanEdit = worker && mine && n.State == notices.StateDraft
	v.Approval = n.NeedsApproval()
	v.CanApprove = n.State == notices.StateApproval && me.CanApprove() && me.ID != n.CreatedBy
	v.CanCancel = worker && mine && (open || n.State == notices.StateSending)
	v.CanSchedule = worker && mine && open
	v.CanSendNow = worker && mine && n.State == notices.StateSched && n.SendAt.After(r.now)
	v.CanFollowUp = worker && n.Kind == notices.KindWarning && n.State.Published() && n.SupersededBy == 0 &&
		n.MsgType != notices.MsgCancel
	if v.Progress, err = p.desk.Progress(ctx, n.ID); err != nil {
		return err
	}
	for reason, k := range v.Progress.ByReason {
		v.Reasons = append(v.Reasons, noticeCount{notices.ReasonName(reason), k})
	}
	for ch, k := range v.Progress.ByChannel {
		v.Channels = append(v.Channels, noticeCount{notices.ChannelName(ch), k})
	}
	byCount := func(a, b noticeCount) int { return b.N - a.N }
	slices.SortFunc(v.Reasons, byCount)
	slices.SortFunc(v.Channels, byCount)
	history, err := p.c.Store.AuditFor(ctx, "notice", strconv.FormatInt(n.ID, 10))
	if err != nil {
		return err
	}
	for _, h := range history {
		what, ok := noticeActions[h.Action]
		if !ok {
			what = h.Action
		}
		detail := h.Detail
		if h.Action == "notice.approve" || h.Action == "notice.start" {
			detail = "" // the actor says it
		}
		v.History = append(v.History, noticeHistory{At: h.At, Actor: h.Actor, What: what, Detail: detail})
	}
	if n.SupersededBy != 0 {
		if newer, err := p.desk.Get(ctx, n.SupersededBy); err == nil {
			row := p.row(newer)
			v.Newer = &row
		}
	}
	if n.Refs != 0 {
		if orig, err := p.desk.Get(ctx, n.Refs); err == nil {
			row := p.row(orig)
			v.Original = &row
		}
	}
	p.c.render(w, r, http.StatusOK, "notices_detail", "第"+strconv.FormatInt(n.ID, 10)+"号 "+v.Headline, v)
	return nil
}

// op carries out a staff action on a notice and goes back to its page.
func (p *noticePages) op(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	ctx, by, op := r.Context(), noticeStaffOf(r.staff), r.PathValue("op")
	var n notices.Notice
	switch op {
	case "edit":
		var f noticeForm
		if n, f, err = noticeFrom(r); err != nil {
			return err
		}
		n.ID, f.ID = id, id
		if n, err = p.desk.Edit(ctx, by, n); err != nil {
			if cur, gerr := p.desk.Get(ctx, id); gerr == nil {
				f.MsgType, f.Refs = cur.MsgType, cur.Refs
			}
			return p.refusedForm(w, r, f, err)
		}
		op = "saved"
	case "submit":
		n, err = p.desk.Submit(ctx, by, id)
	case "approve":
		n, err = p.desk.Approve(ctx, by, id)
	case "reject":
		n, err = p.desk.Reject(ctx, by, id, strings.TrimSpace(r.FormValue("reason")))
	case "schedule":
		var at time.Time
		if at, err = noticeParseLocal(r.FormValue("send_at")); err != nil {
			return err
		}
		n, err = p.desk.Schedule(ctx, by, id, at)
	case "send":
		n, err = p.desk.Schedule(ctx, by, id, time.Time{})
	case "cancel":
		n, err = p.desk.Cancel(ctx, by, id, strings.TrimSpace(r.FormValue("reason")))
	case "amend":
		n, err = p.desk.Amend(ctx, by, id)
	case "lift":
		n, err = p.desk.Lift(ctx, by, id)
	default:
		return errNotFound
	}
	if err != nil {
		return noticeError(err)
	}
	target := "/console/notices/" + strconv.FormatInt(n.ID, 10) + "?done=" + url.QueryEscape(op)
	if op == "amend" || op == "lift" {
		target = "/console/notices/" + strconv.FormatInt(n.ID, 10) + "/edit?done=" + op
	}
	http.Redirect(w, r.Request, target, http.StatusSeeOther)
	return nil
}
