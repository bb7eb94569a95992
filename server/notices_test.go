package server

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// sendNotices runs the notice dispatcher until nothing is due, as the
// running server's does in the background.
func (e *env) sendNotices() {
	e.t.Helper()
	e.srv.Webhook.Wait() // follows, locations and interactions are recorded beside the replies
	e.drain()
	if _, err := e.srv.Notices.RunOnce(context.Background()); err != nil {
		e.t.Fatalf("notices: %v", err)
	}
}

func (e *env) noticeGet(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.http.URL + path)
	storagetest.Must(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	storagetest.Must(e.t, err)
	return resp.StatusCode, string(b)
}

// noticeMessages is what the fake WeChat delivered to openid that links to
// the notice's page.
func (e *env) noticeMessages(openid string, id int64) []wechattest.Sent {
	link := notices.Link(e.srv.Config.PublicURL, id)
	var out []wechattest.Sent
	for _, s := range e.api.Sent(openid) {
		if s.URL == link || strings.Contains(s.Text, link) {
			out = append(out, s)
		}
	}
	return out
}

var noticeNumber = regexp.MustCompile(`第(\d+)号`)

// TestRedWarningFromComposeToResidents is the whole story: one staff member
// composes a red warning in the chat, a second approves it, and it reaches
// every targeted resident exactly once through the right channel (a
// customer-service message inside the 48-hour window, otherwise a template
// message linking to its page; residents who muted notices too, since it is
// red; nobody outside the audience), shows under 最新通知 and on its public
// page, and validates as CAP 1.2.
func TestRedWarningFromComposeToResidents(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss, func(c *Config, o *Options) {
			c.PublicURL = "https://aq.example.gov.cn"
			c.Notices.TemplateID = "TPL-NOTICE"
		})
		ctx := context.Background()

		// Residents: three in 东湖社区 (c1), one elsewhere, all following.
		lat2, lng2 := 36.0670, 103.8530 // 东湖社区第2网格
		residents := map[string][2]float64{"o-near": {insideLat, insideLng}, "o-quiet": {lat2, lng2},
			"o-muted": {insideLat + 0.001, insideLng}, "o-away": {36.1200, 103.9000}}
		for id, p := range residents {
			r := e.resident(id, false)
			r.push(wechattest.Subscribe(id))
			r.push(wechattest.LocationEvent(id, p[0], p[1], 30)) // WeChat's location report: no report flow starts
		}
		contains(t, e.resident("o-muted", false).say("通知设置"), "当前：接收全部")
		contains(t, e.resident("o-muted", false).say("2"), "橙色、红色预警事关安全")

		// Staff: 张 is a follower given the staff role; 李 binds a
		// console account in the chat.
		zhang, li := e.resident("o-staff-zhang", false), e.resident("o-staff-li", true)
		zhang.push(wechattest.Subscribe(zhang.id))
		e.srv.Webhook.Wait() // the follow is recorded beside the reply
		storagetest.Must(t, st.SetRole(ctx, zhang.id, storage.RoleStaff))
		id, err := st.CreateStaff(ctx, storage.Staff{Username: "li", Name: "李四", PasswordHash: []byte("$2a$10$x"),
			Role: hazardbot.RoleStreet}, e.clock.Now())
		storagetest.Must(t, err)
		storagetest.Must(t, st.SetBindCode(ctx, id, "246810", e.clock.Now().Add(time.Hour), e.clock.Now()))
		li.push(wechattest.Subscribe(li.id))
		contains(t, li.say("绑定 246810"), "li")

		// Three days pass: only o-near writes again, so only they are
		// inside the 48-hour window.
		e.clock.Advance(72 * time.Hour)
		// The webhook records an interaction at most once a minute per
		// resident (a session-store key); on Redis that minute is real
		// time, which the test clock does not move.
		for _, id := range []string{"o-near", zhang.id} {
			if _, ok := storagetest.TTL(t, e.srv.Sessions, "touch:"+id); ok {
				storagetest.Lapse(t, e.srv.Sessions, e.clock, "touch:"+id)
			}
		}
		contains(t, e.resident("o-near", false).say("最新通知"), "目前没有生效的通知和预警")
		contains(t, e.resident("o-near", true).say("你好"))
		zhang.say("你好")

		// A resident cannot compose.
		contains(t, e.resident("o-near", false).say("发布通知"), "仅限已绑定微信的工作人员")

		// 张 composes a red rainstorm warning for 东湖社区.
		zhang.transcript(t, []step{
			{"发布通知", []string{"请选择类型"}},
			{"2", []string{"请选择灾害类型", "1. 暴雨"}},
			{"1", []string{"请选择预警级别"}},
			{"红色", []string{"请发送标题"}},
			{"今夜东湖片区有特大暴雨，请立即做好防范", []string{"请发送正文"}},
			{"预计今晚20时至明早8时东湖片区降雨量将超过150毫米。请不要前往地下车库和低洼地带，住在一楼的居民请提前转移贵重物品。", []string{"请选择发送范围"}},
			{"2", []string{"请选择社区", "1. 东湖社区"}},
			{"1", []string{"请核对", "暴雨红色预警", "模板消息", "标题：今夜东湖片区有特大暴雨，请立即做好防范", "须另一名工作人员审核"}},
		})
		done := zhang.say("确认")
		contains(t, done, "等待另一名工作人员审核")
		m := noticeNumber.FindStringSubmatch(done)
		if m == nil {
			t.Fatalf("no notice number in %q", done)
		}
		nid, _ := strconv.ParseInt(m[1], 10, 64)

		e.sendNotices()
		for id := range residents {
			if got := e.noticeMessages(id, nid); len(got) != 0 {
				t.Fatalf("%s got an unapproved red warning: %+v", id, got)
			}
		}
		contains(t, zhang.say("批准 "+m[1]), "须由另一名工作人员审核")
		contains(t, li.say("待审核"), "第"+m[1]+"号", "暴雨红色预警", "今夜东湖片区有特大暴雨")
		contains(t, li.say("批准 "+m[1]), "已批准第"+m[1]+"号暴雨红色预警")
		e.sendNotices()

		// Exactly once, through the right channel.
		link := "https://aq.example.gov.cn/notices/" + m[1]
		for id, want := range map[string]string{"o-near": "custom", "o-quiet": "template", "o-muted": "template"} {
			got := e.noticeMessages(id, nid)
			if len(got) != 1 || got[0].Kind != want {
				t.Fatalf("%s: %+v, want one %s message", id, got, want)
			}
			if want == "custom" {
				contains(t, got[0].Text, "暴雨红色预警", "今夜东湖片区有特大暴雨", "防御指南", link)
				continue
			}
			if got[0].URL != link || got[0].TemplateID != "TPL-NOTICE" {
				t.Fatalf("%s template: %+v", id, got[0])
			}
			for k, v := range got[0].Data {
				if v == "" || utf8.RuneCountInString(v) > 20 || strings.ContainsAny(v, "\r\n") {
					t.Fatalf("template field %s = %q", k, v)
				}
			}
			// WeChat reports the template delivered.
			e.resident(id, false).push(wechattest.TemplateSendJobFinish(id, got[0].MsgID, "success"))
		}
		if got := e.noticeMessages("o-away", nid); len(got) != 0 {
			t.Fatalf("a resident outside 东湖社区 got it: %+v", got)
		}
		p, err := e.srv.NoticeDesk.Progress(ctx, nid)
		storagetest.Must(t, err)
		if p.Recipients != 3 || p.Delivered != 3 || p.Pending != 0 || p.Failed != 0 {
			t.Fatalf("progress %+v", p)
		}
		contains(t, li.say("通知进度 "+m[1]), "对象 3 人，已送达 3")
		var confirmed int
		storagetest.Must(t, st.DB.Get(&confirmed, "SELECT COUNT(*) FROM notice_deliveries WHERE notice_id = ? AND confirmed = ?", nid, true))
		if confirmed != 2 {
			t.Fatalf("%d template deliveries confirmed by TEMPLATESENDJOBFINISH, want 2", confirmed)
		}

		// 最新通知 lists it for the residents it reached.
		for _, id := range []string{"o-near", "o-quiet", "o-muted"} {
			contains(t, e.resident(id, false).say("最新通知"), "🔴【暴雨红色预警】今夜东湖片区有特大暴雨", link)
		}
		e.sendNotices() // replies to 最新通知 go out as passive replies; nothing else is due

		// Its public page.
		code, page := e.noticeGet("/notices/" + m[1])
		if code != 200 {
			t.Fatalf("page: %d", code)
		}
		contains(t, page, "暴雨红色预警", "今夜东湖片区有特大暴雨", "降雨量将超过150毫米", "东湖社区", "#d93025")

		// Its CAP 1.2 message, and the feed.
		code, doc := e.noticeGet("/cap/" + m[1] + ".xml")
		if code != 200 {
			t.Fatalf("cap: %d", code)
		}
		validateCAPWithXMLLint(t, []byte(doc))
		var alert struct {
			Sent     string   `xml:"sent"`
			MsgType  string   `xml:"msgType"`
			Severity string   `xml:"info>severity"`
			Polygons []string `xml:"info>area>polygon"`
		}
		storagetest.Must(t, xml.Unmarshal([]byte(doc), &alert))
		if alert.Severity != "Extreme" || alert.MsgType != "Alert" || !strings.HasSuffix(alert.Sent, "+08:00") || len(alert.Polygons) != 4 {
			t.Fatalf("CAP %+v", alert)
		}
		_, feed := e.noticeGet("/cap/alerts.xml")
		contains(t, feed, "/cap/"+m[1]+".xml")
	})
}

// validateCAPWithXMLLint validates a CAP message against the OASIS schema that
// CI keeps beside the repository (../shared/schemas), skipping when either
// the schema or xmllint is missing.
func validateCAPWithXMLLint(t *testing.T, doc []byte) {
	t.Helper()
	dir, err := os.Getwd()
	storagetest.Must(t, err)
	xsd := filepath.Join(dir, "..", "..", "shared", "schemas", "CAP-v1.2.xsd")
	if _, err := os.Stat(xsd); err != nil {
		t.Logf("no CAP schema at %s: not validated", xsd)
		return
	}
	lint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Log("xmllint not installed: not validated")
		return
	}
	f := filepath.Join(t.TempDir(), "alert.xml")
	storagetest.Must(t, os.WriteFile(f, doc, 0o600))
	if out, err := exec.Command(lint, "--noout", "--schema", xsd, f).CombinedOutput(); err != nil {
		t.Fatalf("not valid CAP 1.2: %v\n%s\n%s", err, out, doc)
	}
}

func TestNoticesConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := ConfigFromEnv(env())
	storagetest.Must(t, err)
	if n := c.Notices; n.Mass != notices.MassOff || n.Rate != 500 || n.Senders != 8 || n.TemplateID != "" ||
		n.TemplateKeys != notices.DefaultTemplateKeys {
		t.Fatalf("defaults %+v", n)
	}
	c, err = ConfigFromEnv(env("WECHAT_TEMPLATE_NOTICE", "TPL", "WECHAT_TEMPLATE_NOTICE_FIELDS", "title=thing9,kind=thing8,time=time7,note=thing6",
		"HAZARDBOT_NOTICE_MASS", "tag:105", "HAZARDBOT_NOTICE_RATE", "0", "HAZARDBOT_NOTICE_SENDERS", "4"))
	storagetest.Must(t, err)
	if n := c.Notices; n.TemplateID != "TPL" || n.TemplateKeys.Title != "thing9" || n.Mass != notices.MassTag || n.MassTag != 105 ||
		n.Rate != 0 || n.Senders != 4 {
		t.Fatalf("set %+v", n)
	}
	for _, bad := range [][]string{{"HAZARDBOT_NOTICE_MASS", "everyone"}, {"HAZARDBOT_NOTICE_MASS", "tag:x"},
		{"HAZARDBOT_NOTICE_RATE", "fast"}, {"HAZARDBOT_NOTICE_SENDERS", "0"}, {"WECHAT_TEMPLATE_NOTICE_FIELDS", "title"}} {
		_, err := ConfigFromEnv(env(bad...))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != bad[0] {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
