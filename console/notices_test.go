package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"hazardbot/bot"
	"hazardbot/bot/wechattest"
	"hazardbot/content"
	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// withNotices mounts the notice pages on the console, with a dispatcher
// delivering through a fake WeChat.
func (e *env) withNotices() (*notices.Dispatcher, *wechattest.API) {
	e.t.Helper()
	cont := content.MustLoadEmbedded()
	get := func() *content.Content { return cont }
	e.st.Now = e.clock.Now
	desk := &notices.Service{Store: e.st, Content: get, Now: e.clock.Now, PublicURL: "https://aq.example.gov.cn"}
	e.c.AddNotices(desk)
	api := wechattest.NewAPI("wxconsole", "secret")
	api.SetNow(e.clock.Now)
	wx := httptest.NewServer(api)
	e.t.Cleanup(wx.Close)
	client := bot.NewClient("wxconsole", "secret", wx.URL, storage.NewMemorySessions(e.clock.Now), slog.New(slog.DiscardHandler))
	d := &notices.Dispatcher{Store: e.st, Sender: client, Content: get, Now: e.clock.Now, Code: bot.ErrCode,
		Config: notices.Config{TemplateID: "TPL", PublicURL: "https://aq.example.gov.cn"}}
	return d, api
}

var noticePageLink = regexp.MustCompile(`/console/notices/(\d+)`)

// noticeComposeForm is a red rainstorm warning for 东湖社区 as typed in the form.
func noticeComposeForm(kv ...string) []string {
	base := map[string]string{"kind": "warning", "level": "red", "hazard": "rainstorm", "title": "东湖片区特大暴雨红色预警",
		"body": "预计今晚东湖片区降雨量超过150毫米，请勿前往地下车库。", "audience": "communities", "community": "c1"}
	for i := 0; i+1 < len(kv); i += 2 {
		base[kv[i]] = kv[i+1]
	}
	var out []string
	for k, v := range base {
		out = append(out, k, v)
	}
	return out
}

// TestNoticePages: compose, preview as residents will see it (chat and
// template form), submit, approval by a second staff member only, progress
// by reason; withdrawal; the rules refuse what they must, and the pages say
// why.
func TestNoticePages(t *testing.T) {
	e := newEnv(t)
	d, api := e.withNotices()
	ctx := context.Background()
	for _, id := range []string{"o-c1-a", "o-c1-b", "o-gone"} {
		storagetest.Must(t, e.st.SetSubscribed(ctx, id, true, e.clock.Now().Add(-72*time.Hour)))
		storagetest.Must(t, e.st.SetLastLocation(ctx, id, 36.0650, 103.8480, e.clock.Now()))
	}
	api.Unfollow("o-gone")

	// Anonymous visitors go to the login page; a viewer reads but cannot write.
	anon := e.browser()
	if p := anon.get("/console/notices"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/console/login") {
		t.Fatalf("anonymous: %d %q", p.status, p.location)
	}
	kan := e.as("kan")
	want(t, kan.get("/console/notices"), http.StatusOK, "通知预警")
	want(t, kan.get("/console/notices/new"), http.StatusForbidden)
	want(t, kan.form("/console/notices", noticeComposeForm()...), http.StatusForbidden)

	// A community worker is offered their own community only, and refused others.
	donghu := e.as("donghu")
	p := donghu.get("/console/notices/new")
	want(t, p, http.StatusOK, "东湖社区")
	if strings.Contains(p.body, "西园社区") || strings.Contains(p.body, `value="all"`) {
		t.Fatal("community staff offered another community or everyone")
	}
	want(t, donghu.form("/console/notices", noticeComposeForm("community", "c2")...), http.StatusForbidden, "只能向本社区发送")

	// The form keeps what was typed when the rules refuse it.
	jiedao := e.as("jiedao")
	want(t, jiedao.form("/console/notices", noticeComposeForm("title", "")...), http.StatusUnprocessableEntity,
		"标题需要 2 到 40 个字", "预计今晚东湖片区降雨量超过150毫米")
	want(t, jiedao.form("/console/notices", noticeComposeForm("send_at", "明天")...), http.StatusBadRequest, "时间格式不对")

	// Compose → preview.
	p = jiedao.form("/console/notices", noticeComposeForm()...)
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.status, p.body)
	}
	id := noticePageLink.FindStringSubmatch(p.location)[1]
	page := "/console/notices/" + id
	want(t, jiedao.get(p.location), http.StatusOK, "已保存草稿", "🔴【暴雨红色预警】东湖片区特大暴雨红色预警",
		"防御指南", "https://aq.example.gov.cn/notices/"+id, `id="preview-template"`, "东湖片区特大暴雨红色预警",
		"暴雨红色预警", "提交审核")
	want(t, jiedao.get(page+"/edit"), http.StatusOK, `value="东湖片区特大暴雨红色预警"`)
	want(t, jiedao.form(page+"/edit", noticeComposeForm("title", "东湖片区特大暴雨预警（修订）")...), http.StatusSeeOther)

	// Submit: a red warning waits for a second staff member.
	want(t, jiedao.form(page+"/submit"), http.StatusSeeOther)
	p = jiedao.get(page)
	want(t, p, http.StatusOK, "等待另一名街道工作人员审核", "您是提交人")
	if strings.Contains(p.body, `id="approve"`) {
		t.Fatal("the author is offered approval")
	}
	want(t, jiedao.form(page+"/approve"), http.StatusForbidden, "须由另一名工作人员审核")
	want(t, donghu.form(page+"/approve"), http.StatusForbidden, "只有街道工作人员或管理员可以审核")
	admin := e.as("admin")
	want(t, admin.get(page), http.StatusOK, `id="approve"`)
	want(t, admin.form(page+"/approve"), http.StatusSeeOther)
	want(t, admin.form(page+"/approve"), http.StatusConflict, "不需要审核")

	// Delivery and its progress, by channel and by reason.
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want(t, jiedao.get(page), http.StatusOK, "已发送", `<b>3</b><span>发送对象</span>`, `<b>2</b><span>已送达</span>`,
		`<b>1</b><span>未送达</span>`, "已取消关注", "模板消息", "审核人", "更新预警", "解除预警")
	want(t, jiedao.get("/console/notices?state=sent"), http.StatusOK, "东湖片区特大暴雨预警（修订）", "3 人")

	// Lift it: a draft that refers to it.
	p = jiedao.form(page + "/lift")
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "/edit?done=lift") {
		t.Fatalf("lift: %d %q", p.status, p.location)
	}
	want(t, jiedao.get(p.location), http.StatusOK, "解除：暴雨红色预警", "已生成解除预警的草稿")

	// Scheduled for later, sent now, withdrawn: the actions and their refusals.
	p = jiedao.form("/console/notices", noticeComposeForm("kind", "notice", "title", "社区停水通知", "audience", "all",
		"send_at", e.clock.Now().Add(3*time.Hour).In(noticeZone).Format("2006-01-02T15:04"))...)
	later := "/console/notices/" + noticePageLink.FindStringSubmatch(p.location)[1]
	want(t, jiedao.get(later), http.StatusOK, "提交（按定时发送）")
	want(t, jiedao.form(later+"/submit"), http.StatusSeeOther)
	want(t, jiedao.get(later), http.StatusOK, "不等定时，立即发送")
	want(t, jiedao.form(later+"/cancel", "reason", "通知有误"), http.StatusSeeOther)
	want(t, jiedao.get(later), http.StatusOK, "已撤回", "通知有误")
	want(t, jiedao.form(later+"/submit"), http.StatusConflict)
	want(t, jiedao.form(later+"/frobnicate"), http.StatusNotFound)
	want(t, jiedao.post(later+"/cancel", url.Values{"csrf": {"forged"}}), http.StatusForbidden, "安全校验未通过")
}

var noticeZone = time.FixedZone("CST", 8*3600)
