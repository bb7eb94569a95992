package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"hazardbot/content"
	"hazardbot/storage"
)

// petState is the state of a small flow used to exercise the engine.
type petState struct {
	Name  string `json:"name"`
	Age   int    `json:"age"`
	Saved bool   `json:"saved"`
}

type savePet struct{ Name string }

func petFlow(saved *[]string, fail *bool) *Flow[petState] {
	return &Flow[petState]{
		Name: "pet", Title: "登记宠物", Version: 2, First: "name",
		Steps: map[string]Step[petState]{
			"name": {
				Ask: func(c *Ctx, s *petState) string { return "宠物叫什么？" },
				Handle: func(c *Ctx, s *petState, in Input) Result {
					if len([]rune(in.Text)) < 2 {
						return Result{Hint: "名字至少两个字，比如“旺财”。"}
					}
					s.Name = in.Text
					return Result{Next: "age"}
				},
			},
			"age": {
				Ask: func(c *Ctx, s *petState) string { return s.Name + "几岁了？" },
				Handle: func(c *Ctx, s *petState, in Input) Result {
					n, err := strconv.Atoi(in.Text)
					if err != nil || n < 0 || n > 40 {
						return Result{Hint: "请回复数字，比如 3。"}
					}
					s.Age = n
					return Result{Next: "confirm"}
				},
			},
			"confirm": {
				Ask: func(c *Ctx, s *petState) string { return "确认登记 " + s.Name + "？回复“确认”" },
				Handle: func(c *Ctx, s *petState, in Input) Result {
					if in.Text != "确认" {
						return Result{Hint: "回复“确认”完成登记。"}
					}
					return Result{Done: true, Effects: []any{savePet{s.Name}}}
				},
			},
		},
		Begin: func(c *Ctx, s *petState, in Input) Result {
			if in.Kind == KindImage {
				s.Name = "照片里的宠物"
				return Result{Say: []string{"收到照片。"}, Next: "age"}
			}
			return Result{Next: "name"}
		},
		Apply: func(c *Ctx, s *petState, e any) ([]string, error) {
			if *fail {
				return nil, errors.New("database down")
			}
			*saved = append(*saved, e.(savePet).Name)
			return []string{"已登记：" + e.(savePet).Name}, nil
		},
		Migrate: func(from int, data json.RawMessage) (petState, string, bool) {
			if from != 1 {
				return petState{}, "", false
			}
			var old struct {
				PetName string `json:"pet_name"`
			}
			if json.Unmarshal(data, &old) != nil || old.PetName == "" {
				return petState{}, "", false
			}
			return petState{Name: old.PetName}, "age", true
		},
	}
}

type harness struct {
	t     *testing.T
	e     *Engine
	now   time.Time
	saved []string
	fail  bool
	sess  *storage.MemorySessions
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	h.sess = storage.NewMemorySessions(func() time.Time { return h.now })
	c := content.MustLoadEmbedded()
	h.e = &Engine{Sessions: h.sess, Content: func() *content.Content { return c }, Now: func() time.Time { return h.now },
		Log: slog.New(slog.DiscardHandler), PhotoFlow: "pet"}
	h.e.AddBasics()
	h.e.AddFlow(petFlow(&h.saved, &h.fail))
	h.e.AddRoute(Route{Words: []string{"登记宠物", "宠物"}, Keys: []string{"PET"}, Flow: "pet"})
	return h
}

// say sends text and returns the joined reply.
func (h *harness) say(text string) string {
	h.t.Helper()
	return h.send(Input{Kind: KindText, Text: text})
}

func (h *harness) send(in Input) string {
	h.t.Helper()
	in.OpenID, in.At = "o-test", h.now
	replies, err := h.e.Handle(context.Background(), in)
	if err != nil && !h.fail {
		h.t.Fatalf("Handle(%+v): %v", in, err)
	}
	var parts []string
	for _, r := range replies {
		parts = append(parts, r.Text)
	}
	return strings.Join(parts, "\n---\n")
}

func expect(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Fatalf("reply %q\ndoes not contain %q", got, w)
		}
	}
}

func TestFlowRunsToTheEnd(t *testing.T) {
	h := newHarness(t)
	expect(t, h.say("登记宠物"), "宠物叫什么")
	expect(t, h.say("旺财"), "旺财几岁了")
	expect(t, h.say("3"), "确认登记 旺财")
	expect(t, h.say("确认"), "已登记：旺财")
	if len(h.saved) != 1 || h.saved[0] != "旺财" {
		t.Fatalf("saved %v", h.saved)
	}
	expect(t, h.say("3"), "没太明白") // the flow is over: fallback
}

func TestHintReplacesQuestionAndThreeMissesOfferAWayOut(t *testing.T) {
	h := newHarness(t)
	h.say("宠物")
	got := h.say("a")
	if got != "名字至少两个字，比如“旺财”。" {
		t.Fatalf("first miss: %q", got)
	}
	h.say("b")
	expect(t, h.say("c"), "名字至少两个字", "取消", "0931-8888110")
	expect(t, h.say("旺财"), "旺财几岁了") // still in the flow, misses reset
}

func TestGlobalWordsInEveryStep(t *testing.T) {
	for _, step := range []int{0, 1, 2} {
		t.Run("step"+strconv.Itoa(step), func(t *testing.T) {
			h := newHarness(t)
			h.say("宠物")
			answers := []string{"旺财", "3"}
			for i := 0; i < step; i++ {
				h.say(answers[i])
			}
			expect(t, h.say("帮助"), "正在进行：登记宠物")
			if step == 0 {
				expect(t, h.say("返回上一步"), "没有上一步", "宠物叫什么")
			} else {
				back := h.say("返回上一步")
				if step == 1 {
					expect(t, back, "宠物叫什么")
				} else {
					expect(t, back, "旺财几岁了")
				}
				h.say(answers[step-1]) // answer again, earlier answers kept
			}
			expect(t, h.say("菜单"), "请回复功能名称")
			expect(t, h.say("继续"), "接着刚才的登记宠物")
			expect(t, h.say("取消"), "已取消")
			expect(t, h.say("取消"), "没有进行中")
			if len(h.saved) != 0 {
				t.Fatalf("cancelled flow saved %v", h.saved)
			}
		})
	}
}

func TestIdleTimeoutNoticedOnNextMessageAndDraftKept(t *testing.T) {
	h := newHarness(t)
	h.say("宠物")
	h.say("旺财")
	h.now = h.now.Add(31 * time.Minute)
	got := h.say("3")
	expect(t, got, "登记宠物已经30分钟没有继续", "继续")
	if strings.Contains(got, "确认登记") {
		t.Fatalf("a timed-out answer was taken: %q", got)
	}
	expect(t, h.say("继续"), "接着刚才的登记宠物", "旺财几岁了")
	expect(t, h.say("3"), "确认登记 旺财")
}

func TestStartingTheSameFlowResumesItsDraft(t *testing.T) {
	h := newHarness(t)
	h.say("宠物")
	h.say("旺财")
	expect(t, h.send(Input{Kind: KindEvent, Event: EventClick, Key: KeyHelp}), "保存起来", "可以这样使用")
	expect(t, h.send(Input{Kind: KindEvent, Event: EventClick, Key: "PET"}), "接着刚才的登记宠物", "旺财几岁了")
}

func TestPhotoOutsideFlowStartsIt(t *testing.T) {
	h := newHarness(t)
	expect(t, h.send(Input{Kind: KindImage, MediaID: "m1"}), "收到照片", "照片里的宠物几岁了")
}

func TestFailedEffectKeepsStateAndSaysBusy(t *testing.T) {
	h := newHarness(t)
	h.say("宠物")
	h.say("旺财")
	h.say("3")
	h.fail = true
	expect(t, h.say("确认"), "系统有点忙")
	h.fail = false
	expect(t, h.say("确认"), "已登记：旺财")
	if len(h.saved) != 1 {
		t.Fatalf("saved %v", h.saved)
	}
}

func TestOldFlowVersion(t *testing.T) {
	// Fixtures: sessions saved by version 1 of the pet flow, before a deploy.
	cases := []struct {
		name, stored string
		want         []string
	}{
		{"migrated", `{"flow":"pet","v":1,"step":"petname","at":"2026-11-28T08:59:00Z","data":{"pet_name":"小白"}}`,
			[]string{"确认登记 小白"}},
		{"restarted", `{"flow":"pet","v":1,"step":"petname","at":"2026-11-28T08:59:00Z","data":{"other":1}}`,
			[]string{"系统刚刚升级", "宠物叫什么"}},
		{"unknown flow", `{"flow":"gone","v":1,"step":"x","at":"2026-11-28T08:59:00Z","data":{}}`,
			[]string{"没太明白"}},
		{"garbage", `{{{`, []string{"没太明白"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if err := h.sess.Set(context.Background(), "sess:o-test", []byte(tc.stored), 0); err != nil {
				t.Fatal(err)
			}
			expect(t, h.say("5"), tc.want...)
		})
	}
}

func TestRoutesOutsideFlows(t *testing.T) {
	h := newHarness(t)
	expect(t, h.send(Input{Kind: KindEvent, Event: EventSubscribe}), "欢迎关注")
	expect(t, h.say("帮助"), "可以这样使用")
	expect(t, h.say("  你好！"), "可以这样使用")
	expect(t, h.say("随便说点什么"), "没太明白")
	expect(t, h.send(Input{Kind: KindEvent, Event: "VIEW", Key: "https://x"}), "")
	expect(t, h.send(Input{Kind: KindOther}), "暂时还不能处理")
	expect(t, h.send(Input{Kind: KindVoice}), "没太明白")
}

func TestPackKeepsRepliesUnderWeChatsLimit(t *testing.T) {
	long := strings.Repeat("安", 600) // 1800 bytes
	got := pack([]string{long, long, "短"})
	if len(got) != 2 {
		t.Fatalf("got %d replies", len(got))
	}
	for _, r := range got {
		if len(r.Text) > maxReplySize {
			t.Fatalf("reply of %d bytes", len(r.Text))
		}
	}
}

func TestPackSplitsOneHugeText(t *testing.T) {
	huge := strings.Repeat("很长的一行没有换行", 500) + "\n" + strings.Repeat("第二段", 10)
	got := pack([]string{huge})
	var joined strings.Builder
	for _, r := range got {
		if len(r.Text) > maxReplySize || !utf8.ValidString(r.Text) {
			t.Fatalf("reply of %d bytes, valid UTF-8 %v", len(r.Text), utf8.ValidString(r.Text))
		}
		joined.WriteString(r.Text)
	}
	if !strings.Contains(joined.String(), "第二段第二段") || len(got) < 2 {
		t.Fatalf("lost text: %d replies", len(got))
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{" 取消。": "取消", "ＨＥＬＰ！": "help", "上报\n": "上报", "“菜单”": "菜单"} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocationPickerEchoIsAnsweredOnce(t *testing.T) {
	h := newHarness(t)
	var picked int
	h.e.AddRoute(Route{Keys: []string{"PICK"}, Answer: func(c *Ctx, in Input) ([]string, error) {
		picked++
		return []string{"最近的避难场所"}, nil
	}})
	h.e.LocationFlow = "pet"
	expect(t, h.send(Input{Kind: KindEvent, Event: EventLocationSelect, Key: "PICK", Lat: 36.06, Lng: 103.84}), "最近的避难场所")
	if got := h.send(Input{Kind: KindLocation, Lat: 36.06, Lng: 103.84}); got != "" {
		t.Fatalf("the picker's echo got an answer: %q", got)
	}
	// Another point is a new location and starts the location flow.
	expect(t, h.send(Input{Kind: KindLocation, Lat: 36.07, Lng: 103.84}), "宠物叫什么")
	// Inside a flow that takes no location, the picker is a menu request.
	h.say("取消")
	h.say("宠物")
	h.e.LocationFlow = "report"
	expect(t, h.send(Input{Kind: KindEvent, Event: EventLocationSelect, Key: "PICK", Lat: 36.05, Lng: 103.84}), "最近的避难场所")
	if picked != 2 {
		t.Fatalf("picked %d", picked)
	}
}
