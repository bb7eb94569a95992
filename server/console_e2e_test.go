package server

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	jpegenc "image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/console"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// chromium finds the browser for the end-to-end test: HAZARDBOT_CHROMIUM,
// else Debian's /usr/bin/chromium (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HAZARDBOT_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Skipf("SKIPPED: no Chromium at %s (apt-get install -y chromium, or set HAZARDBOT_CHROMIUM); the console's browser test did not run", p)
	}
	return p
}

// screenshotDir is where the test leaves its screenshots for review.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("HAZARDBOT_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// staffBrowser drives one headless Chromium through the console.
type staffBrowser struct {
	t      *testing.T
	ctx    context.Context
	base   string
	shots  string
	name   string
	ticket string // the case open in the browser
}

func (b *staffBrowser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *staffBrowser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *staffBrowser) html(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("html of %s: %v", sel, err)
	}
	return s
}

func (b *staffBrowser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shots, b.name+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

func (b *staffBrowser) login(username string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username), chromedp.SendKeys(chromedp.CSS("#password"), staffPassword),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS(".kpis")))
}

func (b *staffBrowser) logout() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#username")))
}

func (b *staffBrowser) openCase(ticket string) {
	b.t.Helper()
	b.ticket = ticket
	b.do(chromedp.Navigate(b.base+"/console/cases/"+ticket), chromedp.WaitVisible(chromedp.CSS("#ticket")))
}

// act opens an action's form on a fresh copy of the case's page, lets fill
// complete it, submits it and waits for the page that says it was done.
func (b *staffBrowser) act(action string, fill ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.openCase(b.ticket) // no "done" banner from an earlier action to wait on
	form := "#act-" + action
	steps := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS(form))}
	if open, _ := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(form), "open")); !open.Exists {
		steps = append(steps, chromedp.Click(chromedp.CSS(form+" summary")))
	}
	steps = append(steps, fill...)
	steps = append(steps, chromedp.Click(chromedp.CSS(form+" button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#done")))
	b.do(steps...)
}

// statusIn is the status a message to a resident announces for a ticket:
// a customer-service text, or the status field of a template message.
func statusIn(s wechattest.Sent, ticket string) string {
	if s.Kind == "template" && s.Data["character_string1"] == ticket {
		return s.Data["phrase2"]
	}
	if _, after, ok := strings.Cut(s.Text, ticket+" 有新进展："); ok {
		status, _, _ := strings.Cut(after, "\n")
		return status
	}
	return ""
}

// photoFile writes a real JPEG the browser can upload and show.
func photoFile(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(60 + x/4), uint8(140 + y/4), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpegenc.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rectified.jpg")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConsoleEndToEndInChromium is the "done when": a report filed
// through the fake WeChat is taken to 已销号 in a real browser by a community
// staff member and a street staff member together, the reporter is told at
// each step, and the map and the ledger show it.
func TestConsoleEndToEndInChromium(t *testing.T) {
	exe := chromium(t)
	shots := screenshotDir(t)
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		ctx := context.Background()
		// WeChat allows five customer-service messages after a resident's
		// last message; later steps reach them by template message.
		e := newEnv(t, st, ss, func(c *Config, o *Options) { c.TemplateStatus = "TPL-STATUS" })
		addStaff(t, st, storage.Staff{Username: "donghu", Name: "东湖社区 李四", Role: hazardbot.RoleCommunity, CommunityID: "c1"})
		addStaff(t, st, storage.Staff{Username: "jiedao", Name: "街道应急办 王五", Role: hazardbot.RoleStreet})

		r := e.resident("o-e2e-reporter", false)
		ticket := fileReport(t, r, 3)
		e.drain() // the photos arrive
		// The fake WeChat's media are a few bytes; give the stored files real
		// pictures so the browser shows them.
		filed, err := st.CaseByTicket(ctx, ticket)
		storagetest.Must(t, err)
		picture, err := os.ReadFile(photoFile(t))
		storagetest.Must(t, err)
		for _, p := range filed.Photos {
			storagetest.Must(t, os.WriteFile(filepath.Join(e.srv.Config.DataDir, p.Path), picture, 0o644))
		}
		// A report in another community and category, for the filters.
		other := &hazardbot.Report{OpenID: "o-e2e-other", Category: "flood", Description: "西园路口积水没过脚踝", HasLocation: true,
			Lat: 36.0601, Lng: 103.8602, Address: "西园路口", CommunityID: "c2", GridID: "c2-g1", Phone: "13800001111"}
		storagetest.Must(t, st.SubmitReport(ctx, other, "e2e-other", e.clock.Now()))
		seen := len(e.api.Sent(r.id))
		told := func(status string) {
			t.Helper()
			e.drain()
			sent := e.api.Sent(r.id)
			for _, s := range sent[seen:] {
				if statusIn(s, ticket) == status {
					seen = len(sent)
					return
				}
			}
			t.Fatalf("the reporter was not told %s: %+v", status, sent[seen:])
		}

		alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(1366, 900))...)
		defer cancelAlloc()
		bctx, cancelBrowser := chromedp.NewContext(alloc)
		defer cancelBrowser()
		bctx, cancelTimeout := context.WithTimeout(bctx, 60*time.Second)
		defer cancelTimeout()
		b := &staffBrowser{t: t, ctx: bctx, base: e.http.URL, shots: shots, name: strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], "+", "-")}

		// Community staff log in, filter, open the case and verify it.
		b.do(chromedp.Navigate(b.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#username")))
		b.shot("login")
		b.login("donghu")
		b.shot("dashboard")
		b.do(chromedp.Navigate(b.base+"/console/cases"), chromedp.WaitVisible(chromedp.CSS("#filters")),
			chromedp.SetValue(chromedp.CSS("#status"), "pending"), chromedp.SetValue(chromedp.CSS("#category"), "fire"),
			chromedp.Click(chromedp.CSS("#apply")),
			// Only the filtered page has the option marked selected.
			chromedp.WaitReady(chromedp.CSS(`#status option[value="pending"][selected]`)),
			chromedp.WaitVisible(chromedp.CSS("a.ticket")))
		if table := b.text("#case-table"); !strings.Contains(table, ticket) || strings.Contains(table, other.Ticket) {
			t.Fatalf("filtered list:\n%s", table)
		}
		b.shot("list")
		b.do(chromedp.Click(chromedp.CSS("a.ticket")), chromedp.WaitVisible(chromedp.CSS("#ticket")))
		b.ticket = ticket
		if got := b.text("#ticket"); got != ticket {
			t.Fatalf("opened %s", got)
		}
		// The page is shown before its images have arrived: wait for the photo.
		const photoWidth = "(() => { const i = document.querySelector('.photos img'); return i && i.complete ? i.naturalWidth : 0 })()"
		if w, err := chromedp.Run(b.ctx, chromedp.Poll[int](photoWidth, chromedp.WithPollingTimeout(10*time.Second))); err != nil || w != 320 {
			t.Fatalf("the resident's photo does not load in the browser: width %d, %v", w, err)
		}
		if strings.Contains(b.html("#reporter"), "o-e2e-reporter") || !strings.Contains(b.text("#phone"), "139****5678") {
			t.Fatal("community staff see the reporter's identity")
		}
		b.shot("detail")
		b.act("verify", chromedp.SetValue(chromedp.CSS("#act-verify select[name=risk]"), "orange"),
			chromedp.SendKeys(chromedp.CSS("#act-verify textarea[name=note]"), "已到现场核实"))
		if got := b.text("#status"); got != "已核实" {
			t.Fatalf("status %s", got)
		}
		told("已核实")
		b.logout()

		// Street staff assign it to 东湖社区 and look at the map.
		b.login("jiedao")
		b.openCase(ticket)
		b.do(chromedp.Click(chromedp.CSS("#reveal")), chromedp.WaitVisible(chromedp.CSS("#openid")))
		if b.text("#openid") != r.id || b.text("#phone") != "13912345678" {
			t.Fatal("street staff cannot see the reporter")
		}
		b.act("assign")
		if got := b.text("#status"); got != "已交办" {
			t.Fatalf("status %s", got)
		}
		told("已交办")
		b.do(chromedp.Navigate(b.base+"/console/map"), chromedp.WaitVisible(chromedp.CSS("svg path")))
		svg := b.html("main svg")
		if !strings.Contains(svg, ticket) || !strings.Contains(svg, hazardbot.RiskOrange.Colour()) {
			t.Fatalf("the map does not show the orange case:\n%s", svg)
		}
		b.shot("map")
		b.logout()

		// Community staff rectify and report back with a photo.
		b.login("donghu")
		b.openCase(ticket)
		b.act("start")
		told("整改中")
		b.act("submit", chromedp.SendKeys(chromedp.CSS("#act-submit textarea[name=note]"), "纸箱已全部清理，消防通道畅通"),
			chromedp.SetUploadFiles(chromedp.CSS("#act-submit input[type=file]"), []string{photoFile(t)}))
		if got := b.text("#status"); got != "待复核" {
			t.Fatalf("status %s", got)
		}
		told("待复核")
		b.logout()

		// Street staff review and close it, then export the ledger.
		b.login("jiedao")
		b.openCase(ticket)
		b.act("close", chromedp.SendKeys(chromedp.CSS("#act-close textarea[name=note]"), "复核合格"))
		if got := b.text("#status"); got != "已销号" {
			t.Fatalf("status %s", got)
		}
		told("已销号")
		b.shot("closed")
		closed, err := st.CaseByTicket(ctx, ticket)
		storagetest.Must(t, err)
		if photos, _ := st.CasePhotos(ctx, closed.ID); len(photos) != 1 || photos[0].MIME != "image/jpeg" {
			t.Fatalf("rectification photos %+v", photos)
		}

		downloads := t.TempDir()
		progress := chromedp.Events(bctx, browser.DownloadProgress)
		b.do(chromedp.Navigate(b.base+"/console/cases?q="+ticket), chromedp.WaitVisible(chromedp.CSS("#export")),
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: new(true)})
				return err
			}),
			chromedp.Click(chromedp.CSS("#export")))
		var file string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				file = filepath.Join(downloads, ev.GUID)
				break
			}
		}
		x, err := excelize.OpenFile(file)
		storagetest.Must(t, err)
		defer x.Close()
		rows, err := x.GetRows(console.LedgerSheet)
		storagetest.Must(t, err)
		if len(rows) != 2 || strings.Join(rows[0], ",") != strings.Join(console.LedgerHeader, ",") {
			t.Fatalf("ledger %q", rows)
		}
		row := rows[1]
		if row[0] != ticket || row[7] != "橙色" || row[8] != "已销号" || row[10] != "东湖社区" || row[15] != "纸箱已全部清理，消防通道畅通" ||
			row[17] != "139****5678" || row[16] == "" {
			t.Fatalf("ledger row %q", row)
		}

		// Every step reached the reporter, in order, and is in the audit trail.
		var statuses []string
		for _, s := range e.api.Sent(r.id) {
			if st := statusIn(s, ticket); st != "" {
				statuses = append(statuses, st)
			}
		}
		if got := strings.Join(statuses, ","); got != "已核实,已交办,整改中,待复核,已销号" {
			t.Fatalf("the reporter was told: %s", got)
		}
		audit, _ := st.AuditFor(ctx, "report", fmt.Sprint(closed.ID))
		var actions []string
		for _, a := range audit {
			actions = append(actions, a.Actor+" "+a.Action)
		}
		if got := strings.Join(actions, ","); got != "staff:donghu case.verify,staff:jiedao case.view_identity,staff:jiedao case.assign,"+
			"staff:donghu case.start,staff:donghu case.submit,staff:jiedao case.close" {
			t.Fatalf("audit: %s", got)
		}
	})
}
