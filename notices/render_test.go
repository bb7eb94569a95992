package notices_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"hazardbot/content"
	"hazardbot/notices"
)

func TestShorten(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"短标题", "短标题"},
		{"恰好二十个字的标题恰好二十个字的标题啊", "恰好二十个字的标题恰好二十个字的标题啊"},
		{"第一行\n第二行", "第一行 第二行"},
		{"今夜东湖片区有特大暴雨，请立即做好防范准备并远离低洼地带", "今夜东湖片区有特大暴雨，请立即做好防范…"},
		{"东湖片区今夜有特大暴雨请立即做好防范准备并远离低洼地带", "东湖片区今夜有特大暴雨请立即做好防范准…"},
	} {
		got := notices.Shorten(tc.in, 20)
		if got != tc.want || utf8.RuneCountInString(got) > 20 || strings.ContainsAny(got, "\n\r") {
			t.Errorf("Shorten(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTextFitsWeChat: a long body is cut so the message stays under
// WeChat's 2048 bytes and still ends with the link to the full text.
func TestTextFitsWeChat(t *testing.T) {
	c := content.MustLoadEmbedded()
	n := notices.Notice{ID: 9, Kind: notices.KindWarning, Level: notices.LevelOrange, Hazard: "wind", Title: "大风橙色预警",
		Body: strings.Repeat("大风天气请收好阳台物品。", 80), PublishedAt: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)}
	link := notices.Link("https://aq.example.gov.cn", n.ID)
	text := notices.Text(&n, c, link)
	if len(text) > notices.MaxTextBytes || !strings.HasSuffix(text, link) || !strings.Contains(text, "…") ||
		!utf8.ValidString(text) || !strings.Contains(text, "防御指南") {
		t.Fatalf("%d bytes:\n%s", len(text), text)
	}
	for _, f := range notices.TemplateFields(&n, c, notices.DefaultTemplateKeys) {
		if f.Value == "" || utf8.RuneCountInString(f.Value) > 20 || strings.ContainsAny(f.Value, "\n\r") {
			t.Errorf("template field %s = %q", f.Key, f.Value)
		}
	}
}
