package dialogs

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hazardbot/content"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var fuzzWords = []string{"上报", "1", "燃气", "取消", "返回上一步", "帮助", "菜单", "继续", "确认", "修改2", "修改4", "匿名", "完成",
	"跳过", "13912345678", "是", "不是", "保留", "重发", "我的上报", "楼道堆满了纸箱堵住通道", "着火了", "YH-20261128-0001",
	"", "<script>alert(1)</script>", "'; DROP TABLE reports; --", "\x00\xff", strings.Repeat("长", 3000), "🔥🔥🔥"}

// FuzzConversation drives random message sequences through the engine with
// the report flow: it must never panic or fail, always answer a message, and
// never leave a resident stuck — after 取消, 帮助 always brings the help.
func FuzzConversation(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{0, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30})
	f.Add([]byte{40, 41, 42, 43, 44, 45, 46, 47})
	st := storagetest.OpenSQLite(f)
	c := content.MustLoadEmbedded()
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 60 {
			script = script[:60]
		}
		now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		e := &Engine{Sessions: storage.NewMemorySessions(func() time.Time { return now }),
			Content: func() *content.Content { return c }, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler)}
		e.AddBasics()
		e.AddReports(st, 1000)
		send := func(in Input) []Reply {
			in.OpenID, in.At = "o-fuzz", now
			replies, err := e.Handle(context.Background(), in)
			if err != nil {
				t.Fatalf("Handle(%+v): %v", in, err)
			}
			return replies
		}
		for _, b := range script {
			var in Input
			switch k := int(b) % 40; {
			case k < len(fuzzWords):
				in = Input{Kind: KindText, Text: fuzzWords[k]}
			case k == 30:
				in = Input{Kind: KindImage, MediaID: "m", PicURL: "http://p"}
			case k == 31:
				in = Input{Kind: KindLocation, Lat: 36.065, Lng: 103.848, Label: "东湖路"}
			case k == 32:
				in = Input{Kind: KindLocation, Lat: -91, Lng: 500}
			case k == 33:
				in = Input{Kind: KindEvent, Event: EventClick, Key: KeyReport}
			case k == 34:
				in = Input{Kind: KindEvent, Event: EventLocationSelect, Key: "SHELTER", Lat: 36.06, Lng: 103.84}
			case k == 35:
				in = Input{Kind: KindVoice, Text: ""}
			case k == 36:
				in = Input{Kind: KindEvent, Event: EventPicPhoto, Key: KeyReportPhoto}
			case k == 37:
				now = now.Add(31 * time.Minute)
				continue
			default:
				in = Input{Kind: KindOther}
			}
			replies := send(in)
			if in.Kind != KindEvent && len(replies) == 0 {
				t.Fatalf("no answer to %+v", in)
			}
		}
		send(Input{Kind: KindText, Text: "取消"})
		if r := send(Input{Kind: KindText, Text: "帮助"}); len(r) != 1 || r[0].Text != c.Messages.Help {
			t.Fatalf("stuck after 取消: %+v", r)
		}
	})
}

func TestParsePhone(t *testing.T) {
	for in, want := range map[string]bool{"13912345678": true, "139 1234 5678": true, "+86 139-1234-5678": true,
		"１３９１２３４５６７８": true, "12912345678": false, "1391234567": false, "139123456789": false, "abc": false, "": false} {
		if _, ok := parsePhone(in); ok != want {
			t.Errorf("parsePhone(%q) = %v, want %v", in, ok, want)
		}
	}
}

func TestMatchCategory(t *testing.T) {
	c := &Ctx{Content: content.MustLoadEmbedded()}
	for in, want := range map[string]string{"1": "fire", "第2个": "gas", "１０": "chemical", "燃气": "gas", "楼道里电动车飞线充电": "electric",
		"消防通道": "fire", "12": "", "0": "", "随便": "", "": ""} {
		got, ok := matchCategory(c, in)
		if (want == "") == ok || (ok && got.ID != want) {
			t.Errorf("matchCategory(%q) = %q %v, want %q", in, got.ID, ok, want)
		}
	}
}
