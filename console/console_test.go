package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/crypto/bcrypt"

	"hazardbot"
	"hazardbot/console"
	"hazardbot/content"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

const password = "Tianshui2025x"

// env is a console over a real SQLite store, with a clock.
type env struct {
	t     *testing.T
	st    *storage.Store
	clock *storagetest.Clock
	c     *console.Console
	srv   *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, st: storagetest.OpenSQLite(t), clock: storagetest.NewClock(storagetest.Epoch)}
	cont := content.MustLoadEmbedded()
	c, err := console.New(console.Options{Store: e.st, Content: func() *content.Content { return cont },
		DataDir: t.TempDir(), Now: e.clock.Now, PasswordCost: bcrypt.MinCost})
	storagetest.Must(t, err)
	e.c = c
	e.srv = httptest.NewServer(c)
	t.Cleanup(e.srv.Close)
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost) // fast in tests
	for _, s := range []storage.Staff{
		{Username: "admin", Role: hazardbot.RoleAdmin},
		{Username: "jiedao", Name: "街道 王五", Role: hazardbot.RoleStreet},
		{Username: "donghu", Name: "东湖 李四", Role: hazardbot.RoleCommunity, CommunityID: "c1"},
		{Username: "xiyuan", Role: hazardbot.RoleCommunity, CommunityID: "c2"},
		{Username: "kan", Role: hazardbot.RoleViewer},
	} {
		s.PasswordHash = hash
		_, err := e.st.CreateStaff(context.Background(), s, e.clock.Now())
		storagetest.Must(t, err)
	}
	return e
}

// report files a report in community c1 (or another) as the chat would.
func (e *env) report(openid, desc, community string) hazardbot.Case {
	e.t.Helper()
	r := &hazardbot.Report{OpenID: openid, Category: "fire", Description: desc, HasLocation: true, Lat: 36.065, Lng: 103.848,
		Address: "东湖路18号", CommunityID: community, GridID: community + "-g1", Phone: "13912345678"}
	storagetest.Must(e.t, e.st.SubmitReport(context.Background(), r, "k-"+openid+desc, e.clock.Now()))
	c, err := e.st.Case(context.Background(), r.ID)
	storagetest.Must(e.t, err)
	return c
}

// browser is one staff member's browser: a cookie jar, no redirects
// followed, so tests see them.
type browser struct {
	e    *env
	hc   *http.Client
	csrf string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), header: resp.Header}
	if m := csrfField.FindStringSubmatch(p.body); m != nil {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// form is a POST with the browser's current CSRF token.
func (b *browser) form(path string, kv ...string) page {
	b.e.t.Helper()
	v := url.Values{"csrf": {b.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return b.post(path, v)
}

func (b *browser) login(username, pw string) page {
	b.e.t.Helper()
	b.get("/console/login")
	return b.post("/console/login", url.Values{"csrf": {b.csrf}, "username": {username}, "password": {pw}})
}

func (e *env) as(username string) *browser {
	e.t.Helper()
	b := e.browser()
	if p := b.login(username, password); p.status != http.StatusSeeOther || p.location != "/console/" {
		e.t.Fatalf("login %s: %d %q %s", username, p.status, p.location, p.body)
	}
	b.get("/console/") // picks up the session's CSRF token
	return b
}

func want(t *testing.T, p page, status int, contains ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d; location %q; body:\n%s", p.status, status, p.location, p.body)
	}
	for _, s := range contains {
		if !strings.Contains(p.body, s) {
			t.Fatalf("page does not contain %q:\n%s", s, p.body)
		}
	}
}

func TestEveryRouteRefusesAnonymousUsers(t *testing.T) {
	e := newEnv(t)
	c := e.report("o-anon", "楼道堆满纸箱", "c1")
	b := e.browser()
	for _, r := range []struct{ method, path string }{
		{"GET", "/console/"}, {"GET", "/console/cases"}, {"GET", "/console/cases/" + c.Ticket}, {"GET", "/console/map"},
		{"GET", "/console/export.xlsx"}, {"GET", "/console/users"}, {"GET", "/console/account"}, {"GET", "/console/photos/1"},
		{"GET", "/console/rectification-photos/1"}, {"POST", "/console/logout"}, {"POST", "/console/cases/" + c.Ticket + "/verify"},
		{"POST", "/console/cases/" + c.Ticket + "/reporter"}, {"POST", "/console/users"}, {"POST", "/console/users/1/disable"},
		{"POST", "/console/account/bind"}, {"POST", "/console/account/password"},
	} {
		req, _ := http.NewRequest(r.method, e.srv.URL+r.path, strings.NewReader("csrf=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p := b.do(req)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/console/login") {
			t.Errorf("%s %s: %d → %q, want a redirect to the login page", r.method, r.path, p.status, p.location)
		}
	}
	if p := b.get("/console/cases?status=open"); p.location != "/console/login?next=%2Fconsole%2Fcases%3Fstatus%3Dopen" {
		t.Errorf("next: %q", p.location)
	}
	if got, _ := e.st.Case(context.Background(), c.ID); got.Status != hazardbot.StatusPending {
		t.Fatalf("an anonymous POST changed the case: %s", got.Status)
	}
}

func TestWrongRoleGets403(t *testing.T) {
	e := newEnv(t)
	c := e.report("o-role", "楼道堆满纸箱", "c1")
	for _, tc := range []struct {
		who, method, path string
		kv                []string
	}{
		{"kan", "POST", "/console/cases/" + c.Ticket + "/verify", []string{"risk", "red", "category", "fire"}},
		{"kan", "POST", "/console/cases/" + c.Ticket + "/reporter", nil},
		{"donghu", "POST", "/console/cases/" + c.Ticket + "/reporter", nil},
		{"jiedao", "GET", "/console/users", nil},
		{"donghu", "POST", "/console/users", []string{"username", "evil", "role", "admin", "password", password}},
		{"kan", "POST", "/console/users/1/disable", nil},
		{"donghu", "POST", "/console/cases/" + c.Ticket + "/supervise", []string{"unit", "x"}},
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
	got, _ := e.st.Case(context.Background(), c.ID)
	audit, _ := e.st.AuditFor(context.Background(), "report", fmt.Sprint(c.ID))
	if got.Status != hazardbot.StatusPending || len(audit) != 0 {
		t.Fatalf("refused requests changed something: %s, %+v", got.Status, audit)
	}
	// Community staff do not even see another community's case.
	b := e.as("xiyuan")
	want(t, b.get("/console/cases/"+c.Ticket), http.StatusNotFound)
	if p := b.get("/console/cases"); strings.Contains(p.body, c.Ticket) {
		t.Fatal("another community's case is listed")
	}
}

func TestCSRFTokenIsCheckedOnEveryPost(t *testing.T) {
	e := newEnv(t)
	c := e.report("o-csrf", "楼道堆满纸箱", "c1")
	b := e.as("admin")
	for _, path := range []string{"/console/cases/" + c.Ticket + "/verify", "/console/cases/" + c.Ticket + "/reporter",
		"/console/users", "/console/users/2/disable", "/console/account/bind", "/console/logout"} {
		for _, token := range []string{"", "forged-token", strings.Repeat("A", len(b.csrf))} {
			v := url.Values{"risk": {"red"}, "category": {"fire"}, "username": {"evil"}, "role": {"admin"}, "password": {password}}
			if token != "" {
				v.Set("csrf", token)
			}
			if p := b.post(path, v); p.status != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403", path, token, p.status)
			}
		}
	}
	// A multipart form is checked too.
	var body bytes.Buffer
	body.WriteString("--X\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--X--\r\n")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/cases/"+c.Ticket+"/verify", &body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
	want(t, b.do(req), http.StatusForbidden)
	// The login form has its own token, bound to a cookie.
	anon := e.browser()
	anon.get("/console/login")
	want(t, anon.post("/console/login", url.Values{"username": {"admin"}, "password": {password}}), http.StatusForbidden)
	want(t, anon.post("/console/login", url.Values{"csrf": {"forged"}, "username": {"admin"}, "password": {password}}), http.StatusForbidden)

	got, _ := e.st.Case(context.Background(), c.ID)
	staff, _ := e.st.ListStaff(context.Background())
	jiedao, _ := e.st.StaffByID(context.Background(), 2)
	if got.Status != hazardbot.StatusPending || len(staff) != 5 || jiedao.Disabled {
		t.Fatalf("forged requests changed something: %s, %d staff", got.Status, len(staff))
	}
	// The session is still alive: logout above was refused.
	want(t, b.get("/console/"), http.StatusOK, "概览")
}

func TestStoredXSSRendersInert(t *testing.T) {
	e := newEnv(t)
	evil := `<script>alert(1)</script><img src=x onerror=alert(2)>"><svg onload=alert(3)>`
	c := e.report("o-xss", evil, "c1")
	b := e.as("jiedao")
	for _, path := range []string{"/console/cases/" + c.Ticket, "/console/cases", "/console/map"} {
		p := b.get(path)
		want(t, p, http.StatusOK)
		for _, raw := range []string{"<script>", "<img src=x", "<svg onload", "alert(1)</script>"} {
			if strings.Contains(p.body, raw) {
				t.Errorf("%s renders %q unescaped", path, raw)
			}
		}
		if !strings.Contains(p.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, p.header.Get("Content-Security-Policy"))
		}
	}
	if p := b.get("/console/cases/" + c.Ticket); !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("the description is not shown as text:\n%s", p.body)
	}
}

func TestSQLLikeInputStaysData(t *testing.T) {
	e := newEnv(t)
	e.report("o-sql1", "井盖缺失", "c1")
	c := e.report("o-sql2", "x' OR '1'='1'; DROP TABLE reports; --", "c1")
	b := e.as("jiedao")
	for _, tc := range []struct {
		query string
		rows  int
	}{
		{"q=" + url.QueryEscape("' OR '1'='1"), 1},
		{"q=" + url.QueryEscape("%"), 0},
		{"q=" + url.QueryEscape("_"), 0},
		{"category=" + url.QueryEscape("fire' OR '1'='1"), 0},
		{"status=" + url.QueryEscape("pending') OR 1=1 --"), 0},
		{"risk=" + url.QueryEscape("red' --"), 0},
		{"sort=" + url.QueryEscape("id; DROP TABLE reports") + "&dir=" + url.QueryEscape("desc; --"), 2},
		{"community=" + url.QueryEscape("c1\" OR 1=1"), 0},
	} {
		p := b.get("/console/cases?" + tc.query)
		want(t, p, http.StatusOK)
		if n := strings.Count(p.body, `class="ticket"`); n != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.query, n, tc.rows)
		}
	}
	want(t, b.get("/console/cases?from=2025-13-99"), http.StatusBadRequest, "格式不对")
	if _, err := e.st.Case(context.Background(), c.ID); err != nil {
		t.Fatalf("the reports table is gone: %v", err)
	}
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 1; i <= 4; i++ {
		want(t, b.login("donghu", "wrong-password-1"), http.StatusUnauthorized, "用户名或密码错误")
	}
	want(t, b.login("donghu", "wrong-password-1"), http.StatusLocked, "账号已锁定15分钟")
	// Locked: even the right password is refused, without being checked.
	want(t, b.login("donghu", password), http.StatusLocked, "已锁定至")
	// An unknown user looks like a wrong password.
	want(t, b.login("nobody", password), http.StatusUnauthorized, "用户名或密码错误")
	e.clock.Advance(LockoutPlus)
	if p := b.login("donghu", password); p.status != http.StatusSeeOther {
		t.Fatalf("after the lockout: %d %s", p.status, p.body)
	}
	audit, _ := e.st.AuditFor(context.Background(), "staff", "3")
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if got := strings.Join(actions, ","); got != "staff.login_failed,staff.login_failed,staff.login_failed,staff.login_failed,staff.login_failed,staff.locked,staff.login" {
		t.Fatalf("audit %s", got)
	}
}

// LockoutPlus is just past the lockout.
const LockoutPlus = console.LockoutFor + time.Second

func TestSessionExpiresAfterEightIdleHours(t *testing.T) {
	e := newEnv(t)
	b := e.as("jiedao")
	e.clock.Advance(7 * time.Hour)
	want(t, b.get("/console/cases"), http.StatusOK) // activity keeps it alive
	e.clock.Advance(7 * time.Hour)
	want(t, b.get("/console/cases"), http.StatusOK)
	e.clock.Advance(console.IdleTimeout + time.Minute)
	p := b.get("/console/cases")
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "expired=1") {
		t.Fatalf("after 8 idle hours: %d %q", p.status, p.location)
	}
	want(t, b.get(p.location), http.StatusOK, "登录已过期")
	// The old cookie is dead for good, even if replayed.
	if p := b.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("expired session reused: %d", p.status)
	}
	// No session lasts beyond its maximum age, however busy.
	b = e.as("jiedao")
	for range 4 {
		e.clock.Advance(7 * time.Hour)
		b.get("/console/")
	}
	if p := b.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("a 28-hour session: %d", p.status)
	}
}

func TestCookieFlags(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/console/login")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/login", strings.NewReader(url.Values{"csrf": {b.csrf},
		"username": {"admin"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := b.hc.Do(req)
	storagetest.Must(t, err)
	resp.Body.Close()
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "hb_console" {
			found = true
			if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" {
				t.Fatalf("session cookie %+v", ck)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie")
	}
}

func TestIdentityIsSealedAndEveryViewAudited(t *testing.T) {
	e := newEnv(t)
	c := e.report("o-secret-reporter", "楼道堆满纸箱", "c1")
	ctx := context.Background()
	for _, who := range []string{"donghu", "kan"} {
		b := e.as(who)
		p := b.get("/console/cases/" + c.Ticket)
		want(t, p, http.StatusOK, "139****5678")
		if strings.Contains(p.body, "o-secret-reporter") || strings.Contains(p.body, "13912345678") || strings.Contains(p.body, `id="reveal"`) {
			t.Fatalf("%s sees the reporter", who)
		}
		if strings.Contains(b.get("/console/cases").body, "13912345678") {
			t.Fatalf("%s sees the phone in the list", who)
		}
	}
	b := e.as("jiedao")
	if p := b.get("/console/cases/" + c.Ticket); strings.Contains(p.body, "o-secret-reporter") || !strings.Contains(p.body, `id="reveal"`) {
		t.Fatal("street staff see the identity before asking, or cannot ask")
	}
	p := b.form("/console/cases/" + c.Ticket + "/reporter")
	want(t, p, http.StatusOK, "o-secret-reporter", "13912345678", "已记入审计日志")
	audit, _ := e.st.AuditFor(ctx, "report", fmt.Sprint(c.ID))
	if len(audit) != 1 || audit[0].Action != "case.view_identity" || audit[0].Actor != "staff:jiedao" {
		t.Fatalf("audit %+v", audit)
	}

	// The ledger shows a masked phone and never an openid, whoever exports.
	resp, err := b.hc.Get(e.srv.URL + "/console/export.xlsx")
	storagetest.Must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	f, err := excelize.OpenReader(resp.Body)
	storagetest.Must(t, err)
	rows, err := f.GetRows(console.LedgerSheet)
	storagetest.Must(t, err)
	if len(rows) != 2 || rows[1][0] != c.Ticket || rows[1][17] != "139****5678" {
		t.Fatalf("ledger rows %q", rows)
	}
	for _, row := range rows {
		for _, cell := range row {
			if strings.Contains(cell, "o-secret") || strings.Contains(cell, "13912345678") {
				t.Fatalf("the ledger leaks %q", cell)
			}
		}
	}
}

func TestDetailOffersOnlyValidActions(t *testing.T) {
	e := newEnv(t)
	c := e.report("o-act", "楼道堆满纸箱", "c1")
	forms := regexp.MustCompile(`action="/console/cases/[^"]+/([a-z]+)"`)
	actions := func(who string) string {
		t.Helper()
		p := e.as(who).get("/console/cases/" + c.Ticket)
		var out []string
		for _, m := range forms.FindAllStringSubmatch(p.body, -1) {
			if m[1] != "reporter" {
				out = append(out, m[1])
			}
		}
		return strings.Join(out, ",")
	}
	if got := actions("donghu"); got != "verify,reject,duplicate" {
		t.Fatalf("community staff on a pending case: %s", got)
	}
	if got := actions("kan"); got != "" {
		t.Fatalf("viewer: %s", got)
	}
	b := e.as("donghu")
	p := b.form("/console/cases/"+c.Ticket+"/verify", "seen", "pending", "risk", "orange", "category", "electric", "note", "已到现场查看")
	if p.status != http.StatusSeeOther {
		t.Fatalf("verify: %d %s", p.status, p.body)
	}
	if got := actions("donghu"); got != "duplicate" {
		t.Fatalf("community staff on a verified case: %s", got)
	}
	if got := actions("jiedao"); got != "duplicate,assign,supervise" {
		t.Fatalf("street staff on a verified case: %s", got)
	}
	// The same click again (a double submit, or a second tab) changes nothing.
	p = b.form("/console/cases/"+c.Ticket+"/verify", "seen", "pending", "risk", "red", "category", "fire")
	want(t, p, http.StatusConflict, "刚刚已被他人处理")
	got, _ := e.st.Case(context.Background(), c.ID)
	if got.RiskLevel != "orange" || got.Category != "electric" {
		t.Fatalf("the repeated verify changed the case: %+v", got)
	}
	// Missing input is explained, on the case's page.
	want(t, e.as("jiedao").form("/console/cases/"+c.Ticket+"/assign", "seen", "verified", "assignee", "department"),
		http.StatusUnprocessableEntity, "请填写交办的部门名称")
	want(t, b.form("/console/cases/"+c.Ticket+"/teleport", "seen", "verified"), http.StatusUnprocessableEntity, "未知操作")
}

func TestUserManagement(t *testing.T) {
	e := newEnv(t)
	b := e.as("admin")
	want(t, b.form("/console/users", "username", "wangwu", "role", "community", "password", password), http.StatusUnprocessableEntity, "需要选择所属社区")
	want(t, b.form("/console/users", "username", "wangwu", "role", "street", "password", "short1"), http.StatusUnprocessableEntity, "至少需要10个字符")
	want(t, b.form("/console/users", "username", "wangwu", "role", "street", "password", "wangwu12345678"), http.StatusUnprocessableEntity, "不能包含用户名")
	want(t, b.form("/console/users", "username", "Robert'); DROP", "role", "street", "password", password), http.StatusUnprocessableEntity, "用户名为")
	p := b.form("/console/users", "username", "wangwu", "name", "<b>王五</b>", "role", "community", "community", "c3", "password", password)
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	list := b.get("/console/users")
	want(t, list, http.StatusOK, "wangwu", "&lt;b&gt;王五&lt;/b&gt;", "北苑社区")
	st, _ := e.st.StaffByUsername(context.Background(), "wangwu")
	want(t, b.form(fmt.Sprintf("/console/users/%d/disable", st.ID)), http.StatusSeeOther)
	if p := e.browser().login("wangwu", password); p.status != http.StatusUnauthorized {
		t.Fatalf("a disabled user logged in: %d", p.status)
	}
	want(t, b.form("/console/users/1/disable"), http.StatusBadRequest, "不能停用自己的账号")
}

func TestPhotosAreServedOnlyToThoseWhoMaySeeTheCase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := &hazardbot.Report{OpenID: "o-photo", Category: "fire", Description: "楼道堆满纸箱", CommunityID: "c1",
		Photos: []hazardbot.Photo{{MediaID: "m1"}}}
	storagetest.Must(t, e.st.SubmitReport(ctx, r, "photo-key", e.clock.Now()))
	// The photo job would store the file; here the test does.
	rel := "photos/test.jpg"
	storagetest.Must(t, writeFile(e.c.DataDir, rel, []byte("\xff\xd8\xff\xe0 jpeg")))
	storagetest.Must(t, e.st.SetPhotoStored(ctx, r.Photos[0].ID, "sha", 9, rel, e.clock.Now()))
	path := fmt.Sprintf("/console/photos/%d", r.Photos[0].ID)
	p := e.as("donghu").get(path)
	if p.status != http.StatusOK || p.header.Get("Content-Type") != "image/jpeg" || !strings.Contains(p.header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("own community's photo: %d %v", p.status, p.header)
	}
	want(t, e.as("xiyuan").get(path), http.StatusNotFound)
	want(t, e.as("jiedao").get("/console/photos/999"), http.StatusNotFound)
}

func writeFile(dir, rel string, data []byte) error {
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		return err
	}
	return os.WriteFile(full, data, 0o640)
}
