package bot

import (
	"encoding/xml"
	"testing"
	"time"
)

// TestPassiveTextMatchesEncodingXML keeps the hand-built reply byte for byte
// what encoding/xml makes of it.
func TestPassiveTextMatchesEncodingXML(t *testing.T) {
	type reply struct {
		XMLName      xml.Name `xml:"xml"`
		ToUserName   cdata
		FromUserName cdata
		CreateTime   int64
		MsgType      cdata
		Content      cdata
	}
	now := time.Unix(1795858303, 0)
	for _, text := range []string{"您好", "", "a]]>b]]>", "<script>&amp;</script>", "第一行\n第二行", "]]]>"} {
		m := &push{FromUserName: "o-1]]>", ToUserName: "gh_1"}
		want, err := xml.Marshal(reply{ToUserName: cdata{m.FromUserName}, FromUserName: cdata{m.ToUserName},
			CreateTime: now.Unix(), MsgType: cdata{"text"}, Content: cdata{text}})
		if err != nil {
			t.Fatal(err)
		}
		if got := passiveText(m, text, now); string(got) != string(want) {
			t.Errorf("text %q:\n got %s\nwant %s", text, got, want)
		}
	}
}

func TestTouchLimiter(t *testing.T) {
	var l touchLimiter
	now := time.Unix(1795858303, 0)
	if !l.due("o1", now) || l.due("o1", now.Add(30*time.Second)) || !l.due("o2", now) || !l.due("o1", now.Add(61*time.Second)) {
		t.Fatal("once a minute per resident")
	}
}
