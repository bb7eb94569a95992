package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// Points inside the demo grids (东湖社区) and outside the sub-district.
const (
	insideLat, insideLng   = 36.0650, 103.8480
	outsideLat, outsideLng = 39.9087, 116.3975
)

var jpeg = []byte("\xff\xd8\xff\xe0fake jpeg body")

// photo uploads a photo to the fake WeChat and returns the image message.
func (r *resident) photo(n int) wechattest.Message {
	id := r.e.api.AddMedia(append(append([]byte{}, jpeg...), byte(n)), "image/jpeg")
	return wechattest.Image(r.id, "http://mmbiz.example/"+id, id)
}

// fileReport takes a resident from 上报 to a ticket and returns the ticket.
func fileReport(t *testing.T, r *resident, photos int) string {
	t.Helper()
	contains(t, r.say("上报"), "请选择隐患类别", "11. 其他")
	contains(t, r.say("1"), "请用一两句话描述")
	contains(t, r.say("3号楼楼道堆满纸箱，堵住了消防通道"), "请拍照")
	for i := 1; i <= photos; i++ {
		contains(t, r.push(r.photo(i)), "已收到第"+string(rune('0'+i))+"张照片")
	}
	contains(t, r.say("完成"), "请发送隐患位置")
	loc := r.push(wechattest.Location(r.id, insideLat, insideLng, "东湖路18号3号楼"))
	if strings.Contains(loc, "是同一处隐患吗") { // an earlier test report stands there
		loc = r.say("不是")
	}
	contains(t, loc, "留个手机号")
	sum := r.say("139 1234 5678")
	contains(t, sum, "类别：消防安全", "照片：3张", "位置：东湖路18号3号楼", "联系方式：13912345678")
	done := r.say("确认")
	contains(t, done, "已提交，您的工单号是 YH-", "24小时内核实")
	return hazardbot.TicketPattern.FindString(done)
}

func TestFullReportInBothModesAndStatusNotification(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		for _, safe := range []bool{false, true} {
			e := newEnv(t, st, ss, func(c *Config, o *Options) { c.TemplateStatus = "TPL-STATUS" })
			r := e.resident("o-reporter-"+map[bool]string{false: "plain", true: "safe"}[safe], safe)
			ticket := fileReport(t, r, 3)
			contains(t, r.say("我的上报"), ticket, "待核实")
			contains(t, r.say(strings.ToLower(ticket)), "当前状态：待核实")

			e.drain()
			rep, err := st.ReportByTicket(context.Background(), ticket)
			storagetest.Must(t, err)
			if rep.CommunityID != "c1" || rep.CoordSys != "gcj02" || len(rep.Photos) != 3 {
				t.Fatalf("stored report %+v", rep)
			}
			for _, p := range rep.Photos {
				data, err := os.ReadFile(filepath.Join(e.srv.Config.DataDir, p.Path))
				if p.Status != hazardbot.PhotoStored || err != nil || int64(len(data)) != p.Size || len(p.SHA256) != 64 {
					t.Fatalf("photo %+v: %v", p, err)
				}
			}

			// A status change made through the store reaches the resident:
			// by customer-service message inside the 48-hour window …
			before := len(e.api.Sent(r.id))
			_, err = st.ChangeStatus(context.Background(), storage.StatusChange{ReportID: rep.ID, From: hazardbot.StatusPending,
				To: hazardbot.StatusVerified, Actor: "staff:test", Note: "已现场核实，将尽快处理", Public: true, At: e.clock.Now()})
			storagetest.Must(t, err)
			got := r.sent(before)
			if len(got) != 1 || !strings.Contains(got[0], ticket) || !strings.Contains(got[0], "已核实") {
				t.Fatalf("notification: %q", got)
			}
			// … and by template message once the window has closed.
			e.clock.Advance(49 * time.Hour)
			_, err = st.ChangeStatus(context.Background(), storage.StatusChange{ReportID: rep.ID, From: hazardbot.StatusVerified,
				To: hazardbot.StatusAssigned, Actor: "staff:test", Note: "已交办东湖社区，请于3日内完成整改\n谢谢", Public: true, At: e.clock.Now()})
			storagetest.Must(t, err)
			e.drain()
			sent := e.api.Sent(r.id)
			last := sent[len(sent)-1]
			if last.Kind != "template" || last.TemplateID != "TPL-STATUS" || last.Data["character_string1"] != ticket ||
				last.Data["phrase2"] != "已交办" || strings.ContainsAny(last.Data["thing4"], "\n") {
				t.Fatalf("template message %+v", last)
			}
		}
	})
}

// step is one exchange of a transcript: what the resident sends and what
// the reply must say.
type step struct {
	send string
	want []string
}

func (r *resident) transcript(t *testing.T, steps []step) {
	t.Helper()
	for i, s := range steps {
		var got string
		switch {
		case s.send == "<photo>":
			got = r.push(r.photo(i))
		case s.send == "<inside>":
			got = r.push(wechattest.Location(r.id, insideLat, insideLng, "东湖路18号"))
		case s.send == "<outside>":
			got = r.push(wechattest.Location(r.id, outsideLat, outsideLng, "天安门"))
		case s.send == "<pick>":
			got = r.push(wechattest.LocationSelect(r.id, "SHELTER", insideLat, insideLng, "东湖公园", "东湖公园"))
		case s.send == "<voice>":
			got = r.push(wechattest.Voice(r.id, "voice-1", ""))
		case strings.HasPrefix(s.send, "<voice>"):
			got = r.push(wechattest.Voice(r.id, "voice-2", strings.TrimPrefix(s.send, "<voice>")))
		default:
			got = r.say(s.send)
		}
		for _, w := range s.want {
			if !strings.Contains(got, w) {
				t.Fatalf("step %d (%q): reply %q\ndoes not contain %q", i, s.send, got, w)
			}
		}
	}
}

func TestEveryStepAnswersBadInputWithAHint(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	r := e.resident("o-bad", false)
	r.transcript(t, []step{
		{"上报", []string{"请选择隐患类别"}},
		{"99", []string{"请回复 1-11 之间的数字"}},
		{"<voice>", []string{"请回复 1-11"}},
		{"燃气", []string{"燃气味", "119", "请用一两句话描述"}},
		{"漏了", []string{"至少5个字"}},
		{"<voice>", []string{"语音没听清"}},
		{"<voice>" + strings.Repeat("很长的描述", 150), []string{"保留了前500个字", "请拍照"}},
		{"不知道", []string{"请发送照片，或回复“完成”"}},
		{"跳过", []string{"请发送隐患位置"}},
		{"嗯", []string{"请发送位置，或打字写地址"}},
		{"<outside>", []string{"不在天水郡街道范围内", "重发", "保留"}},
		{"什么", []string{"请回复“重发”"}},
		{"重发", []string{"请发送隐患位置"}},
		{"<pick>", []string{"留个手机号"}},
		{"12345", []string{"手机号好像不对"}},
		{"1391234567", []string{"手机号好像不对"}},
		{"匿名", []string{"联系方式：匿名", "位置：东湖公园"}},
		{"好的吧", []string{"请回复“确认”提交"}},
		{"修改2", []string{"请用一两句话描述"}},
		{"楼下燃气管道有股很重的味道", []string{"2. 描述：楼下燃气管道有股很重的味道"}},
		{"修改4", []string{"请发送隐患位置"}},
		{"东湖路18号院内", []string{"位置：东湖路18号院内"}},
		{"确认", []string{"已提交", "2小时内核实"}},
	})
	rep, err := e.srv.Store.ReportsFor(context.Background(), r.id, 5)
	storagetest.Must(t, err)
	if len(rep) != 1 || !rep[0].Urgent || rep[0].HasLocation || rep[0].Category != "gas" || !rep[0].Anonymous {
		t.Fatalf("report %+v", rep)
	}
}

func TestCancelAndBackInEveryStep(t *testing.T) {
	// The answers that take a report to each step in turn.
	path := []step{
		{"上报", []string{"请选择隐患类别"}},
		{"5", []string{"请用一两句话描述"}},
		{"小区门口路面积水很深", []string{"请拍照"}},
		{"<photo>", []string{"已收到第1张"}},
		{"完成", []string{"请发送隐患位置"}},
		{"<inside>", []string{"留个手机号"}},
		{"13812345678", []string{"请核对"}},
	}
	// What 返回上一步 asks again after each depth of that path.
	back := []string{"没有上一步", "请选择隐患类别", "请用一两句话描述", "请用一两句话描述", "已收到第1张", "请发送隐患位置", "留个手机号"}
	for depth := 1; depth <= len(path); depth++ {
		e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
		r := e.resident("o-cancel", false)
		r.transcript(t, path[:depth])
		r.transcript(t, []step{{"返回上一步", []string{back[depth-1]}}})
		if depth > 1 && depth != 4 {
			r.transcript(t, path[depth-1:depth]) // answering again goes on as before
		}
		r.transcript(t, []step{{"取消", []string{"已取消"}}, {"我的上报", []string{"还没有上报过"}}})
	}
}

func TestIdleTimeoutMidReportKeepsTheDraft(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	r := e.resident("o-idle", false)
	r.transcript(t, []step{{"上报", nil}, {"1", nil}, {"消防通道被电动车堵死了", []string{"请拍照"}}})
	e.clock.Advance(31 * time.Minute)
	r.transcript(t, []step{
		{"跳过", []string{"隐患上报已经30分钟没有继续", "继续"}},
		{"继续", []string{"接着刚才的隐患上报", "请拍照"}},
		{"跳过", []string{"请发送隐患位置"}},
	})
}

func TestPhotoFirstLocationFirstAndUrgentWords(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	p := e.resident("o-photo-first", false)
	p.transcript(t, []step{{"<photo>", []string{"收到照片", "已收到第1张", "请选择隐患类别"}}, {"3", []string{"请用一两句话描述"}},
		{"楼道里私拉电线给电动车充电", []string{"已收到第1张"}}, {"完成", []string{"请发送隐患位置"}}})
	l := e.resident("o-location-first", false)
	l.transcript(t, []step{{"<inside>", []string{"请选择隐患类别"}}, {"消防通道", []string{"请用一两句话描述"}},
		{"消防通道被私家车长期占用", []string{"请拍照"}}, {"跳过", []string{"留个手机号"}}})
	u := e.resident("o-urgent", false)
	u.transcript(t, []step{{"3号楼着火了，冒烟很大", []string{"立即拨打 119", "请选择隐患类别"}}, {"1", []string{"请拍照"}}})
}

func TestDuplicateOfferedAndAccepted(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss)
		first := e.resident("o-first", false)
		ticket := fileReport(t, first, 3)
		second := e.resident("o-second", false)
		second.transcript(t, []step{{"上报", nil}, {"消防", nil}, {"楼道被纸箱堵住了", nil}, {"跳过", nil},
			{"<inside>", []string{"附近0米内已有一条同类隐患", ticket, "是同一处隐患吗"}},
			{"也许", []string{"请回复“是”关注已有工单"}},
			{"是", []string{"您已关注工单 " + ticket}},
			{"我的上报", []string{ticket}},
		})
		rep, _ := st.ReportByTicket(context.Background(), ticket)
		if rep.Followers != 1 {
			t.Fatalf("followers %d", rep.Followers)
		}
		// A follower is told like the reporter.
		_, err := st.ChangeStatus(context.Background(), storage.StatusChange{ReportID: rep.ID, From: hazardbot.StatusPending,
			To: hazardbot.StatusVerified, Actor: "staff:test", Public: true, At: e.clock.Now()})
		storagetest.Must(t, err)
		e.drain()
		for _, r := range []*resident{first, second} {
			sent := e.api.Sent(r.id)
			if len(sent) == 0 || !strings.Contains(sent[len(sent)-1].Text, "已核实") {
				t.Fatalf("%s was not told: %+v", r.id, sent)
			}
		}
		third := e.resident("o-third", false)
		third.transcript(t, []step{{"上报", nil}, {"1", nil}, {"另一处楼道堆放杂物", nil}, {"跳过", nil},
			{"<inside>", []string{"是同一处隐患吗"}}, {"不是", []string{"留个手机号"}}})
	})
}

func TestDailyCapAndBlockedResidents(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions, func(c *Config, o *Options) { c.DailyCap = 1 })
	r := e.resident("o-cap", false)
	fileReport(t, r, 3)
	r.transcript(t, []step{{"上报", []string{"今天已经上报了1条"}}, {"<photo>", []string{"今天已经上报了1条"}}})
	e.clock.Advance(24 * time.Hour)
	r.transcript(t, []step{{"上报", []string{"请选择隐患类别"}}, {"取消", nil}})
	storagetest.Must(t, e.srv.Store.SetBlocked(context.Background(), r.id, true))
	r.transcript(t, []step{{"上报", []string{"暂时无法使用"}}})
}

func TestRetriedPhotoCountsOnceAndLostPhotoIsReported(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	r := e.resident("o-retry", false)
	r.transcript(t, []step{{"上报", nil}, {"1", nil}, {"消防栓被杂物挡住了", []string{"请拍照"}}})
	img := r.photo(1)
	push, err := r.c.Prepare(img)
	storagetest.Must(t, err)
	for range 3 { // WeChat's three tries
		req, _ := push.NewRequest(context.Background())
		rep, err := r.c.Do(req)
		if err != nil || !strings.Contains(rep.XML.Content, "已收到第1张") {
			t.Fatalf("retry answer %v %+v", err, rep)
		}
	}
	// A photo whose media id WeChat no longer has.
	lost := wechattest.Image(r.id, "http://mmbiz.example/gone", "expired-media-id")
	contains(t, r.push(lost), "已收到第2张")
	r.transcript(t, []step{{"完成", nil}, {"<inside>", nil}, {"匿名", nil}, {"确认", []string{"已提交"}}})
	e.drain()
	rep, err := e.srv.Store.ReportsFor(context.Background(), r.id, 1)
	storagetest.Must(t, err)
	full, _ := e.srv.Store.Report(context.Background(), rep[0].ID)
	if len(full.Photos) != 2 || full.Photos[0].Status != hazardbot.PhotoStored || full.Photos[1].Status != hazardbot.PhotoLost {
		t.Fatalf("photos %+v", full.Photos)
	}
	sent := e.api.Sent(r.id)
	if len(sent) != 1 || !strings.Contains(sent[0].Text, "第2张照片没能保存") {
		t.Fatalf("lost photo notice: %+v", sent)
	}
}
