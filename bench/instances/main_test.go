package main

import (
	"hazardbot/bench/internal/benchkit"

	"net/http/httptest"
	"os"
	"testing"
	"time"

	"hazardbot/bot/wechattest"
)

func TestPushIsWhatWeChatSends(t *testing.T) {
	at := time.Unix(1714037059, 0)
	m := wechattest.Message{FromUser: "oBench0001", MsgType: "text", Content: "帮助", MsgID: 24512345678901234, CreateTime: at}
	want := string(m.XML(wechattest.DefaultAccount))
	got := string(appendPush(nil, wechattest.DefaultAccount, "oBench0001", at.Unix(), "帮助", 24512345678901234))
	if got != want {
		t.Fatalf("push\n got %s\nwant %s", got, want)
	}
}

func TestBareHandlerAnswersAsWeChatWants(t *testing.T) {
	srv := httptest.NewServer(benchkit.BareHandler("tok"))
	defer srv.Close()
	c := &wechattest.Client{URL: srv.URL + "/wechat", Token: "tok", AppID: "wxapp"}
	rep, err := c.Send(wechattest.Text("oBenchResident", "帮助"))
	if err != nil || rep.Problem != "" || rep.XML == nil || rep.XML.Content != "ok" {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	if o := judge(rep.Status, rep.Body, map[string]string{}, "帮助", ""); o != okExpected {
		t.Fatalf("judged %s", outcomeNames[o])
	}
	if o := judge(200, []byte("success"), nil, "帮助", ""); o != degSilent {
		t.Fatalf("success judged %s", outcomeNames[o])
	}
}

func TestProcReaders(t *testing.T) {
	for range 2_000_000 { // burn a little CPU so the tick count moves
		_ = time.Now()
	}
	if benchkit.ProcCPU(os.Getpid()) <= 0 {
		t.Fatal("no CPU time read from /proc")
	}
	if rss, hwm := benchkit.ProcMemory(os.Getpid()); rss == 0 || hwm < rss {
		t.Fatalf("VmRSS %d, VmHWM %d", rss, hwm)
	}
}
