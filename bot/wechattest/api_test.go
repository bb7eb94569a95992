package wechattest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenLifecycle(t *testing.T) {
	f := newFake(t)
	old := f.token
	check := func(tok string, want int) {
		t.Helper()
		wantCode(t, f.get(t, "/cgi-bin/user/get", url.Values{"access_token": {tok}}), want)
	}
	check(old, 0)
	check("", 41001)
	check("nonsense", 40001)

	f.clock.Advance(time.Hour)
	fresh := f.fetchToken(t)
	if fresh == old {
		t.Fatal("a new fetch returned the same token")
	}
	f.clock.Advance(TokenGrace - time.Second)
	check(old, 0) // the old one lives 5 minutes after the new fetch
	f.clock.Advance(time.Second)
	check(old, 40001) // then it is "not latest"
	check(fresh, 0)

	f.clock.Advance(TokenTTL - TokenGrace - time.Second)
	check(fresh, 0)
	f.clock.Advance(time.Second)
	check(fresh, 42001)

	third := f.fetchToken(t)
	f.api.ExpireTokens()
	check(third, 42001)
	if got := f.api.TokenFetches(); got != 3 {
		t.Errorf("TokenFetches = %d, want 3", got)
	}
}

func TestTokenCredentials(t *testing.T) {
	f := newFake(t)
	tests := []struct {
		name                 string
		grant, appid, secret string
		want                 int
	}{
		{"wrong secret", "client_credential", testAppID, "nope", 40125},
		{"wrong appid", "client_credential", "wx0", testSecret, 40013},
		{"wrong grant", "password", testAppID, testSecret, 40002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.get(t, "/cgi-bin/token", url.Values{"grant_type": {tt.grant}, "appid": {tt.appid}, "secret": {tt.secret}})
			wantCode(t, res, tt.want)
		})
	}
	res := f.get(t, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {testAppID}, "secret": {testSecret}})
	if res["expires_in"] != float64(7200) {
		t.Errorf("expires_in = %v", res["expires_in"])
	}
}

func TestStableToken(t *testing.T) {
	f := newFake(t)
	body := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret}
	a := f.postToken(t, "/cgi-bin/stable_token", "", body)
	f.clock.Advance(time.Minute)
	b := f.postToken(t, "/cgi-bin/stable_token", "", body)
	if a["access_token"] != b["access_token"] || b["expires_in"] != float64(7200-60) {
		t.Fatalf("plain stable_token calls should share one token: %v then %v", a, b)
	}
	body["force_refresh"] = true
	c := f.postToken(t, "/cgi-bin/stable_token", "", body)
	if c["access_token"] == a["access_token"] {
		t.Fatal("force_refresh returned the old token")
	}
	// Stable tokens live apart from /cgi-bin/token's: the first fetch still works.
	wantCode(t, f.call(t, "/cgi-bin/user/get"), 0)
	body["secret"] = "x"
	wantCode(t, f.postToken(t, "/cgi-bin/stable_token", "", body), 40125)
}

func TestCustomWindow(t *testing.T) {
	const o = "oResident"
	type step struct {
		do   string // "msg", "event", "unfollow", "advance"
		d    time.Duration
		send int // custom messages to send after the step
		want []int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"never interacted", []step{{send: 1, want: []int{45015}}}},
		{"five after a message, then 45047", []step{{do: "msg", send: 6, want: []int{0, 0, 0, 0, 0, 45047}}}},
		{"a new message resets the count", []step{
			{do: "msg", send: 6, want: []int{0, 0, 0, 0, 0, 45047}},
			{do: "msg", send: 1, want: []int{0}},
		}},
		{"window closes after 48 h", []step{
			{do: "msg", send: 1, want: []int{0}},
			{do: "advance", d: MessageWindow, send: 1, want: []int{0}},
			{do: "advance", d: time.Second, send: 1, want: []int{45015}},
		}},
		{"three within a minute of a click", []step{
			{do: "event", send: 4, want: []int{0, 0, 0, 45047}},
			{do: "advance", d: time.Minute + time.Second, send: 1, want: []int{45015}},
		}},
		{"unfollowed", []step{{do: "msg"}, {do: "unfollow", send: 1, want: []int{45015}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			for _, s := range tt.steps {
				switch s.do {
				case "msg":
					f.api.Interacted(o, f.clock.Now())
				case "event":
					f.api.InteractedEvent(o, f.clock.Now())
				case "unfollow":
					f.api.Unfollow(o)
				case "advance":
					f.advance(t, s.d)
				}
				for i := range s.send {
					wantCode(t, f.post(t, "/cgi-bin/message/custom/send", customText(o, fmt.Sprint("hi ", i))), s.want[i])
				}
			}
		})
	}
}

func TestCustomNoWindowAndContent(t *testing.T) {
	f := newFake(t)
	f.api.NoWindow = true
	wantCode(t, f.post(t, "/cgi-bin/message/custom/send", customText("oA", "你好")), 0)
	img := f.api.AddMedia([]byte("\xff\xd8\xff\xe0jpeg"), "image/jpeg")
	tests := []struct {
		name string
		body any
		want int
	}{
		{"image", map[string]any{"touser": "oA", "msgtype": "image", "image": map[string]any{"media_id": img}}, 0},
		{"image with unknown media", map[string]any{"touser": "oA", "msgtype": "image", "image": map[string]any{"media_id": "nope"}}, 40007},
		{"one article", map[string]any{"touser": "oA", "msgtype": "news", "news": map[string]any{"articles": []any{map[string]any{"title": "T", "url": "https://x"}}}}, 0},
		{"two articles", map[string]any{"touser": "oA", "msgtype": "news", "news": map[string]any{"articles": []any{map[string]any{"title": "T"}, map[string]any{"title": "U"}}}}, 45008},
		{"empty text", customText("oA", ""), 44004},
		{"no touser", customText("", "x"), 40003},
		{"unknown type", map[string]any{"touser": "oA", "msgtype": "hologram"}, 40008},
		{"not JSON", "{", 47001},
		{"empty body", "", 44002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, f.post(t, "/cgi-bin/message/custom/send", tt.body), tt.want)
		})
	}
	sent := f.api.Sent("oA")
	if len(sent) != 3 || sent[0].Text != "你好" || sent[1].MediaID != img || sent[2].Text != "T\nhttps://x" {
		t.Fatalf("Sent = %+v", sent)
	}
	if got := f.api.SentAfter("oA", 2); len(got) != 1 || got[0].MsgType != "news" {
		t.Fatalf("SentAfter(2) = %+v", got)
	}
	// The wrong method is WeChat's error, not an HTTP 405.
	wantCode(t, f.call(t, "/cgi-bin/message/custom/send"), 43002)
}

func TestTemplateSend(t *testing.T) {
	f := newFake(t)
	data := func(kv ...string) map[string]any {
		d := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			d[kv[i]] = map[string]any{"value": kv[i+1]}
		}
		return d
	}
	tmpl := func(to, id string, d map[string]any) map[string]any {
		return map[string]any{"touser": to, "template_id": id, "url": "https://h/r/1", "data": d}
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"ok", tmpl("oA", "T1", data("thing1", "占道经营", "time2", "2025-03-10 09:00")), 0},
		{"twenty characters", tmpl("oA", "T1", data("thing1", strings.Repeat("隐", 20))), 0},
		{"twenty-one characters", tmpl("oA", "T1", data("thing1", strings.Repeat("隐", 21))), 47003},
		{"line break", tmpl("oA", "T1", data("thing1", "a\nb")), 47003},
		{"empty value", tmpl("oA", "T1", data("thing1", "")), 47003},
		{"first and remark are not checked", tmpl("oA", "T1", data("first", strings.Repeat("长", 40), "remark", "a\nb", "thing1", "ok")), 0},
		{"no touser", tmpl("", "T1", data("thing1", "x")), 40003},
		{"no template_id", tmpl("oA", "", data("thing1", "x")), 40037},
		{"data not an object", map[string]any{"touser": "oA", "template_id": "T1", "data": "x"}, 47001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.post(t, "/cgi-bin/message/template/send", tt.body)
			wantCode(t, res, tt.want)
			if tt.want == 0 && res["msgid"] == nil {
				t.Error("no msgid")
			}
		})
	}
	// Rendered in the order posted, without first/remark.
	raw := `{"touser":"oB","template_id":"T2","data":{"time2":{"value":"明天"},"thing1":{"value":"复核"},"remark":{"value":"谢谢"}}}`
	wantCode(t, f.post(t, "/cgi-bin/message/template/send", raw), 0)
	s := f.api.Sent("oB")
	if len(s) != 1 || s[0].Kind != "template" || s[0].Text != "time2: 明天\nthing1: 复核" || s[0].Data["remark"] != "谢谢" || s[0].TemplateID != "T2" {
		t.Fatalf("Sent = %+v", s)
	}
	f.api.Unfollow("oB")
	wantCode(t, f.post(t, "/cgi-bin/message/template/send", raw), 43004)
}

func TestMassSend(t *testing.T) {
	f := newFake(t)
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("o%05d", i)
		}
		return out
	}
	text := func(to []string, cid string) map[string]any {
		return map[string]any{"touser": to, "msgtype": "text", "text": map[string]any{"content": "台风预警"}, "clientmsgid": cid}
	}
	t.Run("openid list bounds", func(t *testing.T) {
		for _, tt := range []struct {
			n, want int
		}{{0, 40130}, {1, 40130}, {10001, 40130}, {2, 0}, {10000, 0}} {
			wantCode(t, f.post(t, "/cgi-bin/message/mass/send", text(ids(tt.n), "")), tt.want)
		}
	})
	f.advance(t, time.Hour) // past the per-minute limit of the subtest above
	t.Run("clientmsgid dedup for 24 h", func(t *testing.T) {
		res := f.post(t, "/cgi-bin/message/mass/send", text([]string{"oX", "oY"}, "warn-1"))
		wantCode(t, res, 0)
		if res["msg_id"] == nil || res["msg_data_id"] == nil {
			t.Errorf("answer %v lacks msg_id/msg_data_id", res)
		}
		f.advance(t, 23*time.Hour)
		wantCode(t, f.post(t, "/cgi-bin/message/mass/send", text([]string{"oX", "oY"}, "warn-1")), 45065)
		f.advance(t, time.Hour)
		wantCode(t, f.post(t, "/cgi-bin/message/mass/send", text([]string{"oX", "oY"}, "warn-1")), 0)
	})
	t.Run("four a month", func(t *testing.T) {
		f.advance(t, 24*40*time.Hour) // a new month
		for range 5 {
			f.advance(t, time.Minute)
			wantCode(t, f.post(t, "/cgi-bin/message/mass/send", text([]string{"oM", "oN"}, "")), 0)
		}
		if n := f.api.MassCount("oM"); n != 4 {
			t.Errorf("MassCount = %d, want 4", n)
		}
		if n := len(f.api.Sent("oM")); n != 4 {
			t.Errorf("oM received %d, want 4", n)
		}
		jobs := f.api.MassJobs()
		last := jobs[len(jobs)-1]
		if last.Total != 2 || last.Filtered != 2 || last.SentCount != 0 {
			t.Errorf("last job %+v", last)
		}
	})
	t.Run("by tag and to all", func(t *testing.T) {
		res := f.post(t, "/cgi-bin/tags/create", map[string]any{"tag": map[string]any{"name": "网格员"}})
		tag := res["tag"].(map[string]any)["id"]
		wantCode(t, f.post(t, "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{"oT"}, "tagid": tag}), 0)
		f.advance(t, time.Minute)
		wantCode(t, f.post(t, "/cgi-bin/message/mass/sendall", map[string]any{
			"filter": map[string]any{"is_to_all": false, "tag_id": tag}, "msgtype": "text", "text": map[string]any{"content": "集合"},
		}), 0)
		if s := f.api.Sent("oT"); len(s) != 1 || s[0].Kind != "mass" || s[0].Text != "集合" {
			t.Errorf("oT got %+v", s)
		}
		wantCode(t, f.post(t, "/cgi-bin/message/mass/sendall", map[string]any{
			"filter": map[string]any{"is_to_all": false, "tag_id": 9999}, "msgtype": "text", "text": map[string]any{"content": "x"},
		}), 45159)
		f.api.Unfollow("oY")
		f.advance(t, time.Minute)
		before := len(f.api.Sent("oX"))
		wantCode(t, f.post(t, "/cgi-bin/message/mass/sendall", map[string]any{
			"filter": map[string]any{"is_to_all": true}, "msgtype": "text", "text": map[string]any{"content": "全体"},
		}), 0)
		if len(f.api.Sent("oX")) != before+1 {
			t.Error("is_to_all missed a follower")
		}
		if s := f.api.Sent("oY"); len(s) > 0 && s[len(s)-1].Text == "全体" {
			t.Error("is_to_all reached an unfollowed resident")
		}
	})
}

func TestMassRateLimit(t *testing.T) {
	f := newFake(t)
	body := map[string]any{"touser": []string{"oA", "oB"}, "msgtype": "text", "text": map[string]any{"content": "x"}}
	for range MassCallsPerMinute {
		wantCode(t, f.post(t, "/cgi-bin/message/mass/send", body), 0)
	}
	wantCode(t, f.post(t, "/cgi-bin/message/mass/send", body), 45009)
	f.advance(t, time.Minute)
	wantCode(t, f.post(t, "/cgi-bin/message/mass/send", body), 0)
}

// upload posts data as multipart field "media", as the SDK does.
func upload(t *testing.T, f *fakeWeChat, kind string, data []byte) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreateFormFile("media", "photo.jpg")
	part.Write(data)
	mw.Close()
	u := f.srv.URL + "/cgi-bin/media/upload?access_token=" + f.token + "&type=" + kind
	resp, err := http.Post(u, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, resp)
}

var jpeg = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00fake-jpeg-body")

func TestMedia(t *testing.T) {
	f := newFake(t)
	res := upload(t, f, "image", jpeg)
	id, _ := res["media_id"].(string)
	if id == "" || res["type"] != "image" || res["created_at"] != float64(f.clock.Now().Unix()) {
		t.Fatalf("upload answer %v", res)
	}
	fetch := func(id string) *http.Response {
		t.Helper()
		resp, err := http.Get(f.srv.URL + "/cgi-bin/media/get?access_token=" + f.token + "&media_id=" + id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := fetch(id)
	body, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(body, jpeg) || resp.Header.Get("Content-Type") != "image/jpeg" ||
		!strings.Contains(resp.Header.Get("Content-disposition"), `filename="`+id+`.jpg"`) {
		t.Fatalf("media/get: %q %v", body, resp.Header)
	}
	added := f.api.AddMedia(jpeg, "image/jpeg")

	f.advance(t, MediaTTL-time.Second)
	if resp := fetch(added); resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatal("media expired early")
	}
	f.advance(t, time.Second)
	for _, id := range []string{id, added, "unknown"} {
		wantCode(t, decodeJSON(t, fetch(id)), 40007)
	}

	wantCode(t, upload(t, f, "image", []byte("plain text, not a picture")), 40005)
	wantCode(t, upload(t, f, "hologram", jpeg), 40004)
	wantCode(t, upload(t, f, "image", bytes.Repeat(jpeg, 10<<20/len(jpeg)+1)), 40009)
}

func TestMenu(t *testing.T) {
	f := newFake(t)
	click := func(name, key string) map[string]any {
		return map[string]any{"type": "click", "name": name, "key": key}
	}
	view := func(name, url string) map[string]any { return map[string]any{"type": "view", "name": name, "url": url} }
	sub := func(name string, n int) map[string]any {
		var subs []any
		for i := range n {
			subs = append(subs, click(fmt.Sprint("子", i), fmt.Sprint("K", i)))
		}
		return map[string]any{"name": name, "sub_button": subs}
	}
	menu := func(b ...any) map[string]any { return map[string]any{"button": b} }
	tests := []struct {
		name string
		menu map[string]any
		want int
	}{
		{"valid", menu(click("随手拍", "REPORT"), sub("学安全", 5), view("避难所", "https://h/s")), 0},
		{"no buttons", menu(), 40016},
		{"four buttons", menu(click("a", "a"), click("b", "b"), click("c", "c"), click("d", "d")), 40016},
		{"six sub-buttons", menu(sub("多", 6)), 40023},
		{"key of 129 bytes", menu(click("a", strings.Repeat("k", 129))), 40019},
		{"key of 128 bytes", menu(click("a", strings.Repeat("k", 128))), 0},
		{"sub key too long", menu(map[string]any{"name": "x", "sub_button": []any{click("y", strings.Repeat("k", 129))}}), 40026},
		{"url of 1025 bytes", menu(view("a", "https://"+strings.Repeat("u", 1017))), 40020},
		{"sub url too long", menu(map[string]any{"name": "x", "sub_button": []any{view("y", "https://"+strings.Repeat("u", 1017))}}), 40027},
		{"top name too long", menu(click("一二三四五六", "k")), 40018},
		{"unknown type", menu(map[string]any{"type": "teleport", "name": "a", "key": "k"}), 40017},
		{"click without key", menu(map[string]any{"type": "click", "name": "a"}), 40019},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, f.post(t, "/cgi-bin/menu/create", tt.menu), tt.want)
		})
	}
	wantCode(t, f.post(t, "/cgi-bin/menu/create", tests[0].menu), 0)
	got := f.call(t, "/cgi-bin/menu/get")
	buttons := got["menu"].(map[string]any)["button"].([]any)
	if len(buttons) != 3 || buttons[0].(map[string]any)["key"] != "REPORT" {
		t.Fatalf("menu/get = %v", got)
	}
	info := f.call(t, "/cgi-bin/get_current_selfmenu_info")
	if info["is_menu_open"] != float64(1) {
		t.Fatalf("selfmenu = %v", info)
	}
	wantCode(t, f.call(t, "/cgi-bin/menu/delete"), 0)
	wantCode(t, f.call(t, "/cgi-bin/menu/get"), 46003)
}

func TestUsersAndTags(t *testing.T) {
	f := newFake(t)
	for _, o := range []string{"o1", "o2", "o3"} {
		f.api.Follow(o)
	}
	f.api.Unfollow("o2")
	res := f.call(t, "/cgi-bin/user/get")
	if res["total"] != float64(2) || fmt.Sprint(res["data"]) != "map[openid:[o1 o3]]" || res["next_openid"] != "o3" {
		t.Fatalf("user/get = %v", res)
	}
	if res := f.call(t, "/cgi-bin/user/get", "next_openid", "o3"); res["count"] != float64(0) {
		t.Fatalf("second page = %v", res)
	}
	wantCode(t, f.post(t, "/cgi-bin/tags/create", map[string]any{"tag": map[string]any{"name": strings.Repeat("x", 31)}}), 45158)
	res = f.post(t, "/cgi-bin/tags/create", map[string]any{"tag": map[string]any{"name": "志愿者"}})
	tag := res["tag"].(map[string]any)["id"].(float64)
	if tag != 100 {
		t.Errorf("first tag id %v, want 100", tag)
	}
	wantCode(t, f.post(t, "/cgi-bin/tags/create", map[string]any{"tag": map[string]any{"name": "志愿者"}}), 45157)
	wantCode(t, f.post(t, "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{"o1", "o3"}, "tagid": tag}), 0)
	wantCode(t, f.post(t, "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{"o1"}, "tagid": 555}), 45159)
	wantCode(t, f.post(t, "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": make([]string, 51), "tagid": tag}), 40032)

	res = f.post(t, "/cgi-bin/user/tag/get", map[string]any{"tagid": tag})
	if res["count"] != float64(2) {
		t.Fatalf("user/tag/get = %v", res)
	}
	info := f.call(t, "/cgi-bin/user/info", "openid", "o1")
	if info["subscribe"] != float64(1) || fmt.Sprint(info["tagid_list"]) != "[100]" {
		t.Fatalf("user/info = %v", info)
	}
	if info := f.call(t, "/cgi-bin/user/info", "openid", "o2"); info["subscribe"] != float64(0) {
		t.Fatalf("unfollowed user/info = %v", info)
	}
	wantCode(t, f.call(t, "/cgi-bin/user/info"), 40003)
	tags := f.call(t, "/cgi-bin/tags/get")["tags"].([]any)
	if len(tags) != 2 || tags[1].(map[string]any)["count"] != float64(2) {
		t.Fatalf("tags/get = %v", tags)
	}
	wantCode(t, f.post(t, "/cgi-bin/tags/members/batchuntagging", map[string]any{"openid_list": []string{"o1"}, "tagid": tag}), 0)
	if got := f.post(t, "/cgi-bin/tags/getidlist", map[string]any{"openid": "o1"}); fmt.Sprint(got["tagid_list"]) != "[]" {
		t.Fatalf("getidlist = %v", got)
	}
}

func TestFailInjection(t *testing.T) {
	f := newFake(t)
	f.api.NoWindow = true
	const path = "/cgi-bin/message/custom/send"
	f.api.Fail(path, -1, 2)
	f.api.Fail("/cgi-bin/token", 45009, 1)
	wantCode(t, f.post(t, path, customText("oA", "1")), -1)
	wantCode(t, f.post(t, path, customText("oA", "2")), -1)
	wantCode(t, f.post(t, path, customText("oA", "3")), 0)
	wantCode(t, f.get(t, "/cgi-bin/token", url.Values{}), 45009)

	calls := f.api.CallsTo(path)
	var codes []int
	for _, c := range calls {
		codes = append(codes, c.Errcode)
	}
	if fmt.Sprint(codes) != "[-1 -1 0]" || string(calls[2].Body) == "" || calls[2].Query.Get("access_token") != f.token {
		t.Fatalf("calls %v", codes)
	}
	if len(f.api.Sent("oA")) != 1 {
		t.Fatal("a failed call delivered a message")
	}

	f.api.Fail(path, 40001, -1)
	for range 3 {
		wantCode(t, f.post(t, path, customText("oA", "x")), 40001)
	}
	f.api.Reset()
	wantCode(t, f.post(t, path, customText("oA", "x")), 0)
}

func TestDelay(t *testing.T) {
	f := newFake(t)
	f.api.Delay("/cgi-bin/user/get", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/cgi-bin/user/get?access_token="+f.token, nil)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	// The handler notices the caller left and records the call without
	// sitting out the whole delay.
	deadline := time.Now().Add(5 * time.Second)
	for len(f.api.CallsTo("/cgi-bin/user/get")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(f.api.CallsTo("/cgi-bin/user/get")) != 1 || time.Since(start) > 5*time.Second {
		t.Fatal("delayed call not recorded after the caller gave up")
	}

	f.api.Delay("/cgi-bin/user/get", 30*time.Millisecond)
	start = time.Now()
	wantCode(t, f.call(t, "/cgi-bin/user/get"), 0)
	if time.Since(start) < 30*time.Millisecond {
		t.Error("answer came before the delay")
	}
	f.api.Reset()
}

func TestSimSentLongPoll(t *testing.T) {
	f := newFake(t)
	f.api.NoWindow = true
	poll := func(openid string, after int, wait string) []Sent {
		t.Helper()
		resp, err := http.Get(f.srv.URL + "/_sim/sent?openid=" + openid + "&after=" + fmt.Sprint(after) + "&wait=" + wait)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var items []Sent
		if err := json.NewDecoder(resp.Body).Decode(&items); err != nil || items == nil {
			t.Fatalf("decode: %v (%v)", err, items)
		}
		return items
	}
	if got := poll("oA", 0, "0"); len(got) != 0 {
		t.Fatalf("empty poll = %v", got)
	}
	done := make(chan []Sent)
	go func() { done <- poll("oA", 0, "10") }()
	time.Sleep(20 * time.Millisecond) // let the poll start waiting; correctness does not depend on it
	wantCode(t, f.post(t, "/cgi-bin/message/custom/send", customText("oB", "not yours")), 0)
	wantCode(t, f.post(t, "/cgi-bin/message/custom/send", customText("oA", "到了")), 0)
	select {
	case got := <-done:
		if len(got) != 1 || got[0].Text != "到了" || got[0].Kind != "custom" {
			t.Fatalf("poll = %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not return on delivery")
	}
	wantCode(t, f.post(t, "/cgi-bin/message/custom/send", customText("oA", "二")), 0)
	if got := poll("oA", 1, "0"); len(got) != 1 || got[0].Text != "二" {
		t.Fatalf("after=1 poll = %+v", got)
	}
	if n := len(f.api.Calls()); n != 4 { // token fetch and three sends; polls are not WeChat calls
		t.Errorf("%d calls recorded", n)
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	api := NewAPI(testAppID, testSecret)
	mux := http.NewServeMux()
	mux.Handle("/wxapi/", http.StripPrefix("/wxapi", api))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/wxapi/cgi-bin/token?grant_type=client_credential&appid=" + testAppID + "&secret=" + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if res := decodeJSON(t, resp); res["access_token"] == nil {
		t.Fatalf("token under prefix: %v", res)
	}
	resp, err = http.Get(srv.URL + "/wxapi/_sim/sent?openid=o&wait=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sim under prefix: %d", resp.StatusCode)
	}
	id := api.AddMedia(jpeg, "image/jpeg")
	resp, err = http.Get(srv.URL + "/wxapi/_sim/media?media_id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, jpeg) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("sim media: %d %q", resp.StatusCode, body)
	}
}
