package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/storage"
)

// filters are the case list's query, as typed in the URL.
type filters struct {
	Status, Category, Community, Risk string
	Overdue, Urgent, Supervised       bool
	From, To                          string // 2006-01-02, Shanghai
	Q                                 string
	Sort, Dir                         string
	Page                              int
}

func parseFilters(v url.Values) filters {
	f := filters{Status: v.Get("status"), Category: v.Get("category"), Community: v.Get("community"), Risk: v.Get("risk"),
		Overdue: v.Get("overdue") == "1", Urgent: v.Get("urgent") == "1", Supervised: v.Get("supervised") == "1",
		From: v.Get("from"), To: v.Get("to"), Q: strings.TrimSpace(v.Get("q")), Sort: v.Get("sort"), Dir: v.Get("dir")}
	if _, ok := storage.CaseSorts[f.Sort]; !ok {
		f.Sort = ""
	}
	if f.Dir != "asc" {
		f.Dir = ""
	}
	f.Page, _ = strconv.Atoi(v.Get("page"))
	f.Page = max(f.Page, 1)
	return f
}

// values writes the filters back as a query, without the page.
func (f filters) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	flag := func(k string, b bool) {
		if b {
			v.Set(k, "1")
		}
	}
	set("status", f.Status)
	set("category", f.Category)
	set("community", f.Community)
	set("risk", f.Risk)
	flag("overdue", f.Overdue)
	flag("urgent", f.Urgent)
	flag("supervised", f.Supervised)
	set("from", f.From)
	set("to", f.To)
	set("q", f.Q)
	set("sort", f.Sort)
	set("dir", f.Dir)
	return v
}

// query turns the filters into a storage query for this staff member:
// community staff only ever get their own community's cases.
func (f filters) query(a hazardbot.Actor) (storage.CaseQuery, error) {
	q := storage.CaseQuery{Category: f.Category, Community: f.Community, Risk: hazardbot.Risk(f.Risk),
		Overdue: f.Overdue, Urgent: f.Urgent, Supervised: f.Supervised, Text: f.Q, Sort: f.Sort, Asc: f.Dir == "asc",
		Offset: (f.Page - 1) * perPage, Limit: perPage}
	if a.Role == hazardbot.RoleCommunity {
		q.Scope = a.CommunityID
	}
	switch f.Status {
	case "":
	case "open":
		q.Statuses = []hazardbot.Status{hazardbot.StatusPending, hazardbot.StatusVerified, hazardbot.StatusAssigned,
			hazardbot.StatusFixing, hazardbot.StatusReview}
	default:
		q.Statuses = []hazardbot.Status{hazardbot.Status(f.Status)}
	}
	day := func(s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.ParseInLocation("2006-01-02", s, hazardbot.Shanghai)
		if err != nil {
			return t, badRequest("日期“%s”的格式不对，请写成 2025-03-14。", s)
		}
		return t, nil
	}
	var err error
	if q.From, err = day(f.From); err != nil {
		return q, err
	}
	if q.To, err = day(f.To); err != nil {
		return q, err
	}
	if !q.To.IsZero() {
		q.To = q.To.AddDate(0, 0, 1) // the "to" day is included
	}
	return q, nil
}

type option struct{ Value, Label string }

type caseRow struct {
	hazardbot.Case
	Phone string // masked
}

type listView struct {
	F                                          filters
	Rows                                       []caseRow
	Total, Page, Pages                         int
	PrevURL, NextURL, ExportURL                string
	SortURLs                                   map[string]string
	Statuses, Categories, Communities, RiskOpt []option
	Scoped                                     bool
}

func (c *Console) options(a hazardbot.Actor) (statuses, categories, communities, risks []option) {
	statuses = []option{{"open", "全部在办"}}
	for _, s := range []hazardbot.Status{hazardbot.StatusPending, hazardbot.StatusVerified, hazardbot.StatusAssigned,
		hazardbot.StatusFixing, hazardbot.StatusReview, hazardbot.StatusClosed, hazardbot.StatusRejected, hazardbot.StatusDuplicate} {
		statuses = append(statuses, option{string(s), s.Name()})
	}
	for _, cat := range c.Content().Categories {
		categories = append(categories, option{cat.ID, cat.Name})
	}
	if g := c.Content().Grids; g != nil {
		for _, cm := range g.Communities() {
			if a.Role != hazardbot.RoleCommunity || cm.ID == a.CommunityID {
				communities = append(communities, option{cm.ID, cm.Name})
			}
		}
	}
	for _, r := range hazardbot.Risks {
		risks = append(risks, option{string(r), r.Name() + "（" + r.Label() + "）"})
	}
	return
}

func (c *Console) caseList(w http.ResponseWriter, r *request) error {
	f := parseFilters(r.URL.Query())
	q, err := f.query(r.actor())
	if err != nil {
		return err
	}
	cases, total, err := c.Store.Cases(r.Context(), q)
	if err != nil {
		return err
	}
	v := listView{F: f, Total: total, Page: f.Page, Pages: max(1, (total+perPage-1)/perPage),
		Scoped: r.staff.Role == hazardbot.RoleCommunity, SortURLs: map[string]string{}}
	v.Statuses, v.Categories, v.Communities, v.RiskOpt = c.options(r.actor())
	for _, cs := range cases {
		v.Rows = append(v.Rows, caseRow{Case: cs, Phone: MaskPhone(cs.Phone)})
	}
	base := f.values()
	link := func(page int) string {
		q := url.Values{}
		for k, vs := range base {
			q[k] = vs
		}
		if page > 1 {
			q.Set("page", strconv.Itoa(page))
		}
		return "/console/cases?" + q.Encode()
	}
	if f.Page > 1 {
		v.PrevURL = link(f.Page - 1)
	}
	if f.Page < v.Pages {
		v.NextURL = link(f.Page + 1)
	}
	v.ExportURL = "/console/export.xlsx?" + base.Encode()
	for key := range storage.CaseSorts {
		q := url.Values{}
		for k, vs := range base {
			q[k] = vs
		}
		q.Set("sort", key)
		q.Del("dir")
		if f.Sort == key && f.Dir == "" {
			q.Set("dir", "asc")
		}
		v.SortURLs[key] = "/console/cases?" + q.Encode()
	}
	c.render(w, r, http.StatusOK, "cases", "工单", v)
	return nil
}

// loadCase finds a case this staff member may see; others' cases are "not
// found" so that community staff cannot probe other communities' tickets.
func (c *Console) loadCase(r *request) (hazardbot.Case, error) {
	cs, err := c.Store.CaseByTicket(r.Context(), r.PathValue("ticket"))
	if err != nil {
		return cs, err
	}
	if !r.actor().Sees(cs) {
		return cs, errNotFound
	}
	return cs, nil
}

type assigneeOption struct {
	Value, Label string
}

type detailView struct {
	Case            hazardbot.Case
	Phone           string // masked
	Identity        *identity
	CanReveal       bool
	Timeline        []hazardbot.Event
	RectPhotos      []storage.CasePhoto
	Actions         []hazardbot.Action
	Map             *svgMap
	Categories      []option
	Risks           []option
	Assignees       []assigneeOption
	Deadlines       []string
	Done            string
	Error           string
	Community, Grid string
}

type identity struct {
	OpenID, Phone string
	Anonymous     bool
}

func (c *Console) caseDetail(w http.ResponseWriter, r *request) error {
	cs, err := c.loadCase(r)
	if err != nil {
		return err
	}
	v, err := c.detail(r, cs)
	if err != nil {
		return err
	}
	if a := hazardbot.Action(r.URL.Query().Get("done")); a != "" {
		v.Done = "已完成：" + a.Name()
	}
	c.render(w, r, http.StatusOK, "case", cs.Ticket, v)
	return nil
}

func (c *Console) detail(r *request, cs hazardbot.Case) (detailView, error) {
	ctx := r.Context()
	v := detailView{Case: cs, Phone: MaskPhone(cs.Phone), CanReveal: r.actor().SeesIdentity(),
		Actions: c.Lifecycle.Allowed(cs, r.actor()), Community: c.communityName(cs.CommunityID), Grid: c.gridName(cs.GridID)}
	var err error
	if v.Timeline, err = c.Store.Timeline(ctx, cs.ID, false); err != nil {
		return v, err
	}
	if v.RectPhotos, err = c.Store.CasePhotos(ctx, cs.ID); err != nil {
		return v, err
	}
	_, v.Categories, _, v.Risks = c.options(r.actor())
	if g := c.Content().Grids; g != nil {
		for _, cm := range g.Communities() {
			v.Assignees = append(v.Assignees, assigneeOption{"community:" + cm.ID, cm.Name})
			for _, id := range cm.Grids {
				v.Assignees = append(v.Assignees, assigneeOption{"grid:" + id, "　" + c.gridName(id)})
			}
		}
		v.Map = c.caseMap(g, cs)
	}
	for _, risk := range hazardbot.Risks {
		d := c.Lifecycle.Deadlines[risk]
		if d == 0 {
			d = hazardbot.DefaultDeadlines[risk]
		}
		span := fmt.Sprintf("%d小时", int(d.Hours()))
		if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
			span = fmt.Sprintf("%d天", int(d.Hours()/24))
		}
		v.Deadlines = append(v.Deadlines, risk.Name()+span)
	}
	return v, nil
}

// revealReporter shows admins and street staff who reported, and audits
// that they looked.
func (c *Console) revealReporter(w http.ResponseWriter, r *request) error {
	cs, err := c.loadCase(r)
	if err != nil {
		return err
	}
	if err := c.Store.AppendAudit(r.Context(), storage.AuditEntry{At: r.now, Actor: r.actor().Label(),
		Action: "case.view_identity", SubjectType: "report", SubjectID: fmt.Sprint(cs.ID), Detail: cs.Ticket}); err != nil {
		return err
	}
	v, err := c.detail(r, cs)
	if err != nil {
		return err
	}
	v.Identity = &identity{OpenID: cs.OpenID, Phone: cs.Phone, Anonymous: cs.Anonymous}
	c.render(w, r, http.StatusOK, "case", cs.Ticket, v)
	return nil
}

const maxPhotoBytes = 10 << 20

func (c *Console) caseAction(w http.ResponseWriter, r *request) error {
	cs, err := c.loadCase(r)
	if err != nil {
		return err
	}
	in := hazardbot.ActionInput{
		Action: hazardbot.Action(r.PathValue("action")), Seen: hazardbot.Status(r.FormValue("seen")),
		Category: r.FormValue("category"), Reason: r.FormValue("reason"), Note: r.FormValue("note"),
		Target: r.FormValue("target"), SupervisingUnit: r.FormValue("unit"),
	}
	if in.Action == hazardbot.ActVerify {
		if risk, ok := hazardbot.ParseRisk(r.FormValue("risk")); ok {
			in.Risk = risk
		}
		if _, ok := c.Content().CategoryByID(in.Category); !ok {
			in.Category = ""
		}
	}
	if in.Action == hazardbot.ActAssign {
		c.assignee(&in, r.FormValue("assignee"), r.FormValue("department"))
	}
	var files []*multipart.FileHeader
	if r.MultipartForm != nil {
		files = r.MultipartForm.File["photos"]
	}
	in.Photos = len(files)
	t, err := c.Lifecycle.Plan(cs, r.actor(), in, r.now)
	if err != nil {
		return c.refused(w, r, cs, err)
	}
	var photos []storage.CasePhoto
	if in.Action == hazardbot.ActSubmit {
		for _, fh := range files {
			p, err := c.savePhoto(cs, fh)
			if err != nil {
				return c.refused(w, r, cs, err)
			}
			photos = append(photos, p)
		}
	}
	if _, err := c.Store.ApplyTransition(r.Context(), t, photos); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			err = &hazardbot.CaseError{Kind: hazardbot.ErrStale, Msg: "工单 " + cs.Ticket + " 刚刚已被他人处理，以下是最新状态，请确认后再操作。"}
		}
		return c.refused(w, r, cs, err)
	}
	c.Kick()
	http.Redirect(w, r.Request, "/console/cases/"+url.PathEscape(cs.Ticket)+"?done="+url.QueryEscape(string(in.Action)), http.StatusSeeOther)
	return nil
}

// refused shows the case again, as it now is, with why the action was not
// taken; other errors go to the adapter.
func (c *Console) refused(w http.ResponseWriter, r *request, cs hazardbot.Case, err error) error {
	var ce *hazardbot.CaseError
	if !errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, hazardbot.ErrForbidden) {
		return err
	}
	fresh, ferr := c.Store.Case(r.Context(), cs.ID)
	if ferr != nil {
		return ferr
	}
	v, derr := c.detail(r, fresh)
	if derr != nil {
		return derr
	}
	v.Error = ce.Msg
	c.render(w, r, caseStatus(ce), "case", cs.Ticket, v)
	return nil
}

func (c *Console) assignee(in *hazardbot.ActionInput, choice, department string) {
	kind, id, _ := strings.Cut(choice, ":")
	g := c.Content().Grids
	switch {
	case kind == "department":
		in.AssigneeType, in.AssigneeName = hazardbot.AssignDepartment, department
	case kind == hazardbot.AssignCommunity && g != nil:
		for _, cm := range g.Communities() {
			if cm.ID == id {
				in.AssigneeType, in.AssigneeID, in.AssigneeName, in.AssigneeCommunity = kind, id, cm.Name, id
			}
		}
	case kind == hazardbot.AssignGrid && g != nil:
		for _, gr := range g.List {
			if gr.ID == id {
				in.AssigneeType, in.AssigneeID, in.AssigneeName, in.AssigneeCommunity = kind, id, gr.Name, gr.CommunityID
			}
		}
	}
}

// savePhoto stores an uploaded rectification photo under the data
// directory, named by its hash; only JPEG and PNG are kept.
func (c *Console) savePhoto(cs hazardbot.Case, fh *multipart.FileHeader) (storage.CasePhoto, error) {
	bad := &hazardbot.CaseError{Kind: hazardbot.ErrInvalid, Msg: "整改照片只能是 JPG 或 PNG 图片，每张不超过10MB"}
	if fh.Size > maxPhotoBytes {
		return storage.CasePhoto{}, bad
	}
	f, err := fh.Open()
	if err != nil {
		return storage.CasePhoto{}, fmt.Errorf("console: open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPhotoBytes+1))
	if err != nil {
		return storage.CasePhoto{}, fmt.Errorf("console: read upload: %w", err)
	}
	mime := http.DetectContentType(data)
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png"}[mime]
	if ext == "" || len(data) > maxPhotoBytes {
		return storage.CasePhoto{}, bad
	}
	sum := sha256.Sum256(data)
	rel := path.Join("rectification", strconv.FormatInt(cs.ID, 10), hex.EncodeToString(sum[:])+ext)
	full := filepath.Join(c.DataDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		return storage.CasePhoto{}, fmt.Errorf("console: save photo: %w", err)
	}
	tmp := full + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return storage.CasePhoto{}, fmt.Errorf("console: save photo: %w", err)
	}
	if err := os.Rename(tmp, full); err != nil {
		return storage.CasePhoto{}, fmt.Errorf("console: save photo: %w", err)
	}
	return storage.CasePhoto{Path: rel, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), MIME: mime}, nil
}

// reportPhoto serves a resident's photo to staff who may see its case.
func (c *Console) reportPhoto(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	p, err := c.Store.Photo(r.Context(), id)
	if err != nil {
		return err
	}
	if err := c.mayView(r, p.ReportID); err != nil {
		return err
	}
	if p.Status != hazardbot.PhotoStored || p.Path == "" {
		return errNotFound
	}
	return c.serveFile(w, r, p.Path)
}

func (c *Console) rectificationPhoto(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	p, err := c.Store.CasePhotoByID(r.Context(), id)
	if err != nil {
		return err
	}
	if err := c.mayView(r, p.ReportID); err != nil {
		return err
	}
	return c.serveFile(w, r, p.Path)
}

func (c *Console) mayView(r *request, reportID int64) error {
	cs, err := c.Store.Case(r.Context(), reportID)
	if err != nil {
		return err
	}
	if !r.actor().Sees(cs) {
		return errNotFound
	}
	return nil
}

// serveFile serves a file under the data directory; os.Root refuses any
// path that would leave it.
func (c *Console) serveFile(w http.ResponseWriter, r *request, rel string) error {
	root, err := os.OpenRoot(c.DataDir)
	if err != nil {
		return fmt.Errorf("console: open data directory: %w", err)
	}
	defer root.Close()
	data, err := root.ReadFile(filepath.FromSlash(rel))
	if errors.Is(err, os.ErrNotExist) {
		return errNotFound
	}
	if err != nil {
		return fmt.Errorf("console: read photo: %w", err)
	}
	mime := http.DetectContentType(data)
	if !strings.HasPrefix(mime, "image/") {
		mime = "application/octet-stream"
	}
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	http.ServeContent(w, r.Request, "", time.Time{}, bytes.NewReader(data))
	return nil
}
