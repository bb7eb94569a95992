// Package console is the staff web console: login, the dashboard, the case
// list and detail with the lifecycle's actions, the four-colour risk map,
// the hazard ledger export, user management and binding a staff member's
// WeChat account; and the background work that goes with it (overdue
// marking and the daily digest to staff).
//
// Pages are server-rendered with html/template and carry their CSS inline:
// no build step, no script, no external resource, so it works on an office
// intranet with no internet. Every handler returns an error; one adapter
// (fail) turns errors into pages and status codes.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/rewards"
	"hazardbot/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

// Messenger is the part of the WeChat client the digest needs.
type Messenger interface {
	SendText(ctx context.Context, openid, text string) error
	SendTemplate(ctx context.Context, openid, templateID, link string, fields map[string]string) (int64, error)
}

// Options are the console's dependencies and settings.
type Options struct {
	Store     *storage.Store
	Sessions  storage.Sessions // counters for the bind rate limit
	Content   func() *content.Content
	Lifecycle hazardbot.Lifecycle
	DataDir   string // where report photos are, and rectification photos go
	Now       func() time.Time
	Log       *slog.Logger
	// Kick wakes the job worker so residents' notifications leave at once.
	Kick func()
	// PublicURL is where staff reach the server (HAZARDBOT_PUBLIC_URL); an
	// https URL makes cookies Secure even behind a proxy that drops
	// X-Forwarded-Proto.
	PublicURL string

	// The digest's delivery: a customer-service text inside the 48-hour
	// window, otherwise the template (when set).
	WeChat         Messenger
	Undeliverable  func(error) bool // WeChat refused for good (not following, out of window …)
	DigestTemplate string           // WECHAT_TEMPLATE_DIGEST
	DigestFields   map[string]string
	// DigestAt is the Shanghai time of day from which the daily digest goes
	// out (default 08:30).
	DigestAt time.Duration
	// PasswordCost is the bcrypt cost of passwords set in the console
	// (default BcryptCost); tests lower it.
	PasswordCost int

	// Rewards applies the points rules on the volunteer, patrol, rewards
	// and points pages (volunteers.go, rewards.go); nil tells residents nothing.
	Rewards *rewards.Service
}

// Console serves /console/.
type Console struct {
	Options
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// Session rules.
const (
	IdleTimeout     = 8 * time.Hour  // a session unused this long ends
	MaxSessionAge   = 24 * time.Hour // and none lasts longer than this
	MaxLoginFailure = 5              // wrong passwords in a row before a lockout
	LockoutFor      = 15 * time.Minute
	sessionCookie   = "hb_console"
	loginCookie     = "hb_login"
	perPage         = 20
)

// New builds the console.
func New(o Options) (*Console, error) {
	if o.Store == nil || o.Content == nil {
		return nil, errors.New("console: Store and Content are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Kick == nil {
		o.Kick = func() {}
	}
	if o.Undeliverable == nil {
		o.Undeliverable = func(error) bool { return false }
	}
	if o.DigestAt == 0 {
		o.DigestAt = 8*time.Hour + 30*time.Minute
	}
	c := &Console{Options: o, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(c.funcs()).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", base, err)
		}
		c.pages[strings.TrimSuffix(base, ".html")] = t
	}
	c.routes()
	return c, nil
}

// ServeHTTP serves the console's routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script runs on any page, so a stored script cannot either.
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// Roles that may use a route.
var (
	anyone     = hazardbot.Roles
	workers    = []hazardbot.Role{hazardbot.RoleAdmin, hazardbot.RoleStreet, hazardbot.RoleCommunity}
	supervisor = []hazardbot.Role{hazardbot.RoleAdmin, hazardbot.RoleStreet}
	adminOnly  = []hazardbot.Role{hazardbot.RoleAdmin}
)

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /console/login", c.open(c.loginPage))
	m.HandleFunc("POST /console/login", c.open(c.login))
	m.HandleFunc("POST /console/logout", c.auth(anyone, c.logout))
	m.HandleFunc("GET /console/{$}", c.auth(anyone, c.dashboard))
	m.HandleFunc("GET /console/cases", c.auth(anyone, c.caseList))
	m.HandleFunc("GET /console/cases/{ticket}", c.auth(anyone, c.caseDetail))
	m.HandleFunc("POST /console/cases/{ticket}/reporter", c.auth(supervisor, c.revealReporter))
	m.HandleFunc("POST /console/cases/{ticket}/{action}", c.auth(workers, c.caseAction))
	m.HandleFunc("GET /console/photos/{id}", c.auth(anyone, c.reportPhoto))
	m.HandleFunc("GET /console/rectification-photos/{id}", c.auth(anyone, c.rectificationPhoto))
	m.HandleFunc("GET /console/map", c.auth(anyone, c.riskMap))
	m.HandleFunc("GET /console/export.xlsx", c.auth(anyone, c.export))
	m.HandleFunc("GET /console/users", c.auth(adminOnly, c.users))
	m.HandleFunc("POST /console/users", c.auth(adminOnly, c.createUser))
	m.HandleFunc("POST /console/users/{id}/{op}", c.auth(adminOnly, c.userOp))
	m.HandleFunc("GET /console/account", c.auth(anyone, c.account))
	m.HandleFunc("POST /console/account/bind", c.auth(anyone, c.bindCode))
	m.HandleFunc("POST /console/account/password", c.auth(anyone, c.changePassword))
	c.pointsRoutes(m)
	m.HandleFunc("/console/", c.open(func(w http.ResponseWriter, r *request) error { return errNotFound }))
	c.mux = m
}

// request is an HTTP request with who made it.
type request struct {
	*http.Request
	staff     storage.Staff
	csrf      string
	tokenHash string
	now       time.Time
	expired   bool // the session cookie named a session that timed out
}

func (r *request) actor() hazardbot.Actor { return r.staff.Actor() }

type handler func(w http.ResponseWriter, r *request) error

// httpError is an error with the status and the sentence staff see.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

var (
	errNotFound  = &httpError{http.StatusNotFound, "没有找到这个页面或工单。"}
	errForbidden = &httpError{http.StatusForbidden, "您的账号没有权限进行这项操作。"}
	errCSRF      = &httpError{http.StatusForbidden, "页面已失效（安全校验未通过），请返回刷新后重试。"}
)

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// open serves a route that needs no login.
func (c *Console) open(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &request{Request: r, now: c.Now().UTC()}
		if err := h(w, req); err != nil {
			c.fail(w, req, err)
		}
	}
}

// auth serves a route for logged-in staff of the given roles: anonymous
// visitors go to the login page, other roles get 403, and a POST must carry
// the session's CSRF token.
func (c *Console) auth(roles []hazardbot.Role, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &request{Request: r, now: c.Now().UTC()}
		ok, err := c.session(w, req)
		if err != nil {
			c.fail(w, req, err)
			return
		}
		if !ok {
			c.toLogin(w, req)
			return
		}
		if !roleIn(req.staff.Role, roles) {
			c.fail(w, req, errForbidden)
			return
		}
		if r.Method == http.MethodPost {
			limit := int64(1 << 20)
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
				limit = hazardbot.MaxPhotos*maxPhotoBytes + 1<<20
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if !sameToken(r.FormValue("csrf"), req.csrf) {
				c.fail(w, req, errCSRF)
				return
			}
		}
		if err := h(w, req); err != nil {
			c.fail(w, req, err)
		}
	}
}

func roleIn(r hazardbot.Role, roles []hazardbot.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// fail is the one place errors become responses: staff read a sentence,
// the log gets the cause once.
func (c *Console) fail(w http.ResponseWriter, r *request, err error) {
	var he *httpError
	var ce *hazardbot.CaseError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, storage.ErrNotFound):
		he = errNotFound
	case errors.As(err, &ce):
		he = &httpError{caseStatus(ce), ce.Msg}
	case errors.As(err, &mbe):
		he = &httpError{http.StatusRequestEntityTooLarge, "上传的内容太大了。"}
	case errors.Is(err, context.Canceled):
		return
	default:
		c.Log.Error("console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "系统出错了，请稍后再试；如果一直出错，请联系系统管理员。"}
	}
	c.render(w, r, he.status, "error", "出错了", errorPage{Status: he.status, Message: he.msg})
}

func caseStatus(ce *hazardbot.CaseError) int {
	switch {
	case errors.Is(ce, hazardbot.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(ce, hazardbot.ErrInvalid):
		return http.StatusUnprocessableEntity
	}
	return http.StatusConflict
}

type errorPage struct {
	Status  int
	Message string
}

// view is what every page template gets.
type view struct {
	Title string
	Site  string
	Nav   string
	Me    *storage.Staff
	CSRF  string
	Body  any
}

func (c *Console) render(w http.ResponseWriter, r *request, status int, page, title string, body any) {
	t, ok := c.pages[page]
	if !ok {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Site: c.Content().Staff.ConsoleTitle, Nav: page, CSRF: r.csrf, Body: body}
	if r.staff.ID != 0 {
		v.Me = &r.staff
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		c.Log.Error("console: render", "page", page, "err", err)
		http.Error(w, "页面渲染出错", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (c *Console) communityName(id string) string {
	if g := c.Content().Grids; g != nil {
		for _, cm := range g.Communities() {
			if cm.ID == id {
				return cm.Name
			}
		}
	}
	if id == "" {
		return "未定位"
	}
	return id
}

func (c *Console) gridName(id string) string {
	if g := c.Content().Grids; g != nil {
		for _, gr := range g.List {
			if gr.ID == id {
				return gr.Name
			}
		}
	}
	return id
}

func (c *Console) categoryName(id string) string {
	if cat, ok := c.Content().CategoryByID(id); ok {
		return cat.Name
	}
	return id
}

func shanghai(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(hazardbot.Shanghai).Format("2006-01-02 15:04")
}

// MaskPhone shows the first three and last four digits: 139****5678.
func MaskPhone(p string) string {
	r := []rune(p)
	if len(r) < 8 {
		if len(r) == 0 {
			return ""
		}
		return "****"
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"time":      shanghai,
		"status":    func(s hazardbot.Status) string { return s.Name() },
		"riskName":  func(r string) string { return hazardbot.Risk(r).Name() },
		"riskLabel": func(r string) string { return hazardbot.Risk(r).Label() },
		"riskColor": func(r string) string { return hazardbot.Risk(r).Colour() },
		"category":  c.categoryName,
		"community": c.communityName,
		"grid":      c.gridName,
		"mask":      MaskPhone,
		"roleName":  func(r hazardbot.Role) string { return r.Name() },
		"actor": func(a string) string {
			switch {
			case a == "resident":
				return "居民上报"
			case a == "system":
				return "系统"
			}
			return strings.TrimPrefix(a, "staff:")
		},
		"actName": func(a hazardbot.Action) string { return a.Name() },
		"hours": func(d time.Duration) string {
			if d <= 0 {
				return "—"
			}
			if d < 48*time.Hour {
				return fmt.Sprintf("%.1f 小时", d.Hours())
			}
			return fmt.Sprintf("%.1f 天", d.Hours()/24)
		},
	}
}
