package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// pointsDesk is a staff member's browser on the console, without script:
// a cookie jar and the session's CSRF token.
type pointsDesk struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

var pointsCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *env) pointsDesk(username string) *pointsDesk {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &pointsDesk{t: e.t, base: e.http.URL, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	d.get("/console/login")
	if status, _ := d.form("/console/login", "username", username, "password", staffPassword); status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d", username, status)
	}
	d.get("/console/") // the session's token
	return d
}

func (d *pointsDesk) do(req *http.Request) (int, string) {
	d.t.Helper()
	resp, err := d.hc.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := pointsCSRF.FindStringSubmatch(string(body)); m != nil {
		d.csrf = m[1]
	}
	return resp.StatusCode, string(body)
}

func (d *pointsDesk) get(path string) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.base+path, nil)
	return d.do(req)
}

// form posts a form with the session's CSRF token.
func (d *pointsDesk) form(path string, kv ...string) (int, string) {
	d.t.Helper()
	v := url.Values{"csrf": {d.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, d.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return d.do(req)
}

// must posts a form and fails unless the answer is status.
func (d *pointsDesk) must(status int, path string, kv ...string) string {
	d.t.Helper()
	got, body := d.form(path, kv...)
	if got != status {
		d.t.Fatalf("POST %s: %d, want %d:\n%s", path, got, status, body)
	}
	return body
}

// The "done when": in the sim a volunteer signs up, is approved in
// the console, gets points for a report verified in the console and for a
// quiz, checks in at a patrol point, redeems a reward, and staff confirm
// the pickup — with the ledger adding up, on both storage backends.
func TestVolunteerEarnsAndRedeemsEndToEnd(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss)
		ctx := context.Background()
		c := e.srv.Content()
		r := e.resident("o-volunteer-e2e", true)
		addStaff(t, st, storage.Staff{Username: "donghu", Role: hazardbot.RoleCommunity, CommunityID: "c1"})
		addStaff(t, st, storage.Staff{Username: "jiedao", Role: hazardbot.RoleStreet})

		// Signs up in the chat.
		contains(t, r.push(wechattest.Click(r.id, "VOLUNTEER")), "欢迎报名天水郡街道安全志愿者", "请告诉我们您的姓名")
		contains(t, r.say("张三"), "请留一个手机号")
		contains(t, r.say("139-1234-5678"), "您住在哪个社区", "1. 东湖社区")
		contains(t, r.say("1"), "您有哪些特长")
		contains(t, r.say("1 2"), "姓名：张三", "社区：东湖社区", "特长：急救、消防")
		contains(t, r.say("确认"), "报名已提交")
		contains(t, r.say("志愿者"), "正在审核中")

		// Approved in the console by their community's staff, and told.
		desk := e.pointsDesk("donghu")
		v, err := st.Volunteer(ctx, r.id)
		storagetest.Must(t, err)
		desk.must(http.StatusSeeOther, fmt.Sprintf("/console/volunteers/%d/approve", v.ID))
		told := strings.Join(r.sent(0), "\n")
		contains(t, told, "恭喜！您的志愿者报名已通过")
		contains(t, r.say("我的志愿者信息"), "志愿者证", v.Number(), "手机：139****5678", "当前积分：0")

		// A report, verified in the console: orange, and they were first.
		ticket := fileReport(t, r, 3)
		desk.must(http.StatusSeeOther, "/console/cases/"+ticket+"/verify", "seen", "pending", "risk", "orange", "category", "fire",
			"note", "已到现场核实")
		e.drain()
		if b, _ := st.Balance(ctx, r.id); b != 30 {
			t.Fatalf("balance after verification %d, want 20 + 10", b)
		}

		// Today's quiz, all right: 5 × 2.
		contains(t, r.push(wechattest.Click(r.id, "QUIZ")), "第1/5题")
		day := hazardbot.Day(e.clock.Now())
		for range 5 {
			d, err := st.QuizDay(ctx, r.id, day)
			storagetest.Must(t, err)
			q, _ := c.QuestionByID(d.Items[len(d.AnsweredIDs)].ID)
			contains(t, r.say(strings.ToLower(q.Answer)), "答对了")
		}

		// Street staff define a patrol point; the volunteer checks in there.
		boss := e.pointsDesk("jiedao")
		boss.must(http.StatusSeeOther, "/console/patrol", "name", "东湖路18号消防通道", "community", "c1",
			"lat", fmt.Sprint(insideLat), "lng", fmt.Sprint(insideLng), "radius", "100", "active", "1")
		contains(t, r.say("打卡"), "请发送您当前的位置")
		contains(t, r.push(wechattest.Location(r.id, insideLat+0.0003, insideLng, "东湖路18号")),
			"已在「东湖路18号消防通道」打卡", "+5 积分")
		contains(t, r.push(r.photo(9)), "照片已收到")
		e.drain() // the patrol photo is kept on disk like a report's
		var photoPath string
		storagetest.Must(t, st.DB.GetContext(context.Background(), &photoPath,
			"SELECT photo_path FROM patrol_checkins WHERE openid = ? AND photo_status = 'stored'", r.id))
		if _, err := os.Stat(filepath.Join(e.srv.Config.DataDir, photoPath)); err != nil || photoPath == "" {
			t.Fatalf("patrol photo %q: %v", photoPath, err)
		}
		contains(t, r.say("打卡"), "请发送您当前的位置")
		contains(t, r.push(wechattest.Location(r.id, insideLat, insideLng, "东湖路18号")), "今天已经在「东湖路18号消防通道」打过卡了")

		// The catalog, from the console; the volunteer redeems in the chat.
		boss.must(http.StatusSeeOther, "/console/rewards", "name", "家用灭火毯", "points", "40", "stock", "5", "per_person", "1",
			"from", day, "active", "1")
		boss.must(http.StatusSeeOther, "/console/rewards", "name", "应急手电", "points", "5", "stock", "1", "per_person", "0",
			"from", day, "active", "1")
		contains(t, r.say("我的积分"), "我的积分：45 分", "获得 45 分（上报 30、答题 10、巡查 5）")
		contains(t, r.push(wechattest.Click(r.id, "REDEEM")), "您现有 45 积分", "1. 应急手电 · 5积分", "2. 家用灭火毯 · 40积分")
		contains(t, r.say("2"), "确认用 40 积分兑换「家用灭火毯」吗")
		done := r.say("确认")
		contains(t, done, "兑换成功", "取货码：")
		code := regexp.MustCompile(`取货码：(\d{8})`).FindStringSubmatch(done)[1]
		contains(t, r.say("我的积分"), "我的积分：5 分（另有 40 分兑换待领取）", "取货码 "+code)

		// Staff confirm the pickup at the desk.
		contains(t, desk.must(http.StatusOK, "/console/pickup", "code", code), "已确认领取", "家用灭火毯")
		contains(t, r.say("我的积分"), "-40 兑换冻结：家用灭火毯（已领取）")

		// A second redemption nobody picks up: its points come back once.
		r.say("积分兑换")
		r.say("1")
		contains(t, r.say("确认"), "兑换成功")
		if b, _ := st.Balance(ctx, r.id); b != 0 {
			t.Fatalf("balance with the torch held %d", b)
		}
		e.clock.Advance(time.Duration(c.Points.Rules.HoldDays)*24*time.Hour + time.Minute)
		e.drain()
		e.drain()
		if b, _ := st.Balance(ctx, r.id); b != 5 {
			t.Fatalf("balance after the hold expired %d, want 5", b)
		}

		// The ledger adds up: every entry, in order, to the balance.
		hist, err := st.PointsHistory(ctx, r.id, 100)
		storagetest.Must(t, err)
		sum, byKind := 0, map[string]int{}
		for i := len(hist) - 1; i >= 0; i-- {
			sum += hist[i].Delta
			if hist[i].Balance != sum {
				t.Fatalf("entry %+v: running balance %d, want %d", hist[i], hist[i].Balance, sum)
			}
			byKind[hist[i].SourceType] += hist[i].Delta
		}
		want := map[string]int{hazardbot.SourceReport: 30, hazardbot.SourceQuiz: 10, hazardbot.SourcePatrol: 5,
			hazardbot.SourceRedemption: -40}
		if sum != 5 || len(hist) != 11 || fmt.Sprint(byKind) != fmt.Sprint(want) {
			t.Fatalf("ledger sums to %d over %d entries, by source %v; want 5 over 11, %v", sum, len(hist), byKind, want)
		}
		entries, balances, err := st.LedgerSums(ctx)
		storagetest.Must(t, err)
		if entries != balances || balances != 5 {
			t.Fatalf("ledger %d, balances %d", entries, balances)
		}
		rws, _ := st.Rewards(ctx)
		for _, rw := range rws {
			if (rw.Name == "家用灭火毯" && rw.Stock != 4) || (rw.Name == "应急手电" && rw.Stock != 1) {
				t.Fatalf("stock %+v", rw)
			}
		}
		// The staff ledger page agrees (a new login: a week has passed).
		status, page := e.pointsDesk("jiedao").get("/console/points/" + r.id)
		if status != http.StatusOK || !strings.Contains(page, `id="balance">5<`) {
			t.Fatalf("ledger page %d:\n%s", status, page)
		}
	})
}
