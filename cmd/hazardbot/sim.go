package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"hazardbot/bot/wechattest"
	"hazardbot/content"
	"hazardbot/server"
)

const simHelp = `Type a message and press Enter to send it as text. Commands:
  /sub, /unsub            follow or unfollow the account
  /click KEY              tap a menu item (/menu lists the keys)
  /photo FILE             send a photo from a file
  /loc LAT,LNG [LABEL]    send a location (GCJ-02), e.g. /loc 36.0605,103.8412 东湖路18号
  /pick LAT,LNG [LABEL]   pick a location with the menu's location picker
  /voice WORDS            send a voice message that WeChat recognised as WORDS
  /menu                   list the menu's keys
  /help                   this text
  /quit                   leave
`

// sim is a terminal chat with a running hazardbot, talking to it exactly as
// WeChat does (signed pushes, optionally encrypted) and showing what the
// server sends the resident through the WeChat API (read back from the fake
// API that a demo-mode server hosts, or from --api).
func sim(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cfg, _ := server.ConfigFromEnv(getenv)
	// Replies that arrive through the API print from another goroutine.
	stdout = &lockedWriter{w: stdout}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	base := fs.String("url", "http://"+strings.Replace(cfg.Addr, "0.0.0.0", "127.0.0.1", 1), "the hazardbot server")
	api := fs.String("api", "", "the fake WeChat API to read sent messages from (default: the server's demo fake at URL"+server.FakePrefix+")")
	openid := fs.String("openid", "", "the resident's openid (default: a new one each run)")
	aes := fs.Bool("aes", false, "safe mode: encrypt pushes with the EncodingAESKey")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.HasPrefix(*base, "http://:") {
		*base = "http://127.0.0.1" + strings.TrimPrefix(*base, "http://")
	}
	if *api == "" {
		*api = strings.TrimRight(*base, "/") + server.FakePrefix
	}
	if *openid == "" {
		*openid = fmt.Sprintf("o-sim-%d", time.Now().UnixNano()%1_000_000_000)
	}
	c := &wechattest.Client{URL: strings.TrimRight(*base, "/") + "/wechat", Token: cfg.Token, AppID: cfg.AppID}
	if *aes {
		c.AESKey = cfg.AESKey
	}
	s := &simulator{c: c, api: strings.TrimRight(*api, "/"), openid: *openid, out: stdout, cfg: cfg}
	fmt.Fprintf(stdout, "Chatting with %s as resident %s (%s mode). /help lists commands.\n", c.URL, s.openid, map[bool]string{true: "safe", false: "plaintext"}[*aes])
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.follow(ctx)
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(stdout, "> ")
		if !in.Scan() {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		if line == "/quit" || line == "/exit" {
			return nil
		}
		if err := s.send(line); err != nil {
			s.print("! %v", err)
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type simulator struct {
	c      *wechattest.Client
	api    string
	openid string
	out    io.Writer
	cfg    server.Config
	last   time.Time
}

func (s *simulator) print(format string, args ...any) {
	fmt.Fprintf(s.out, format+"\n", args...)
}

func (s *simulator) send(line string) error {
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	var m wechattest.Message
	switch cmd {
	case "/help":
		s.print("%s", simHelp)
		return nil
	case "/menu":
		c, err := content.Load(s.cfg.ContentDir)
		if err != nil {
			return err
		}
		for _, b := range c.Menu.Buttons {
			for _, sb := range b.SubButtons {
				s.print("  %s / %s: %s %s", b.Name, sb.Name, sb.Type, sb.Key)
			}
		}
		return nil
	case "/sub":
		m = wechattest.Subscribe(s.openid)
	case "/unsub":
		m = wechattest.Unsubscribe(s.openid)
	case "/click":
		if rest == "" {
			return fmt.Errorf("usage: /click KEY")
		}
		m = wechattest.Click(s.openid, rest)
	case "/voice":
		m = wechattest.Voice(s.openid, "voice-"+strconv.FormatInt(time.Now().UnixNano(), 36), rest)
	case "/loc", "/pick":
		lat, lng, label, err := parseLatLng(rest)
		if err != nil {
			return err
		}
		if cmd == "/loc" {
			m = wechattest.Location(s.openid, lat, lng, label)
		} else {
			m = wechattest.LocationSelect(s.openid, "SHELTER", lat, lng, label, label)
		}
	case "/photo":
		mediaID, err := s.upload(rest)
		if err != nil {
			return err
		}
		m = wechattest.Image(s.openid, s.api+"/cgi-bin/media/get?media_id="+url.QueryEscape(mediaID), mediaID)
	default:
		if strings.HasPrefix(cmd, "/") {
			return fmt.Errorf("unknown command %s (/help lists them)", cmd)
		}
		m = wechattest.Text(s.openid, line)
	}
	// Events are deduplicated on sender and CreateTime in seconds, as WeChat
	// does, so two events in the same second would look like a retry.
	if m.MsgType == "event" {
		if wait := time.Until(s.last.Add(time.Second)); wait > 0 {
			time.Sleep(wait)
		}
		s.last = time.Now()
	}
	r, err := s.c.Send(m)
	if err != nil {
		return err
	}
	switch {
	case r.Status != http.StatusOK:
		return fmt.Errorf("server answered %d: %s", r.Status, strings.TrimSpace(string(r.Body)))
	case r.Problem != "":
		return fmt.Errorf("WeChat would show “该公众号暂时无法提供服务”: %s", r.Problem)
	case r.XML != nil && r.XML.Content != "":
		s.print("\n【公众号】\n%s\n", r.XML.Content)
	}
	return nil
}

func parseLatLng(s string) (lat, lng float64, label string, err error) {
	coords, label, _ := strings.Cut(s, " ")
	a, b, ok := strings.Cut(coords, ",")
	if ok {
		lat, err = strconv.ParseFloat(strings.TrimSpace(a), 64)
		if err == nil {
			lng, err = strconv.ParseFloat(strings.TrimSpace(b), 64)
		}
	}
	if !ok || err != nil || lat < -90 || lat > 90 || lng < -180 || lng > 180 {
		return 0, 0, "", fmt.Errorf("usage: LAT,LNG [LABEL], e.g. 36.0605,103.8412 东湖路18号")
	}
	return lat, lng, strings.TrimSpace(label), nil
}

// upload puts a photo into the fake WeChat's media store, as the WeChat app
// does before it pushes the image message.
func (s *simulator) upload(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("usage: /photo FILE")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(data) > 10<<20 {
		return "", fmt.Errorf("%s is over WeChat's 10 MB image limit", path)
	}
	tok, err := s.token()
	if err != nil {
		return "", err
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("media", filepath.Base(path))
	part.Write(data)
	w.Close()
	resp, err := http.Post(s.api+"/cgi-bin/media/upload?type=image&access_token="+url.QueryEscape(tok), w.FormDataContentType(), &body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		MediaID string `json:"media_id"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.MediaID == "" {
		return "", fmt.Errorf("upload to the fake WeChat failed: %v %s", err, out.ErrMsg)
	}
	return out.MediaID, nil
}

func (s *simulator) token() (string, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {s.cfg.AppID}, "secret": {s.cfg.AppSecret}}
	resp, err := http.Get(s.api + "/cgi-bin/token?" + q.Encode())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("cannot get a token from the fake WeChat at %s", s.api)
	}
	return out.AccessToken, nil
}

// follow prints what the server sends this resident through the API.
func (s *simulator) follow(ctx context.Context) {
	after := 0
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			fmt.Sprintf("%s/_sim/sent?openid=%s&after=%d&wait=20", s.api, url.QueryEscape(s.openid), after), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
			continue
		}
		var sent []wechattest.Sent
		err = json.NewDecoder(resp.Body).Decode(&sent)
		resp.Body.Close()
		if err != nil {
			time.Sleep(2 * time.Second)
			continue
		}
		for _, m := range sent {
			label := map[string]string{"custom": "客服消息", "template": "模板消息", "mass": "群发消息"}[m.Kind]
			text := m.Text
			if m.URL != "" {
				text += "\n(链接: " + m.URL + ")"
			}
			s.print("\n【%s】\n%s\n", label, text)
		}
		after += len(sent)
	}
}
