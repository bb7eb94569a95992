package server

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/bot/wechattest"
	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var (
	deskZhang = notices.Staff{ID: "staff:zhang", Name: "张三", Role: hazardbot.RoleStreet}
	deskLi    = notices.Staff{ID: "staff:li", Name: "李四", Role: hazardbot.RoleStreet}
)

// publishNotice puts a notice out through the desk as staff would in the
// console, approving it when it needs that.
func (e *env) publishNotice(n notices.Notice) notices.Notice {
	e.t.Helper()
	ctx := context.Background()
	n, err := e.srv.NoticeDesk.Create(ctx, deskZhang, n)
	storagetest.Must(e.t, err)
	n, err = e.srv.NoticeDesk.Submit(ctx, deskZhang, n.ID)
	storagetest.Must(e.t, err)
	if n.State == notices.StateApproval {
		n, err = e.srv.NoticeDesk.Approve(ctx, deskLi, n.ID)
		storagetest.Must(e.t, err)
	}
	e.sendNotices()
	return n
}

func chatWarning(level notices.Level, hazard, title string) notices.Notice {
	return notices.Notice{Kind: notices.KindWarning, Level: level, Hazard: hazard, Title: title,
		Body: "请居民做好防范，减少外出，注意安全。", Audience: notices.Audience{Kind: notices.AudienceAll}}
}

func chatNotice(title string) notices.Notice {
	return notices.Notice{Kind: notices.KindNotice, Title: title, Body: "本周六上午九点社区广场开展消防演练。",
		Audience: notices.Audience{Kind: notices.AudienceAll}}
}

// TestResidentNoticesInTheChat: 最新通知 from the menu and in words, warnings
// first by level; 通知设置 and what muting lets through.
func TestResidentNoticesInTheChat(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss, func(c *Config, o *Options) {
			c.PublicURL = "https://aq.example.gov.cn"
			c.Notices.TemplateID = "TPL-NOTICE"
		})
		r := e.resident("o-reader", false)
		r.push(wechattest.Subscribe(r.id))
		contains(t, r.push(wechattest.Click(r.id, "NOTICES")), "目前没有生效的通知和预警")

		plain := e.publishNotice(chatNotice("消防演练通知"))
		e.clock.Advance(time.Minute)
		yellow := e.publishNotice(chatWarning(notices.LevelYellow, "heat", "高温黄色预警"))
		e.clock.Advance(time.Minute)
		orange := e.publishNotice(chatWarning(notices.LevelOrange, "wind", "大风橙色预警"))
		list := r.say("最新通知")
		i, j, k := strings.Index(list, "大风橙色预警"), strings.Index(list, "高温黄色预警"), strings.Index(list, "消防演练通知")
		if i < 0 || j < 0 || k < 0 || !(i < j && j < k) {
			t.Fatalf("最新通知 not warnings first by level:\n%s", list)
		}
		for _, n := range []notices.Notice{plain, yellow, orange} {
			contains(t, list, "https://aq.example.gov.cn/notices/"+strconv.FormatInt(n.ID, 10))
		}
		contains(t, list, "通知设置")

		// Mute: ordinary notices and blue/yellow warnings stop; orange and
		// red still come.
		r.transcript(t, []step{
			{"通知设置", []string{"当前：接收全部", "2. 免打扰"}},
			{"3", []string{"请回复 1（接收全部）或 2"}},
			{"免打扰", []string{"普通通知不再打扰您", "橙色、红色预警"}},
			{"通知设置", []string{"当前：只接收橙色、红色预警"}},
			{"好的", []string{"请回复 1（接收全部）或 2"}},
			{"取消", []string{"已"}},
		})
		before := len(e.api.Sent(r.id))
		muted := []notices.Notice{e.publishNotice(chatNotice("停水通知")),
			e.publishNotice(chatWarning(notices.LevelBlue, "fog", "大雾蓝色预警")),
			e.publishNotice(chatWarning(notices.LevelYellow, "lightning", "雷电黄色预警"))}
		red := e.publishNotice(chatWarning(notices.LevelRed, "rainstorm", "暴雨红色预警"))
		got := e.api.SentAfter(r.id, before)
		if len(got) != 1 || !strings.Contains(got[0].Text, "暴雨红色预警") {
			t.Fatalf("a muted resident got %+v, want only the red warning", got)
		}
		// Muting stops pushes, not reading: 最新通知 still lists the
		// warnings (the five most important in force).
		list = r.say("最新通知")
		for _, n := range append(muted[1:], red) {
			contains(t, list, n.Title)
		}
		if strings.Count(list, "https://aq.example.gov.cn/notices/") != 5 {
			t.Fatalf("最新通知 should list five:\n%s", list)
		}
		r.transcript(t, []step{{"通知设置", nil}, {"1", []string{"您会收到全部通知和预警"}}})
		again := e.publishNotice(chatNotice("停电通知"))
		if len(e.noticeMessages(r.id, again.ID)) != 1 {
			t.Fatal("after unmuting, an ordinary notice did not come")
		}
	})
}

// TestComposeInTheChat: who may compose, the hints when an answer doesn't
// fit, an audience around a place, straight sending of what needs no
// approval, rejection by a second staff member, and progress.
func TestComposeInTheChat(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		e := newEnv(t, st, ss, func(c *Config, o *Options) { c.Notices.TemplateID = "TPL-NOTICE" })
		ctx := context.Background()
		for _, id := range []string{"o-park-1", "o-park-2", "o-far"} {
			r := e.resident(id, false)
			r.push(wechattest.Subscribe(id))
		}
		e.resident("o-park-1", false).push(wechattest.LocationEvent("o-park-1", insideLat, insideLng, 20))
		e.resident("o-park-2", false).push(wechattest.LocationEvent("o-park-2", insideLat+0.002, insideLng, 20))
		e.resident("o-far", false).push(wechattest.LocationEvent("o-far", insideLat+0.05, insideLng, 20))

		contains(t, e.resident("o-park-1", false).say("发布通知"), "仅限已绑定微信的工作人员")
		contains(t, e.resident("o-park-1", false).say("待审核"), "仅限已绑定微信的工作人员")

		// A read-only console account, bound, may not compose.
		viewer := e.resident("o-viewer", false)
		viewer.push(wechattest.Subscribe(viewer.id))
		vid, err := st.CreateStaff(ctx, storage.Staff{Username: "zhao", PasswordHash: []byte("$2a$10$x"), Role: hazardbot.RoleViewer}, e.clock.Now())
		storagetest.Must(t, err)
		storagetest.Must(t, st.SetBindCode(ctx, vid, "135790", e.clock.Now().Add(time.Hour), e.clock.Now()))
		contains(t, viewer.say("绑定 135790"), "zhao")
		contains(t, viewer.say("发布通知"), "仅限已绑定微信的工作人员")

		zhang, li := e.resident("o-zhang", false), e.resident("o-li", false)
		for _, s := range []*resident{zhang, li} {
			s.push(wechattest.Subscribe(s.id))
		}
		e.srv.Webhook.Wait()
		for _, s := range []*resident{zhang, li} {
			storagetest.Must(t, st.SetRole(ctx, s.id, storage.RoleStaff))
		}
		zhang.transcript(t, []step{
			{"发布通知", []string{"1. 通知", "2. 预警"}},
			{"3", []string{"请回复 1（通知）或 2（预警）"}},
			{"1", []string{"请发送标题"}},
			{"好", []string{"标题需要 2 到 40 个字"}},
			{"东湖公园今晚闭园检修", []string{"请发送正文"}},
			{"闭园", []string{"正文需要 5 到 1000 个字"}},
			{"因电路检修，东湖公园今晚19点至明早7点闭园，请勿入内。", []string{"请选择发送范围"}},
			{"4", []string{"请发送位置"}},
			{"东湖公园", []string{"请发送一个位置"}},
			{"<inside>", []string{"周边多远"}},
			{"50", []string{"100 到 20000"}},
			{"800米", []string{"请核对", "东湖路18号周边800米", "东湖公园今晚闭园检修"}},
			{"返回上一步", []string{"周边多远"}},
			{"800", []string{"请核对"}},
		})
		done := zhang.say("确认")
		contains(t, done, "正在发送")
		id := noticeNumber.FindStringSubmatch(done)[1]
		e.sendNotices()
		nid, _ := strconv.ParseInt(id, 10, 64)
		// 张 sent his location for the audience, so he is nearby too.
		for who, want := range map[string]int{"o-park-1": 1, "o-park-2": 1, "o-zhang": 1, "o-far": 0} {
			if got := len(e.noticeMessages(who, nid)); got != want {
				t.Fatalf("%s got %d, want %d", who, got, want)
			}
		}
		contains(t, zhang.say("通知进度 "+id), "已发送", "对象 3 人，已送达 3，待发送 0，未送达 0")

		// An orange warning, sent back by the second staff member.
		zhang.transcript(t, []step{
			{"发布预警", []string{"请选择类型"}},
			{"2", []string{"暴雨"}},
			{"火灾", []string{"请选择预警级别"}},
			{"紫色", []string{"请回复 1-4"}},
			{"橙色预警", []string{"请发送标题"}},
			{"东湖小区3号楼火情", []string{"请发送正文"}},
			{"东湖小区3号楼发生火情，附近居民请按疏散指示撤离。", []string{"请选择发送范围"}},
			{"2", []string{"1. 东湖社区"}},
			{"9", []string{"请回复社区前面的数字"}},
			{"1 2", []string{"东湖社区、西园社区", "须另一名工作人员审核"}},
		})
		done = zhang.say("确认")
		contains(t, done, "等待另一名工作人员审核")
		id = noticeNumber.FindStringSubmatch(done)[1]
		contains(t, li.say("驳回 "+id+" 请写明撤离路线"), "已退回第"+id+"号火灾橙色预警")
		nid, _ = strconv.ParseInt(id, 10, 64)
		n, err := e.srv.NoticeDesk.Get(ctx, nid)
		storagetest.Must(t, err)
		if n.State != notices.StateDraft || n.RejectNote != "请写明撤离路线" {
			t.Fatalf("after 驳回: %+v", n)
		}
		contains(t, li.say("批准 "+id), "不需要审核")
		contains(t, li.say("待审核"), "目前没有待审核")
		contains(t, li.say("批准 999"), "没有第999号")
	})
}
