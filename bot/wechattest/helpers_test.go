package wechattest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// encryptPad is Encrypt with a chosen padding block, to build envelopes that
// a careless implementation would produce.
func encryptPad(encodingAESKey, appID string, msg []byte, block int) (string, error) {
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	var plain bytes.Buffer
	plain.Write(make([]byte, 16))
	_ = binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.Write(msg)
	plain.WriteString(appID)
	pad := block - plain.Len()%block
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	c, _ := aes.NewCipher(key)
	out := plain.Bytes()
	cipher.NewCBCEncrypter(c, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out), nil
}

// clock is an injected clock tests advance by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 10, 9, 0, 0, 0, shanghai)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testAppID  = "wx1234567890abcdef"
	testSecret = "s3cret"
	testToken  = "tok"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// fakeWeChat is the API behind a test server, with its clock.
type fakeWeChat struct {
	api   *API
	srv   *httptest.Server
	clock *clock
	token string
}

func newFake(t *testing.T) *fakeWeChat {
	t.Helper()
	f := &fakeWeChat{api: NewAPI(testAppID, testSecret), clock: newClock()}
	f.api.SetNow(f.clock.Now)
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	f.token = f.fetchToken(t)
	return f
}

func (f *fakeWeChat) fetchToken(t *testing.T) string {
	t.Helper()
	res := f.get(t, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {testAppID}, "secret": {testSecret}})
	tok, _ := res["access_token"].(string)
	if tok == "" {
		t.Fatalf("no token: %v", res)
	}
	return tok
}

// get calls path with q (and nothing added) and decodes the JSON answer.
func (f *fakeWeChat) get(t *testing.T, path string, q url.Values) map[string]any {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, resp)
}

// call GETs path with the current token and extra query parameters.
func (f *fakeWeChat) call(t *testing.T, path string, kv ...string) map[string]any {
	t.Helper()
	q := url.Values{"access_token": {f.token}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return f.get(t, path, q)
}

// post POSTs body as JSON with the current token.
func (f *fakeWeChat) post(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	return f.postToken(t, path, f.token, body)
}

func (f *fakeWeChat) postToken(t *testing.T, path, token string, body any) map[string]any {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(f.srv.URL+path+"?access_token="+url.QueryEscape(token), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, resp)
}

func decodeJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %q", body)
	}
	return m
}

// errcode is the answer's errcode, 0 when absent (WeChat omits it on some
// successes).
func errcode(m map[string]any) int {
	f, _ := m["errcode"].(float64)
	return int(f)
}

func wantCode(t *testing.T, m map[string]any, want int) {
	t.Helper()
	if got := errcode(m); got != want {
		t.Fatalf("errcode %d, want %d (answer %v)", got, want, m)
	}
}

func customText(openid, text string) map[string]any {
	return map[string]any{"touser": openid, "msgtype": "text", "text": map[string]any{"content": text}}
}

// advance moves the clock on and takes a fresh token, as a server does when
// its token expires, so long jumps test the rule at hand and not the token.
func (f *fakeWeChat) advance(t *testing.T, d time.Duration) {
	t.Helper()
	f.clock.Advance(d)
	f.token = f.fetchToken(t)
}
