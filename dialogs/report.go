package dialogs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
)

// ReportStore is what the report flows need from storage.
type ReportStore interface {
	Blocked(ctx context.Context, openid string) (bool, error)
	CountReportsSince(ctx context.Context, openid string, since time.Time) (int, error)
	NearbyOpen(ctx context.Context, category string, lat, lng, radius float64, since time.Time) ([]hazardbot.Report, error)
	FollowReport(ctx context.Context, reportID int64, openid string, now time.Time) (bool, error)
	SubmitReport(ctx context.Context, r *hazardbot.Report, key string, now time.Time) error
	ReportsFor(ctx context.Context, openid string, limit int) ([]hazardbot.Report, error)
	ReportByTicket(ctx context.Context, ticket string) (hazardbot.Report, error)
	Timeline(ctx context.Context, reportID int64, publicOnly bool) ([]hazardbot.Event, error)
}

// Report flow limits.
const (
	MaxPhotos        = 9
	minDescription   = 5 // runes
	maxDescription   = 500
	duplicateRadius  = 50.0 // metres
	duplicateWindow  = 30 * 24 * time.Hour
	DefaultDailyCap  = 10
	reportFlow       = "report"
	minAddressLength = 4
)

// Menu keys and words of the report flows.
const (
	KeyReport      = "REPORT"
	KeyReportPhoto = "REPORT_PHOTO"
	KeyMyReports   = "MY_REPORTS"
)

type photoRef struct {
	MediaID string `json:"m"`
	PicURL  string `json:"u,omitempty"`
}

// reportState is a report being drafted.
type reportState struct {
	Key          string     `json:"key"` // makes submission idempotent
	Category     string     `json:"cat,omitempty"`
	Description  string     `json:"desc,omitempty"`
	Photos       []photoRef `json:"photos,omitempty"`
	PhotosDone   bool       `json:"photos_done,omitempty"`
	HasLocation  bool       `json:"has_loc,omitempty"`
	Lat          float64    `json:"lat,omitempty"`
	Lng          float64    `json:"lng,omitempty"`
	Address      string     `json:"addr,omitempty"`
	LocationDone bool       `json:"loc_done,omitempty"`
	Community    string     `json:"community,omitempty"`
	Grid         string     `json:"grid,omitempty"`
	Outside      bool       `json:"outside,omitempty"` // the point is outside every grid and not yet kept
	Phone        string     `json:"phone,omitempty"`
	ContactDone  bool       `json:"contact_done,omitempty"`
	Urgent       bool       `json:"urgent,omitempty"`
	DangerSaid   bool       `json:"danger_said,omitempty"`
	DupChecked   bool       `json:"dup_checked,omitempty"` // for this category and place
	Dup          *dupInfo   `json:"dup,omitempty"`
	Refused      bool       `json:"refused,omitempty"`
}

type dupInfo struct {
	ID          int64  `json:"id"`
	Ticket      string `json:"ticket"`
	Status      string `json:"status"`
	Description string `json:"desc"`
	Distance    int    `json:"dist"`
	Answered    bool   `json:"answered,omitempty"`
}

// Effects of the report flow.
type (
	checkAllowed struct{}
	lookupDup    struct{}
	followDup    struct{}
	submitReport struct{}
)

// ReportFlow is the resident's hazard report: category, description,
// photos, location, contact, confirmation.
type ReportFlow struct {
	Store    ReportStore
	DailyCap int
}

// AddReports registers the report flow, photo-first and location-first
// starts, words of danger, 我的上报 and ticket look-ups.
func (e *Engine) AddReports(store ReportStore, dailyCap int) {
	if dailyCap <= 0 {
		dailyCap = DefaultDailyCap
	}
	rf := &ReportFlow{Store: store, DailyCap: dailyCap}
	e.AddFlow(rf.Flow())
	e.PhotoFlow, e.LocationFlow = reportFlow, reportFlow
	e.AddRoute(Route{Words: []string{"上报", "举报", "隐患", "随手拍", "上报隐患", "我要上报", "我要举报", "报隐患", "拍隐患"},
		Keys: []string{KeyReport}, Flow: reportFlow})
	// The menu's photo button: the photos follow as image messages, which
	// start the report themselves.
	e.AddRoute(Route{Keys: []string{KeyReportPhoto}, Answer: func(*Ctx, Input) ([]string, error) { return nil, nil }})
	e.AddRoute(Route{Words: []string{"我的上报", "我的隐患", "我的工单", "上报进度", "进度", "查进度"}, Keys: []string{KeyMyReports},
		Answer: rf.myReports})
	e.AddRoute(Route{Match: func(c *Ctx, text string) bool { return hazardbot.TicketPattern.MatchString(text) }, Answer: rf.timeline})
	e.AddRoute(Route{Match: func(c *Ctx, text string) bool { _, ok := c.Content.Danger.Advice(text); return ok }, Flow: reportFlow})
}

// Flow builds the report flow.
func (rf *ReportFlow) Flow() *Flow[reportState] {
	return &Flow[reportState]{
		Name: reportFlow, Title: "隐患上报", Version: 1, First: "category",
		Begin: rf.begin, Apply: rf.apply, Next: next,
		Steps: map[string]Step[reportState]{
			"category":    {Ask: askCategory, Handle: absorbing(handleCategory)},
			"description": {Ask: askDescription, Handle: absorbing(handleDescription)},
			"photos":      {Ask: askPhotos, Handle: handlePhotos},
			"location":    {Ask: askLocation, Handle: absorbing(handleLocation)},
			"outside":     {Ask: askOutside, Handle: absorbing(handleOutside)},
			"contact":     {Ask: askContact, Handle: absorbing(handleContact)},
			"duplicate":   {Ask: askDuplicate, Handle: absorbing(handleDuplicate)},
			"confirm":     {Ask: askConfirm, Handle: absorbing(handleConfirm)},
		},
	}
}

// next is the first thing the draft still lacks.
func next(c *Ctx, s *reportState) string {
	switch {
	case s.Refused:
		return ""
	case s.Category == "":
		return "category"
	case s.Description == "":
		return "description"
	case !s.PhotosDone:
		return "photos"
	case !s.LocationDone:
		return "location"
	case s.Outside:
		return "outside"
	case s.Dup != nil && !s.Dup.Answered:
		return "duplicate"
	case !s.ContactDone:
		return "contact"
	}
	return "confirm"
}

// effects are the look-ups the draft now needs: a duplicate check once the
// category and the point are both known.
func (s *reportState) effects() []any {
	if s.Category != "" && s.HasLocation && !s.DupChecked {
		return []any{lookupDup{}}
	}
	return nil
}

// proceed goes to whatever the draft lacks next.
func (s *reportState) proceed(say ...string) Result {
	return Result{Next: NextMissing, Say: say, Effects: s.effects()}
}

func (rf *ReportFlow) begin(c *Ctx, s *reportState, in Input) Result {
	s.Key = fmt.Sprintf("%s:%d", c.OpenID, c.Now.UnixNano())
	var say []string
	switch {
	case in.Kind == KindImage:
		say = append(say, c.Content.Messages.PhotoOutsideFlow)
		say = append(say, s.addPhoto(c, in)...)
	case isLocation(in):
		say = append(say, s.setLocation(c, in)...)
	case in.Kind == KindText || in.Kind == KindVoice:
		// Words of danger start the report with the advice first; what
		// they said becomes the description when it says enough.
		if advice, ok := c.Content.Danger.Advice(in.Text); ok {
			s.Urgent, s.DangerSaid = true, true
			say = append(say, advice)
			if utf8.RuneCountInString(strings.TrimSpace(in.Text)) >= minDescription {
				s.Description = truncate(strings.TrimSpace(in.Text), maxDescription)
			}
		}
	}
	return Result{Next: NextMissing, Say: say, Effects: append([]any{checkAllowed{}}, s.effects()...)}
}

// absorbing lets a photo or a location count in any step: nothing a
// resident sends is lost, and the step's question comes back.
func absorbing(h func(c *Ctx, s *reportState, in Input) Result) func(c *Ctx, s *reportState, in Input) Result {
	return func(c *Ctx, s *reportState, in Input) Result {
		switch {
		case in.Kind == KindImage:
			return s.proceed(s.addPhoto(c, in)...)
		case isLocation(in) && !(s.Dup != nil && !s.Dup.Answered):
			return s.proceed(s.setLocation(c, in)...)
		}
		return h(c, s, in)
	}
}

func isLocation(in Input) bool {
	return in.Kind == KindLocation || (in.Kind == KindEvent && in.Event == EventLocationSelect)
}

func text(in Input) string { return strings.TrimSpace(in.Text) }

// addPhoto keeps a photo sent in any step and says so.
func (s *reportState) addPhoto(c *Ctx, in Input) []string {
	t := &c.Content.Report
	if len(s.Photos) < MaxPhotos {
		s.Photos = append(s.Photos, photoRef{MediaID: in.MediaID, PicURL: in.PicURL})
		if len(s.Photos) < MaxPhotos {
			return []string{content.Fill(t.PhotoKept, "n", strconv.Itoa(len(s.Photos)))}
		}
	}
	s.PhotosDone = true
	return []string{content.Fill(t.PhotosFull, "max", strconv.Itoa(MaxPhotos))}
}

func (s *reportState) setLocation(c *Ctx, in Input) []string {
	s.HasLocation, s.Lat, s.Lng, s.LocationDone, s.DupChecked, s.Dup = true, in.Lat, in.Lng, true, false, nil
	s.Address = strings.TrimSpace(in.Label)
	if s.Address == "" {
		s.Address = fmt.Sprintf("%.5f, %.5f", in.Lat, in.Lng)
	}
	s.Address = truncate(s.Address, 120)
	s.Community, s.Grid, s.Outside = "", "", false
	if g, ok := c.Content.Grids.Locate(in.Lat, in.Lng); ok {
		s.Community, s.Grid = g.CommunityID, g.ID
		return nil
	}
	s.Outside = true
	return nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func categoryList(c *Ctx) string {
	var b strings.Builder
	for i, cat := range c.Content.Categories {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d. %s：%s", i+1, cat.Name, cat.Hint)
	}
	return b.String()
}

func askCategory(c *Ctx, s *reportState) string {
	return content.Fill(c.Content.Report.AskCategory, "list", categoryList(c))
}

// matchCategory takes a number or a name, an alias, or a message that
// contains exactly one category's words.
func matchCategory(c *Ctx, answer string) (content.Category, bool) {
	w := Normalize(answer)
	w = strings.TrimSuffix(strings.TrimPrefix(w, "第"), "个")
	if n, err := strconv.Atoi(w); err == nil {
		if n >= 1 && n <= len(c.Content.Categories) {
			return c.Content.Categories[n-1], true
		}
		return content.Category{}, false
	}
	var found []content.Category
	for _, cat := range c.Content.Categories {
		names := append([]string{cat.Name}, cat.Aliases...)
		for _, name := range names {
			if w == Normalize(name) {
				return cat, true
			}
		}
		for _, name := range names {
			if utf8.RuneCountInString(name) >= 2 && strings.Contains(w, Normalize(name)) {
				found = append(found, cat)
				break
			}
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return content.Category{}, false
}

func handleCategory(c *Ctx, s *reportState, in Input) Result {
	cat, ok := matchCategory(c, text(in))
	if !ok {
		return Result{Hint: content.Fill(c.Content.Report.CategoryHint, "n", strconv.Itoa(len(c.Content.Categories)),
			"list", categoryList(c))}
	}
	if cat.ID != s.Category {
		s.DupChecked, s.Dup = false, nil
	}
	s.Category = cat.ID
	var say []string
	if cat.Urgent {
		s.Urgent = true
		if !s.DangerSaid {
			s.DangerSaid = true
			say = append(say, cat.Advice)
		}
	}
	return s.proceed(say...)
}

func askDescription(c *Ctx, s *reportState) string { return c.Content.Report.AskDescription }

func handleDescription(c *Ctx, s *reportState, in Input) Result {
	t := &c.Content.Report
	if in.Kind == KindVoice && text(in) == "" {
		return Result{Hint: t.DescriptionVoiceEmpty}
	}
	d := text(in)
	if (in.Kind != KindText && in.Kind != KindVoice) || utf8.RuneCountInString(d) < minDescription {
		return Result{Hint: content.Fill(t.DescriptionTooShort, "min", strconv.Itoa(minDescription))}
	}
	var say []string
	if advice, ok := c.Content.Danger.Advice(d); ok {
		s.Urgent = true
		if !s.DangerSaid {
			s.DangerSaid = true
			say = append(say, advice)
		}
	}
	if utf8.RuneCountInString(d) > maxDescription {
		d = truncate(d, maxDescription)
		say = append(say, content.Fill(t.DescriptionTruncated, "max", strconv.Itoa(maxDescription)))
	}
	s.Description = d
	return s.proceed(say...)
}

func askPhotos(c *Ctx, s *reportState) string {
	if len(s.Photos) > 0 {
		return content.Fill(c.Content.Report.PhotoAdded, "n", strconv.Itoa(len(s.Photos)), "max", strconv.Itoa(MaxPhotos))
	}
	return content.Fill(c.Content.Report.AskPhotos, "max", strconv.Itoa(MaxPhotos))
}

var doneWords = map[string]bool{"完成": true, "好了": true, "发完了": true, "没了": true, "跳过": true, "不拍": true,
	"没有": true, "没有照片": true, "不发": true, "不用": true, "下一步": true, "ok": true, "好": true}

func handlePhotos(c *Ctx, s *reportState, in Input) Result {
	switch {
	case in.Kind == KindImage:
		return s.proceedPhoto(c, in)
	case isLocation(in):
		s.PhotosDone = true
		return s.proceed(s.setLocation(c, in)...)
	case doneWords[Normalize(in.Text)]:
		s.PhotosDone = true
		return s.proceed()
	}
	return Result{Hint: c.Content.Report.PhotosHint}
}

// proceedPhoto adds a photo in the photos step: the flow stays there until
// the resident says they are done or the ninth arrives.
func (s *reportState) proceedPhoto(c *Ctx, in Input) Result {
	say := s.addPhoto(c, in)
	if s.PhotosDone {
		return s.proceed(say...)
	}
	return Result{Next: "photos"} // the question itself counts the photos
}

func askLocation(c *Ctx, s *reportState) string { return c.Content.Report.AskLocation }

func handleLocation(c *Ctx, s *reportState, in Input) Result {
	addr := text(in)
	if in.Kind == KindText && utf8.RuneCountInString(addr) >= minAddressLength && !doneWords[Normalize(addr)] {
		// A typed address: staff place it on the map when they verify.
		s.Address, s.LocationDone, s.HasLocation, s.Outside = truncate(addr, 120), true, false, false
		return s.proceed()
	}
	return Result{Hint: c.Content.Report.LocationHint}
}

func askOutside(c *Ctx, s *reportState) string {
	return content.Fill(c.Content.Report.LocationOutside, "address", s.Address)
}

func handleOutside(c *Ctx, s *reportState, in Input) Result {
	switch Normalize(in.Text) {
	case "保留", "继续", "就这个", "确定":
		s.Outside = false
		return s.proceed()
	case "重发", "重新发", "重新发送":
		s.LocationDone, s.HasLocation, s.Outside, s.Address = false, false, false, ""
		return s.proceed()
	}
	return Result{Hint: c.Content.Report.LocationOutsideHint}
}

func askContact(c *Ctx, s *reportState) string { return c.Content.Report.AskContact }

var mobile = regexp.MustCompile(`^1[3-9]\d{9}$`)

// parsePhone accepts a mainland mobile number with spaces, dashes or +86.
func parsePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '　' {
			return -1
		}
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "+86"), "0086")
	return s, mobile.MatchString(s)
}

func handleContact(c *Ctx, s *reportState, in Input) Result {
	switch Normalize(in.Text) {
	case "匿名", "不留", "不方便", "不用", "跳过", "不想留":
		s.Phone, s.ContactDone = "", true
		return s.proceed()
	}
	if p, ok := parsePhone(text(in)); ok {
		s.Phone, s.ContactDone = p, true
		return s.proceed()
	}
	return Result{Hint: c.Content.Report.ContactHint}
}

func askDuplicate(c *Ctx, s *reportState) string {
	d := s.Dup
	return content.Fill(c.Content.Report.DuplicateFound, "distance", strconv.Itoa(d.Distance), "ticket", d.Ticket,
		"status", d.Status, "description", truncate(d.Description, 40))
}

func handleDuplicate(c *Ctx, s *reportState, in Input) Result {
	switch Normalize(in.Text) {
	case "是", "是的", "对", "一样", "同一处", "是同一处":
		return Result{Done: true, Effects: []any{followDup{}}}
	case "不是", "不", "否", "不一样", "不是同一处", "新的":
		s.Dup.Answered = true
		return s.proceed()
	}
	return Result{Hint: c.Content.Report.DuplicateHint}
}

func askConfirm(c *Ctx, s *reportState) string {
	t := &c.Content.Report
	cat, _ := c.Content.CategoryByID(s.Category)
	photos := t.PhotosNone
	if len(s.Photos) > 0 {
		photos = content.Fill(t.PhotosCount, "n", strconv.Itoa(len(s.Photos)))
	}
	addr := s.Address
	if addr == "" {
		addr = t.AddressUnknown
	}
	contact := t.ContactAnonymous
	if s.Phone != "" {
		contact = s.Phone
	}
	return content.Fill(t.Summary, "category", cat.Name, "description", s.Description, "photos", photos,
		"address", addr, "contact", contact)
}

var ticketParts = regexp.MustCompile(`^YH-?(\d{8})-?(\d+)$`)

var editItem = regexp.MustCompile(`^(?:修改|改|更改)\s*(\d|类别|描述|照片|位置|地址|联系方式|手机号|电话)$`)

func handleConfirm(c *Ctx, s *reportState, in Input) Result {
	w := Normalize(in.Text)
	switch w {
	case "确认", "提交", "确定", "对", "是", "好", "没问题", "确认提交":
		return Result{Done: true, Effects: []any{submitReport{}}}
	}
	if m := editItem.FindStringSubmatch(w); m != nil {
		switch m[1] {
		case "1", "类别":
			s.Category, s.DupChecked, s.Dup = "", false, nil
		case "2", "描述":
			s.Description = ""
		case "3", "照片":
			s.Photos, s.PhotosDone = nil, false
		case "4", "位置", "地址":
			s.LocationDone, s.HasLocation, s.Address, s.Outside, s.DupChecked, s.Dup = false, false, "", false, false, nil
		case "5", "联系方式", "手机号", "电话":
			s.Phone, s.ContactDone = "", false
		default:
			return Result{Hint: c.Content.Report.ConfirmHint}
		}
		return s.proceed()
	}
	return Result{Hint: c.Content.Report.ConfirmHint}
}

// apply carries out the report flow's effects.
func (rf *ReportFlow) apply(c *Ctx, s *reportState, effect any) ([]string, error) {
	t := &c.Content.Report
	switch effect.(type) {
	case checkAllowed:
		blocked, err := rf.Store.Blocked(c, c.OpenID)
		if err != nil {
			return nil, err
		}
		if blocked {
			s.Refused = true
			return []string{c.Content.Messages.Blocked}, nil
		}
		n, err := rf.Store.CountReportsSince(c, c.OpenID, hazardbot.StartOfDay(c.Now))
		if err != nil {
			return nil, err
		}
		if n >= rf.DailyCap {
			s.Refused = true
			return []string{content.Fill(t.DailyCap, "cap", strconv.Itoa(rf.DailyCap))}, nil
		}
	case lookupDup:
		s.DupChecked = true
		near, err := rf.Store.NearbyOpen(c, s.Category, s.Lat, s.Lng, duplicateRadius, c.Now.Add(-duplicateWindow))
		if err != nil {
			return nil, err
		}
		for _, r := range near {
			if r.OpenID == c.OpenID {
				continue // their own earlier report is not a duplicate to follow
			}
			s.Dup = &dupInfo{ID: r.ID, Ticket: r.Ticket, Status: r.Status.Name(), Description: r.Description,
				Distance: int(hazardbot.Distance(s.Lat, s.Lng, r.Lat, r.Lng) + 0.5)}
			break
		}
	case followDup:
		if _, err := rf.Store.FollowReport(c, s.Dup.ID, c.OpenID, c.Now); err != nil {
			return nil, err
		}
		return []string{content.Fill(t.Followed, "ticket", s.Dup.Ticket)}, nil
	case submitReport:
		r := &hazardbot.Report{OpenID: c.OpenID, Category: s.Category, Description: s.Description,
			HasLocation: s.HasLocation, Lat: s.Lat, Lng: s.Lng, Address: s.Address, CommunityID: s.Community,
			GridID: s.Grid, Phone: s.Phone, Anonymous: s.Phone == "", Urgent: s.Urgent}
		for _, p := range s.Photos {
			r.Photos = append(r.Photos, hazardbot.Photo{MediaID: p.MediaID, PicURL: p.PicURL})
		}
		if err := rf.Store.SubmitReport(c, r, s.Key, c.Now); err != nil {
			return nil, err
		}
		when := t.SubmittedWhen
		if s.Urgent {
			when = t.SubmittedWhenUrgent
		}
		return []string{content.Fill(t.Submitted, "ticket", r.Ticket, "when", when)}, nil
	default:
		return nil, fmt.Errorf("dialogs: report: unknown effect %T", effect)
	}
	return nil, nil
}

// myReports lists the resident's reports and those they follow.
func (rf *ReportFlow) myReports(c *Ctx, in Input) ([]string, error) {
	t := &c.Content.Report
	reports, err := rf.Store.ReportsFor(c, c.OpenID, 10)
	if err != nil {
		return nil, err
	}
	if len(reports) == 0 {
		return []string{t.MyReportsEmpty}, nil
	}
	lines := []string{t.MyReportsHeader}
	for _, r := range reports {
		cat, _ := c.Content.CategoryByID(r.Category)
		lines = append(lines, content.Fill(t.MyReportsItem, "ticket", r.Ticket, "category", cat.Name,
			"status", r.Status.Name(), "date", r.CreatedAt.In(hazardbot.Shanghai).Format("1月2日")))
	}
	lines = append(lines, content.Fill(t.MyReportsFooter, "ticket", reports[0].Ticket))
	return []string{strings.Join(lines, "\n")}, nil
}

// timeline shows a ticket's public history. Any resident may look a ticket
// up: the timeline carries no one's identity.
func (rf *ReportFlow) timeline(c *Ctx, in Input) ([]string, error) {
	t := &c.Content.Report
	raw := strings.ToUpper(hazardbot.TicketPattern.FindString(in.Text))
	ticket := raw
	if m := ticketParts.FindStringSubmatch(raw); m != nil {
		ticket = "YH-" + m[1] + "-" + m[2]
	}
	r, err := rf.Store.ReportByTicket(c, ticket)
	if errors.Is(err, hazardbot.ErrNotFound) {
		return []string{content.Fill(t.TicketNotFound, "ticket", ticket)}, nil
	}
	if err != nil {
		return nil, err
	}
	events, err := rf.Store.Timeline(c, r.ID, true)
	if err != nil {
		return nil, err
	}
	cat, _ := c.Content.CategoryByID(r.Category)
	lines := []string{content.Fill(t.TimelineHeader, "ticket", r.Ticket, "category", cat.Name, "status", r.Status.Name())}
	for _, e := range events {
		note := ""
		if e.Note != "" {
			note = "：" + e.Note
		}
		lines = append(lines, content.Fill(t.TimelineItem, "time", e.At.In(hazardbot.Shanghai).Format("01-02 15:04"),
			"status", e.To.Name(), "note", note))
	}
	return []string{strings.Join(lines, "\n")}, nil
}
