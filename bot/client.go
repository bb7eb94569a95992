package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/menu"
	"github.com/silenceper/wechat/v2/util"
	"github.com/sirupsen/logrus"
)

// DefaultAPIBase is WeChat's API host.
const DefaultAPIBase = "https://api.weixin.qq.com"

// WeChat error codes the project acts on.
const (
	ErrBusy          = -1
	ErrInvalidToken  = 40001
	ErrInvalidOpenID = 40003
	ErrInvalidMedia  = 40007
	ErrTokenExpired  = 42001
	ErrNotFollowing  = 43004
	ErrFrequency     = 45009
	ErrOutOfWindow   = 45015
	ErrTooMany       = 45047
)

// APIError is an error answer from WeChat's API.
type APIError struct {
	Path string
	Code int
	Msg  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wechat %s: errcode %d: %s", e.Path, e.Code, e.Msg)
}

// ErrCode is the WeChat error code in err, or 0.
func ErrCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// TokenStore is the shared store that holds the access token for every
// instance, with a lock so only one instance fetches it at a time.
type TokenStore interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Del(ctx context.Context, key string) error
	Lock(ctx context.Context, key string, ttl, wait time.Duration) (unlock func(), err error)
}

// Client calls WeChat's API. The access token lives in the shared store.
// Messages are sent with our own small calls because the SDK's customer and
// template senders return errors whose code cannot be read back, and the
// delivery rules depend on that code; menus go through the SDK.
type Client struct {
	AppID, Secret string
	Base          string
	HTTP          *http.Client
	Tokens        TokenStore
	Log           *slog.Logger

	// Metrics, when set, hears of API errors, token fetches and deliveries.
	Metrics interface {
		APIError(code int)
		TokenFetched(ok bool)
		Delivered(channel, outcome string)
	}

	menu *menu.Menu
}

const tokenKey = "wechat:access_token"

var (
	sdkOnce sync.Once
	// sdkBase is where the SDK's calls (menus) go. The SDK has one URI
	// modifier per process, so the client built last decides: a server
	// builds one, a test one per fake WeChat.
	sdkBase atomic.Pointer[string]
)

// NewClient builds the client and configures the SDK once per process: its
// calls go to base, its debug logging (which would print residents'
// messages) is silenced, and its managers are created here, not lazily,
// because the SDK's lazy getters race.
func NewClient(appID, secret, base string, tokens TokenStore, log *slog.Logger) *Client {
	base = strings.TrimRight(base, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	c := &Client{AppID: appID, Secret: secret, Base: base, Tokens: tokens, Log: log,
		HTTP: &http.Client{Timeout: 10 * time.Second}}
	sdkBase.Store(&base)
	sdkOnce.Do(func() {
		logrus.SetLevel(logrus.WarnLevel)
		logrus.SetOutput(io.Discard)
		util.DefaultHTTPClient = c.HTTP
		util.SetURIModifier(func(uri string) string {
			return strings.Replace(uri, DefaultAPIBase, *sdkBase.Load(), 1)
		})
	})
	oa := officialaccount.NewOfficialAccount(&oaconfig.Config{AppID: appID, AppSecret: secret, Cache: sdkCache{tokens}})
	oa.SetAccessTokenHandle(sdkToken{c})
	c.menu = oa.GetMenu()
	return c
}

// sdkToken lends the SDK our shared token.
type sdkToken struct{ c *Client }

func (t sdkToken) GetAccessToken() (string, error) { return t.c.Token(context.Background()) }
func (t sdkToken) GetAccessTokenContext(ctx context.Context) (string, error) {
	return t.c.Token(ctx)
}

// Token returns the shared access token, fetching it when none is cached.
// One instance fetches at a time: WeChat allows 2000 fetches a day and each
// fetch retires the previous token.
func (c *Client) Token(ctx context.Context) (string, error) {
	if v, ok, err := c.Tokens.Get(ctx, tokenKey); err == nil && ok {
		return string(v), nil
	}
	unlock, err := c.Tokens.Lock(ctx, tokenKey+":lock", 30*time.Second, 10*time.Second)
	if err != nil {
		return "", fmt.Errorf("wechat token lock: %w", err)
	}
	defer unlock()
	if v, ok, err := c.Tokens.Get(ctx, tokenKey); err == nil && ok {
		return string(v), nil // another instance fetched it meanwhile
	}
	q := url.Values{"grant_type": {"client_credential"}, "appid": {c.AppID}, "secret": {c.Secret}}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	err = c.do(ctx, http.MethodGet, "/cgi-bin/token?"+q.Encode(), nil, &out)
	if c.Metrics != nil {
		c.Metrics.TokenFetched(err == nil && out.AccessToken != "")
	}
	if err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", errors.New("wechat token: empty access_token")
	}
	// Refresh five minutes early so no call carries a token about to expire.
	ttl := time.Duration(max(out.ExpiresIn-300, 60)) * time.Second
	if err := c.Tokens.Set(ctx, tokenKey, []byte(out.AccessToken), ttl); err != nil {
		c.Log.Warn("cannot share the access token", "err", err)
	}
	c.Log.Info("fetched a new WeChat access token")
	return out.AccessToken, nil
}

// invalidate drops the cached token if it is still the one WeChat refused.
func (c *Client) invalidate(ctx context.Context, bad string) {
	unlock, err := c.Tokens.Lock(ctx, tokenKey+":lock", 30*time.Second, 10*time.Second)
	if err != nil {
		return
	}
	defer unlock()
	if v, ok, err := c.Tokens.Get(ctx, tokenKey); err == nil && ok && string(v) == bad {
		_ = c.Tokens.Del(ctx, tokenKey)
	}
}

// call makes an authenticated API call, refreshing the token once on 40001
// or 42001.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return err
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		err = c.do(ctx, method, path+sep+"access_token="+url.QueryEscape(tok), body, out)
		if code := ErrCode(err); attempt == 0 && (code == ErrInvalidToken || code == ErrTokenExpired) {
			c.invalidate(ctx, tok)
			continue
		}
		return err
	}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("wechat %s: %w", apiPath(path), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("wechat %s: %w", apiPath(path), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wechat %s: HTTP %d", apiPath(path), resp.StatusCode)
	}
	var e struct {
		Code int    `json:"errcode"`
		Msg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("wechat %s: bad answer: %w", apiPath(path), err)
	}
	if e.Code != 0 {
		if c.Metrics != nil {
			c.Metrics.APIError(e.Code)
		}
		return &APIError{Path: apiPath(path), Code: e.Code, Msg: e.Msg}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func apiPath(p string) string { p, _, _ = strings.Cut(p, "?"); return p }

// SendText sends a customer-service text message.
func (c *Client) SendText(ctx context.Context, openid, text string) error {
	body := map[string]any{"touser": openid, "msgtype": "text", "text": map[string]string{"content": text}}
	err := c.call(ctx, http.MethodPost, "/cgi-bin/message/custom/send", body, nil)
	c.delivered("custom", err)
	return err
}

// SendTemplate sends a template message and returns WeChat's msgid.
func (c *Client) SendTemplate(ctx context.Context, openid, templateID, link string, fields map[string]string) (int64, error) {
	data := map[string]map[string]string{}
	for k, v := range fields {
		data[k] = map[string]string{"value": v}
	}
	body := map[string]any{"touser": openid, "template_id": templateID, "data": data}
	if link != "" {
		body["url"] = link
	}
	var out struct {
		MsgID int64 `json:"msgid"`
	}
	err := c.call(ctx, http.MethodPost, "/cgi-bin/message/template/send", body, &out)
	c.delivered("template", err)
	return out.MsgID, err
}

// delivered tells Metrics how a message went: sent, undeliverable (no retry
// will help) or failed (it will be retried).
func (c *Client) delivered(channel string, err error) {
	if c.Metrics == nil {
		return
	}
	outcome := "sent"
	if Undeliverable(err) {
		outcome = "undeliverable"
	} else if err != nil {
		outcome = "failed"
	}
	c.Metrics.Delivered(channel, outcome)
}

// Menu is the SDK's menu manager, created once.
func (c *Client) Menu() *menu.Menu { return c.menu }
