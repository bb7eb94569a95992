package dialogs

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// volHarness is the engine with the volunteer and points features on a
// real store, in-process sessions and a clock the test moves.
type volHarness struct {
	t     *testing.T
	e     *Engine
	store *storage.Store
	now   time.Time
	id    string
}

// sat10 is Saturday 14 March 2026, 10:00 in Shanghai.
var sat10 = time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC)

func newVolHarness(t *testing.T, st *storage.Store) *volHarness {
	t.Helper()
	h := &volHarness{t: t, store: st, now: sat10, id: "o-vol-1"}
	c := content.MustLoadEmbedded()
	h.e = &Engine{Sessions: storage.NewMemorySessions(func() time.Time { return h.now }),
		Content: func() *content.Content { return c }, Now: func() time.Time { return h.now },
		Log: slog.New(slog.DiscardHandler)}
	h.e.AddBasics()
	h.e.AddVolunteers(st)
	h.e.AddPoints(st)
	h.e.AddReports(st, 0)
	return h
}

func (h *volHarness) as(openid string) *volHarness { h.id = openid; return h }

func (h *volHarness) send(in Input) string {
	h.t.Helper()
	in.OpenID, in.At = h.id, h.now
	replies, err := h.e.Handle(context.Background(), in)
	if err != nil {
		h.t.Fatalf("Handle(%+v): %v", in, err)
	}
	var parts []string
	for _, r := range replies {
		parts = append(parts, r.Text)
	}
	return strings.Join(parts, "\n---\n")
}

func (h *volHarness) say(text string) string {
	h.t.Helper()
	return h.send(Input{Kind: KindText, Text: text})
}

func (h *volHarness) location(lat, lng float64) string {
	h.t.Helper()
	return h.send(Input{Kind: KindLocation, Lat: lat, Lng: lng, Label: "东湖公园"})
}

// has fails unless got contains every want, and none of the nots (given
// after a "!" marker).
func has(t *testing.T, got string, wants ...string) {
	t.Helper()
	not := false
	for _, w := range wants {
		if w == "!" {
			not = true
			continue
		}
		if strings.Contains(got, w) == not {
			t.Fatalf("reply\n%s\n%s %q", got, map[bool]string{false: "lacks", true: "should not contain"}[not], w)
		}
	}
}

func (h *volHarness) signUp(name string) {
	h.t.Helper()
	has(h.t, h.say("报名志愿者"), "欢迎报名", "请告诉我们您的姓名")
	has(h.t, h.say(name), "请留一个手机号")
	has(h.t, h.say("13912345678"), "您住在哪个社区", "1. 东湖社区")
	has(h.t, h.say("1"), "您有哪些特长")
	has(h.t, h.say("无"), "请核对您的报名信息", "特长：无")
	has(h.t, h.say("确认"), "报名已提交")
}

func (h *volHarness) approve(openid string) {
	h.t.Helper()
	_, err := h.store.DecideVolunteer(context.Background(), storage.VolunteerDecision{OpenID: openid, Approve: true,
		Actor: "staff:test", At: h.now})
	storagetest.Must(h.t, err)
}

func TestVolunteerSignupTranscript(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		h := newVolHarness(t, st)
		has(t, h.say("志愿者"), "欢迎报名天水郡街道安全志愿者", "报名共4步", "请告诉我们您的姓名")
		has(t, h.say("1"), "请发2-20个字的姓名", "!", "手机号")
		has(t, h.say("张三"), "请留一个手机号", "只有工作人员能看到")
		has(t, h.say("12345"), "手机号好像不对")
		has(t, h.say("139 1234 5678"), "您住在哪个社区", "1. 东湖社区", "5. ")
		has(t, h.say("9"), "请回复 1-5 之间的序号")
		has(t, h.say("北苑"), "您有哪些特长", "1. 急救")
		has(t, h.say("1 9"), "请回复 1-8 之间的序号")
		has(t, h.say("返回"), "您住在哪个社区")
		has(t, h.say("1"), "您有哪些特长")
		has(t, h.say("1、消防"), "请核对您的报名信息", "姓名：张三", "手机：13912345678", "社区：东湖社区", "特长：急救、消防")
		has(t, h.say("好的吧"), "请回复“确认”提交报名")
		has(t, h.say("确认"), "报名已提交", "1-3个工作日")
		v, err := st.Volunteer(context.Background(), h.id)
		storagetest.Must(t, err)
		if v.Status != hazardbot.VolunteerPending || v.CommunityID != "c1" || strings.Join(v.Skills, ",") != "急救,消防" {
			t.Fatalf("stored %+v", v)
		}
		has(t, h.send(Input{Kind: KindEvent, Event: EventClick, Key: KeyVolunteer}), "正在审核中", "3月14日提交")

		// Approved in the console (here through storage): the card.
		h.now = h.now.Add(26 * time.Hour)
		h.approve(h.id)
		card := h.say("我的志愿者信息")
		has(t, card, "志愿者证", "编号：ZY-", "姓名：张三", "社区：东湖社区", "手机：139****5678", "特长：急救、消防",
			"加入时间：2026年3月15日", "本月巡查打卡 0 次，累计 0 次", "当前积分：0", "!", "13912345678")
		has(t, h.say("报名志愿者"), "志愿者证") // already one: the card, not a new form
	})
}

func TestVolunteerDeclinedMayApplyAgain(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		h := newVolHarness(t, st)
		h.signUp("李四")
		_, err := st.DecideVolunteer(context.Background(), storage.VolunteerDecision{OpenID: h.id, Actor: "staff:test",
			Note: "不在本街道居住", At: h.now})
		storagetest.Must(t, err)
		has(t, h.say("志愿者"), "没有通过（原因：不在本街道居住）", "回复“报名志愿者”可以重新报名")
		h.signUp("李四")
		v, _ := st.Volunteer(context.Background(), h.id)
		if v.Status != hazardbot.VolunteerPending {
			t.Fatalf("reapplied %+v", v)
		}
	})
}

// A patrol point in the demo grids (东湖社区) and places near and far.
const (
	patrolLat, patrolLng = 36.0650, 103.8480
	nearLat, nearLng     = 36.0653, 103.8482 // ~38 m away
	farLat, farLng       = 36.0700, 103.8480 // ~556 m away
)

func (h *volHarness) patrolPoint() hazardbot.PatrolPoint {
	h.t.Helper()
	p := hazardbot.PatrolPoint{Name: "东湖公园北门", CommunityID: "c1", Lat: patrolLat, Lng: patrolLng, Radius: 100, Active: true}
	storagetest.Must(h.t, h.store.SavePatrolPoint(context.Background(), &p, "staff:test", h.now))
	return p
}

func TestPatrolCheckInTranscript(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		h := newVolHarness(t, st)
		has(t, h.say("打卡"), "巡查打卡是志愿者的功能", "发送“志愿者”报名")
		h.signUp("王五")
		has(t, h.say("打卡"), "巡查打卡是志愿者的功能") // pending is not yet
		h.approve(h.id)
		has(t, h.say("打卡"), "目前还没有设置巡查点")
		h.patrolPoint()

		has(t, h.say("打卡"), "请发送您当前的位置完成巡查打卡")
		has(t, h.say("我到了"), "请发送位置完成打卡")
		far := h.location(farLat, farLng)
		has(t, far, "您离最近的巡查点「东湖公园北门」还有 556 米", "需要在 100 米以内", "!", "请发送您当前的位置")
		has(t, h.location(nearLat, nearLng), "✅ 已在「东湖公园北门」打卡（10:00），+5 积分", "可以发一张现场照片")
		photo := h.send(Input{Kind: KindImage, MediaID: "media-patrol-1", PicURL: "http://mmbiz/1"})
		has(t, photo, "照片已收到")

		// Twice the same day: told, no second check-in.
		h.now = h.now.Add(3 * time.Hour)
		has(t, h.say("巡查打卡"), "请发送您当前的位置")
		has(t, h.location(nearLat, nearLng), "您今天已经在「东湖公园北门」打过卡了（10:00）")
		list, err := st.CheckIns(context.Background(), storage.CheckInFilter{OpenID: h.id})
		storagetest.Must(t, err)
		if len(list) != 1 || list[0].MediaID != "media-patrol-1" || list[0].Distance < 30 || list[0].Distance > 45 {
			t.Fatalf("check-ins %+v", list)
		}

		// The next day: again, without a photo.
		h.now = h.now.Add(24 * time.Hour)
		has(t, h.say("打卡"), "请发送您当前的位置")
		has(t, h.location(patrolLat, patrolLng), "已在「东湖公园北门」打卡（13:00），+5 积分")
		has(t, h.say("完成"), "感谢您的巡查")
		has(t, h.say("志愿者"), "本月巡查打卡 2 次，累计 2 次", "当前积分：10")
		// A location outside the check-in still starts a report.
		has(t, h.location(nearLat, nearLng), "请选择隐患类别")
	})
}

func seedPoints(t *testing.T, st *storage.Store, openid string, points int, key string, at time.Time) {
	t.Helper()
	_, err := st.Award(context.Background(), hazardbot.Award{OpenID: openid, Points: points, Reason: "上报隐患经核实（橙色风险）YH-20260314-0001",
		SourceType: hazardbot.SourceReport, SourceID: "1", Key: key, At: at})
	storagetest.Must(t, err)
}

func TestMyPointsAndRedemptionTranscript(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		h := newVolHarness(t, st)
		has(t, h.say("我的积分"), "您还没有积分", "积分规则")
		has(t, h.say("积分规则"), "蓝色 5 分、黄色 10 分、橙色 20 分、红色 50 分", "答对一题 2 分，每天最多 10 分", "兑换后请在 7 天内领取")
		has(t, h.say("积分兑换"), "暂时没有可兑换的礼品")

		seedPoints(t, st, h.id, 20, "report:1:verified", h.now.Add(-time.Hour))
		seedPoints(t, st, h.id, 10, "report:1:first", h.now.Add(-time.Hour))
		blanket := hazardbot.Reward{Name: "灭火毯", Points: 25, Stock: 3, PerPerson: 1, ValidFrom: h.now.Add(-time.Hour), Active: true}
		extinguisher := hazardbot.Reward{Name: "家用灭火器", Points: 80, Stock: 2, ValidFrom: h.now.Add(-time.Hour), Active: true}
		for _, r := range []*hazardbot.Reward{&blanket, &extinguisher} {
			storagetest.Must(t, st.SaveReward(ctx, r, "staff:test", h.now))
		}
		mine := h.send(Input{Kind: KindEvent, Event: EventClick, Key: KeyPoints})
		has(t, mine, "我的积分：30 分", "本月：获得 30 分，兑换 0 分", "03-14 +20 上报隐患经核实（橙色风险）", "发送“积分兑换”", "!", "待领取")

		shop := h.say("积分兑换")
		has(t, shop, "积分兑换（您现有 30 积分）", "1. 灭火毯 · 25积分（剩3件，每人限1件）", "2. 家用灭火器 · 80积分（剩2件）", "回复序号兑换")
		has(t, h.say("2"), "「家用灭火器」需要 80 积分，您现在有 30 积分，还差 50 分")
		has(t, h.say("灭火毯"), "确认用 25 积分兑换「灭火毯」吗", "7 天内", "党群服务中心")
		has(t, h.say("返回"), "1. 灭火毯")
		has(t, h.say("1"), "确认用 25 积分兑换「灭火毯」吗")
		has(t, h.say("嗯"), "请回复“确认”兑换")
		done := h.say("确认")
		has(t, done, "✅ 兑换成功", "取货码：", "3月21日 10:00 前", "领取「灭火毯」", "已冻结 25 积分")
		held, err := st.HeldRedemptions(ctx, h.id)
		storagetest.Must(t, err)
		if len(held) != 1 || !strings.Contains(done, held[0].Code) {
			t.Fatalf("held %+v", held)
		}
		has(t, h.say("我的积分"), "我的积分：5 分（另有 25 分兑换待领取）", "本月：获得 30 分，兑换 25 分", "待领取的兑换：", "「灭火毯」取货码 "+held[0].Code, "-25 兑换冻结：灭火毯（待领取）")
		// The double click after the flow ended changes nothing.
		has(t, h.say("确认"), "!", "兑换成功")
		if b, _ := st.Balance(ctx, h.id); b != 5 {
			t.Fatalf("balance %d", b)
		}
		// The limit of one per person.
		seedPoints(t, st, h.id, 50, "report:2:verified", h.now)
		h.now = h.now.Add(time.Minute)
		h.say("积分兑换")
		h.say("1")
		has(t, h.say("确认"), "「灭火毯」每人限兑 1 件，您已经兑过了")

		// Sold out between the list and the confirmation.
		other := "o-vol-2"
		seedPoints(t, st, other, 100, "report:3:verified", h.now)
		h.as(other)
		h.say("积分兑换")
		has(t, h.say("2"), "确认用 80 积分兑换「家用灭火器」")
		for _, who := range []string{"o-x1", "o-x2"} {
			seedPoints(t, st, who, 100, "seed:"+who, h.now)
			_, err := st.Redeem(ctx, hazardbot.RedeemRequest{OpenID: who, RewardID: extinguisher.ID, Key: "k:" + who,
				Reason: "兑换冻结：家用灭火器", HoldFor: time.Hour, At: h.now})
			storagetest.Must(t, err)
		}
		has(t, h.say("确认"), "「家用灭火器」刚刚被兑完了")
		if b, _ := st.Balance(ctx, other); b != 100 {
			t.Fatalf("balance after a failed redemption %d", b)
		}
	})
}
