package wechattest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// leaves flattens push XML into "path=value" in document order, so a test
// can assert field names, nesting, values and order at once.
func leaves(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var path []string
	var text strings.Builder
	var out []string
	children := []int{0}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("push is not XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			children[len(children)-1]++
			children = append(children, 0)
			text.Reset()
		case xml.CharData:
			text.Write(tok)
		case xml.EndElement:
			if children[len(children)-1] == 0 {
				out = append(out, strings.Join(path[1:], "/")+"="+text.String())
			}
			children = children[:len(children)-1]
			path = path[:len(path)-1]
			text.Reset()
		}
	}
	return out
}

func TestMessageXML(t *testing.T) {
	clk := newClock()
	now := clk.Now().Unix()
	c := &Client{URL: "http://unused/wechat", Token: testToken, Now: clk.Now}
	head := func(from, typ string) []string {
		return []string{"ToUserName=gh_hazardbot", "FromUserName=" + from, fmt.Sprint("CreateTime=", now), "MsgType=" + typ}
	}
	// id appends the MsgId that every message (not event) ends with.
	id := func(m Message, fields ...string) []string { return append(fields, fmt.Sprint("MsgId=", m.MsgID)) }
	text := Text("oA", "路灯坏了")
	image := Image("oA", "http://mmbiz/p.jpg", "MID1")
	voice := Voice("oA", "V1", "")
	voiceRec := Voice("oA", "V1", "井盖丢了")
	loc := Location("oA", 31.2304, 121.4737, "上海市黄浦区")
	loc0 := Location("oA", 0, 0, "")
	qr := SubscribeQR("oA", "grid7")
	scan := Scan("oA", "grid7")
	pics := PicPhotoOrAlbum("oA", "PHOTO", 2)
	tests := []struct {
		name string
		msg  Message
		want []string // after the four header fields
	}{
		{"text", text, id(text, "Content=路灯坏了")},
		{"image", image, id(image, "PicUrl=http://mmbiz/p.jpg", "MediaId=MID1")},
		{"voice without recognition", voice, id(voice, "MediaId=V1", "Format=amr")},
		{"voice with recognition", voiceRec, id(voiceRec, "MediaId=V1", "Format=amr", "Recognition=井盖丢了")},
		{"location", loc, id(loc, "Location_X=31.230400", "Location_Y=121.473700", "Scale=15", "Label=上海市黄浦区")},
		{"location at zero keeps its fields", loc0, id(loc0, "Location_X=0.000000", "Location_Y=0.000000", "Scale=15", "Label=")},
		{"subscribe", Subscribe("oA"), []string{"Event=subscribe"}},
		{"subscribe by QR", qr, []string{"Event=subscribe", "EventKey=qrscene_grid7", "Ticket=" + qr.Ticket}},
		{"unsubscribe", Unsubscribe("oA"), []string{"Event=unsubscribe"}},
		{"scan", scan, []string{"Event=SCAN", "EventKey=grid7", "Ticket=" + scan.Ticket}},
		{"click", Click("oA", "REPORT"), []string{"Event=CLICK", "EventKey=REPORT"}},
		{"view", View("oA", "https://h/x?a=1&b=2"), []string{"Event=VIEW", "EventKey=https://h/x?a=1&b=2"}},
		{"LOCATION", LocationEvent("oA", 23.137466, 113.352425, 119.38504),
			[]string{"Event=LOCATION", "Latitude=23.137466", "Longitude=113.352425", "Precision=119.385040"}},
		{"location_select", LocationSelect("oA", "LOC", 23.1, 113.2, "广州市海珠区", "客村"), []string{
			"Event=location_select", "EventKey=LOC",
			"SendLocationInfo/Location_X=23.100000", "SendLocationInfo/Location_Y=113.200000", "SendLocationInfo/Scale=15",
			"SendLocationInfo/Label=广州市海珠区", "SendLocationInfo/Poiname=客村",
		}},
		{"pic_photo_or_album", pics, []string{
			"Event=pic_photo_or_album", "EventKey=PHOTO", "SendPicsInfo/Count=2",
			"SendPicsInfo/PicList/item/PicMd5Sum=" + pics.SendPicsInfo.PicMD5Sums[0],
			"SendPicsInfo/PicList/item/PicMd5Sum=" + pics.SendPicsInfo.PicMD5Sums[1],
		}},
		{"TEMPLATESENDJOBFINISH", TemplateSendJobFinish("oA", 200163836, "failed:user block"),
			[]string{"Event=TEMPLATESENDJOBFINISH", "MsgID=200163836", "Status=failed:user block"}},
		{"MASSSENDJOBFINISH", MassSendJobFinish("oA", 1988, "sendsuccess", 100, 80, 75, 5), []string{
			"Event=MASSSENDJOBFINISH", "MsgID=1988", "Status=sendsuccess",
			"TotalCount=100", "FilterCount=80", "SentCount=75", "ErrorCount=5",
		}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Prepare(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			want := append(head("oA", tt.msg.MsgType), tt.want...)
			got := leaves(t, p.Body)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("fields\n got  %q\n want %q\nXML %s", got, want, p.Body)
			}
			// Strings in CDATA, numbers bare, as WeChat writes them.
			body := string(p.Body)
			for _, s := range []string{"<ToUserName><![CDATA[gh_hazardbot]]>", "<MsgType><![CDATA[", fmt.Sprintf("<CreateTime>%d</CreateTime>", now)} {
				if !strings.Contains(body, s) {
					t.Errorf("XML lacks %s:\n%s", s, body)
				}
			}
			if tt.msg.MsgID != 0 && !strings.Contains(body, fmt.Sprintf("<MsgId>%d</MsgId>", tt.msg.MsgID)) {
				t.Errorf("MsgId not a bare number: %s", body)
			}
			if tt.msg.Event == "location_select" && !strings.Contains(body, "<Location_X><![CDATA[23.100000]]></Location_X>") {
				t.Errorf("SendLocationInfo numbers should be CDATA as WeChat sends them: %s", body)
			}
			if tt.msg.Event == "LOCATION" && !strings.Contains(body, "<Latitude>23.137466</Latitude>") {
				t.Errorf("Latitude should be a bare number: %s", body)
			}
			q, _ := url.ParseQuery(p.URL[strings.Index(p.URL, "?")+1:])
			if q.Get("openid") != "oA" || q.Get("signature") != Signature(testToken, q.Get("timestamp"), q.Get("nonce")) ||
				q.Get("timestamp") != fmt.Sprint(now) || q.Has("encrypt_type") {
				t.Errorf("query %v", q)
			}
		})
	}
	if a, b := Text("o", "x").MsgID, Text("o", "x").MsgID; a == b || a <= 0 {
		t.Errorf("MsgIds %d and %d are not fresh", a, b)
	}
}

func TestMessageXMLEscaping(t *testing.T) {
	m := Text("oA", "a]]>b <c> & d")
	m.CreateTime = time.Unix(1, 0)
	var got struct {
		Content string
	}
	if err := xml.Unmarshal(m.XML("gh"), &got); err != nil || got.Content != m.Content {
		t.Fatalf("Content %q, err %v", got.Content, err)
	}
}

// wxServer is a minimal, SDK-free receiver of pushes: it checks what WeChat's
// documentation says a server must check, and answers with reply.
type wxServer struct {
	token, aesKey, appID string
	reply                func(w http.ResponseWriter, from, to string)

	mu  sync.Mutex
	got []received
}

type received struct {
	query url.Values
	body  []byte
	plain []byte
}

func (s *wxServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("signature") != Signature(s.token, q.Get("timestamp"), q.Get("nonce")) {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodGet {
		io.WriteString(w, q.Get("echostr"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	plain := body
	if q.Get("encrypt_type") == "aes" {
		var env struct{ ToUserName, Encrypt string }
		if xml.Unmarshal(body, &env) != nil ||
			q.Get("msg_signature") != Signature(s.token, q.Get("timestamp"), q.Get("nonce"), env.Encrypt) {
			http.Error(w, "bad msg_signature", http.StatusForbidden)
			return
		}
		var err error
		if plain, err = Decrypt(s.aesKey, s.appID, env.Encrypt); err != nil {
			http.Error(w, "bad envelope", http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	s.got = append(s.got, received{q, body, plain})
	s.mu.Unlock()
	var msg struct{ ToUserName, FromUserName string }
	if err := xml.Unmarshal(plain, &msg); err != nil {
		http.Error(w, "bad xml", http.StatusBadRequest)
		return
	}
	s.reply(w, msg.FromUserName, msg.ToUserName)
}

func (s *wxServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func textReply(to, from, content string) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content></xml>", to, from, content)
}

// seal wraps a reply in safe mode's envelope, signed with sigToken.
func seal(t *testing.T, sigToken, appID string, plain []byte) []byte {
	t.Helper()
	enc, err := Encrypt(testAESKey, appID, nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, "<xml><Encrypt><![CDATA[%s]]></Encrypt><MsgSignature><![CDATA[%s]]></MsgSignature>"+
		"<TimeStamp>1409304348</TimeStamp><Nonce><![CDATA[n1]]></Nonce></xml>", enc, Signature(sigToken, "1409304348", "n1", enc))
}

func newPushPair(t *testing.T, safe bool, reply func(w http.ResponseWriter, from, to string)) (*Client, *wxServer) {
	t.Helper()
	s := &wxServer{token: testToken, aesKey: testAESKey, appID: testAppID, reply: reply}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c := &Client{URL: srv.URL + "/wechat", Token: testToken, AppID: testAppID}
	if safe {
		c.AESKey = testAESKey
	}
	return c, s
}

func TestReplyJudgement(t *testing.T) {
	tests := []struct {
		name    string
		safe    bool
		reply   func(t *testing.T, w http.ResponseWriter, from, to string)
		success bool
		content string
		problem string // substring; "" means none
		err     error
	}{
		{name: "success", safe: true, reply: func(t *testing.T, w http.ResponseWriter, from, to string) { io.WriteString(w, "success") }, success: true},
		{name: "empty", safe: true, reply: func(t *testing.T, w http.ResponseWriter, from, to string) {}, success: true},
		{name: "sealed text", safe: true, content: "收到", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(seal(t, testToken, testAppID, textReply(from, to, "收到")))
		}},
		{name: "plain text", content: "收到", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(textReply(from, to, "收到"))
		}},
		{name: "wrong MsgSignature", safe: true, err: ErrReplySignature, reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(seal(t, "other-token", testAppID, textReply(from, to, "x")))
		}},
		{name: "sealed for another appid", safe: true, err: ErrDecrypt, reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(seal(t, testToken, "wxother", textReply(from, to, "x")))
		}},
		{name: "sealed empty message", safe: true, problem: "plain \"success\"", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(seal(t, testToken, testAppID, nil))
		}},
		{name: "plaintext in safe mode", safe: true, problem: "plaintext reply in safe mode", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(textReply(from, to, "x"))
		}},
		{name: "JSON", problem: "neither success nor XML", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			io.WriteString(w, `{"ok":true}`)
		}},
		{name: "HTTP 500", problem: "status 500", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			http.Error(w, "boom", 500)
		}},
		{name: "to the wrong resident", problem: "ToUserName", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(textReply("oSomeoneElse", to, "x"))
		}},
		{name: "empty text", problem: "without Content", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			w.Write(textReply(from, to, ""))
		}},
		{name: "news count mismatch", problem: "ArticleCount", reply: func(t *testing.T, w http.ResponseWriter, from, to string) {
			fmt.Fprintf(w, "<xml><ToUserName>%s</ToUserName><FromUserName>%s</FromUserName><MsgType>news</MsgType>"+
				"<ArticleCount>2</ArticleCount><Articles><item><Title>a</Title></item></Articles></xml>", from, to)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newPushPair(t, tt.safe, func(w http.ResponseWriter, from, to string) { tt.reply(t, w, from, to) })
			r, err := c.Send(Text("oA", "你好"))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Success != tt.success {
				t.Errorf("Success = %v", r.Success)
			}
			if (tt.problem == "") != (r.Problem == "") || !strings.Contains(r.Problem, tt.problem) {
				t.Errorf("Problem = %q, want %q", r.Problem, tt.problem)
			}
			if tt.content != "" && (r.XML == nil || r.XML.Content != tt.content || r.XML.ToUserName != "oA") {
				t.Errorf("XML = %+v", r.XML)
			}
		})
	}
}

func TestSafeModeRequest(t *testing.T) {
	c, s := newPushPair(t, true, func(w http.ResponseWriter, from, to string) { io.WriteString(w, "success") })
	m := Location("oA", 31.2304, 121.4737, "黄浦区")
	if _, err := c.Send(m); err != nil {
		t.Fatal(err)
	}
	got := s.received()[0]
	for _, k := range []string{"signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature"} {
		if got.query.Get(k) == "" {
			t.Errorf("query lacks %s: %v", k, got.query)
		}
	}
	if l := leaves(t, got.body); len(l) != 2 || l[0] != "ToUserName=gh_hazardbot" || !strings.HasPrefix(l[1], "Encrypt=") {
		t.Errorf("envelope %q", l)
	}
	if !bytes.Contains(got.plain, []byte("<Label><![CDATA[黄浦区]]></Label>")) {
		t.Errorf("decrypted %s", got.plain)
	}
}

func TestHostileOptions(t *testing.T) {
	stale := time.Unix(1000000000, 0)
	tests := []struct {
		name   string
		safe   bool
		opt    Option
		status int // 0: the receiver accepted it
		check  func(t *testing.T, r received)
	}{
		{name: "forged signature", opt: WithSignature("bad"), status: 403},
		{name: "no signature", opt: WithoutSignature(), status: 403},
		{name: "forged msg_signature", safe: true, opt: WithMsgSignature("bad"), status: 403},
		{name: "other appid", safe: true, opt: WithAppID("wxother"), status: 400},
		{name: "malformed plaintext", safe: true, opt: WithPlaintext([]byte("<xml><oops")), status: 400},
		{name: "stale timestamp", opt: WithTimestamp(stale), check: func(t *testing.T, r received) {
			if r.query.Get("timestamp") != "1000000000" {
				t.Errorf("timestamp %s", r.query.Get("timestamp"))
			}
		}},
		{name: "fixed nonce", opt: WithNonce("42"), check: func(t *testing.T, r received) {
			if r.query.Get("nonce") != "42" {
				t.Errorf("nonce %s", r.query.Get("nonce"))
			}
		}},
		{name: "raw body", opt: WithRawBody([]byte("<xml><FromUserName>oZ</FromUserName></xml>")), check: func(t *testing.T, r received) {
			if string(r.body) != "<xml><FromUserName>oZ</FromUserName></xml>" {
				t.Errorf("body %s", r.body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newPushPair(t, tt.safe, func(w http.ResponseWriter, from, to string) { io.WriteString(w, "success") })
			r, err := c.Send(Text("oA", "x"), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.status != 0 {
				if r.Status != tt.status || r.Problem == "" {
					t.Fatalf("status %d problem %q, want %d", r.Status, r.Problem, tt.status)
				}
				return
			}
			if !r.Success {
				t.Fatalf("not accepted: %d %s", r.Status, r.Body)
			}
			tt.check(t, s.received()[0])
		})
	}
}

func TestReplayIdentical(t *testing.T) {
	c, s := newPushPair(t, true, func(w http.ResponseWriter, from, to string) { io.WriteString(w, "success") })
	p, err := c.Prepare(Text("oA", "重试"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			req, err := p.NewRequest(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			if r, err := c.Do(req); err != nil || !r.Success {
				t.Errorf("replay: %v %+v", err, r)
			}
		})
	}
	wg.Wait()
	got := s.received()
	if len(got) != 3 {
		t.Fatalf("%d received", len(got))
	}
	for _, r := range got[1:] {
		if !bytes.Equal(r.body, got[0].body) || r.query.Encode() != got[0].query.Encode() {
			t.Error("replays differ")
		}
	}
	u, body, err := c.RequestBytes(Text("oA", "x"))
	if err != nil || !strings.HasPrefix(u, c.URL+"?") || len(body) == 0 {
		t.Errorf("RequestBytes = %s, %d bytes, %v", u, len(body), err)
	}
}

func TestVerifyURL(t *testing.T) {
	c, _ := newPushPair(t, false, nil)
	resp, err := c.VerifyURL("echo123")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "echo123" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	resp, err = c.VerifyURL("echo123", WithSignature("bad"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("forged check answered %d", resp.StatusCode)
	}
}

// TestClientTellsAPI checks that pushes open and close the customer-service
// window the way WeChat's rules say.
func TestClientTellsAPI(t *testing.T) {
	f := newFake(t)
	c, _ := newPushPair(t, false, func(w http.ResponseWriter, from, to string) { io.WriteString(w, "success") })
	c.API, c.Now = f.api, f.clock.Now
	send := func(want int) {
		t.Helper()
		wantCode(t, f.post(t, "/cgi-bin/message/custom/send", customText("oA", "x")), want)
	}
	push := func(m Message) {
		t.Helper()
		if _, err := c.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(45015)
	push(LocationEvent("oA", 1, 2, 3)) // a location report is not an action
	send(45015)
	push(Click("oA", "K"))
	send(0)
	f.clock.Advance(2 * time.Minute)
	send(45015)
	push(Text("oA", "hi"))
	send(0)
	push(Unsubscribe("oA"))
	send(45015)
	if f.api.Following("oA") {
		t.Error("still following after unsubscribe")
	}
	push(Subscribe("oA"))
	if !f.api.Following("oA") {
		t.Error("not following after subscribe")
	}
	send(0)
}
