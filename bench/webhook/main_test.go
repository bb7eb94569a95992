package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"hazardbot/bot/wechattest"
	"hazardbot/server"
)

func TestSignatureMatchesWeChatVector(t *testing.T) {
	// shared/WECHAT.md, official doc vector.
	if got := signature("AAAAA", "1714037059", "486452656"); got != "899cf89e464efb63f54ddac96b0a0a235f53aa78" {
		t.Fatalf("signature %s", got)
	}
}

func TestPushIsWhatWeChatSends(t *testing.T) {
	at := time.Unix(1714037059, 0)
	m := wechattest.Message{FromUser: "oBench0001", MsgType: "text", Content: "帮助", MsgID: 24512345678901234, CreateTime: at}
	want := string(m.XML(wechattest.DefaultAccount))
	got := string(appendPush(nil, wechattest.DefaultAccount, "oBench0001", at.Unix(), "帮助", 24512345678901234))
	if got != want {
		t.Fatalf("push\n got %s\nwant %s", got, want)
	}
}

func TestBareHandlerIsAValidWebhook(t *testing.T) {
	srv := httptest.NewServer(bareHandler("tok"))
	defer srv.Close()
	c := &wechattest.Client{URL: srv.URL + "/wechat", Token: "tok", AppID: "wxapp"}
	rep, err := c.Send(wechattest.Text("oBenchResident", "帮助"))
	if err != nil || rep.Problem != "" || rep.XML == nil || rep.XML.Content != "ok" {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	rep, err = c.Send(wechattest.Text("oBenchResident", "帮助"), wechattest.WithSignature("0000"))
	if err != nil || rep.Status != http.StatusForbidden {
		t.Fatalf("forged signature: %+v, %v", rep, err)
	}
	rep, err = c.Send(wechattest.Text("oBenchResident", "帮助"), wechattest.WithTimestamp(time.Now().Add(-10*time.Minute)))
	if err != nil || rep.Status != http.StatusForbidden {
		t.Fatalf("stale timestamp: %+v, %v", rep, err)
	}
}

func TestJudge(t *testing.T) {
	reply := func(content string) []byte {
		return []byte("<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[gh_hazardbot]]></FromUserName>" +
			"<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" + content + "]]></Content></xml>")
	}
	expect := map[string]string{"帮助": "可以这样使用"}
	for _, c := range []struct {
		status int
		body   []byte
		want   outcome
	}{
		{200, reply("可以这样使用"), okExpected},
		{200, reply("忙"), degBusy},
		{200, reply("别的"), degOther},
		{200, reply(""), badBody},
		{200, []byte("success"), degSilent},
		{200, []byte(""), degSilent},
		{200, []byte(`{"errcode":0}`), badBody},
		{500, reply("可以这样使用"), badStatus},
	} {
		if got := judge(c.status, c.body, expect, "帮助", "忙"); got != c.want {
			t.Errorf("judge(%d, %s) = %s, want %s", c.status, c.body, outcomeNames[got], outcomeNames[c.want])
		}
	}
	if !judgeFull(reply("x"), "o1", true) || judgeFull(reply("x"), "o2", true) || !judgeFull([]byte(bareReply), "o2", false) {
		t.Fatal("judgeFull")
	}
}

func TestMedian(t *testing.T) {
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 || median(nil) != 0 {
		t.Fatal("median")
	}
}

// BenchmarkHandler measures one push through each server's handler with no
// network and no generator around it: the per-push server cost, steadier on
// a noisy machine than the load test. Compare cpu-ns/op and allocs/op:
//
//	go test ./bench/webhook -run '^$' -bench Handler -count 6
func BenchmarkHandler(b *testing.B) {
	api := httptest.NewServer(wechattest.NewAPI(server.DemoAppID, server.DemoSecret))
	defer api.Close()
	hb, err := startHazardbot(context.Background(), "bench", "", api.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer hb.close()
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"a=bare", bareHandler(server.DemoToken)},
		{"b=hazardbot-memory", hb.srv.Handler()},
	}
	s := newSigner(server.DemoToken)
	defer s.close()
	for _, h := range handlers {
		b.Run(h.name, func(b *testing.B) {
			var id int64 = time.Now().UnixMicro() << 4
			pool := *s.pool.Load()
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				i++
				id++
				openid := fmt.Sprintf("oBench%022d", i%1000)
				body := appendPush(nil, wechattest.DefaultAccount, openid, time.Now().Unix(), "帮助", id)
				req := httptest.NewRequest(http.MethodPost, "/wechat?"+pool[i%signedPool].query+openid, bytes.NewReader(body))
				rec := httptest.NewRecorder()
				h.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			// Process CPU per push: on a shared machine steadier than ns/op,
			// which also counts the time other processes held the CPU.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
