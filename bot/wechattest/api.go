package wechattest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token lifetimes as WeChat documents them.
const (
	TokenTTL   = 7200 * time.Second
	TokenGrace = 5 * time.Minute // an old token keeps working this long after a new fetch
	// TokenDailyQuota is the number of token fetches WeChat allows a day.
	TokenDailyQuota = 2000
)

// shanghai is the zone WeChat's daily and monthly quotas roll over in.
var shanghai = time.FixedZone("CST", 8*3600)

// maxBody bounds what the fake reads of a request: the largest legal upload
// (10 MB) plus multipart overhead.
const maxBody = 11 << 20

// API is a fake of WeChat's HTTP API (api.weixin.qq.com) as an http.Handler.
// Paths are WeChat's (/cgi-bin/...), so it also works mounted under a prefix
// with http.StripPrefix. It enforces WeChat's rules: access_token lifecycle,
// the customer-service window, template field limits, mass-send bounds and
// deduplication, media expiry, menu limits. Every call is recorded.
//
// Openids are lenient: an openid the fake has never seen counts as a follower
// (so tests need not register every resident) until Unfollow is called.
type API struct {
	// NoWindow lifts the per-resident delivery limits — the customer-service
	// window and count, and the four-a-month mass limit — for demo mode, where
	// no push Client tells the fake of residents' actions. Set it before the
	// API serves.
	NoWindow bool

	appID, appSecret string

	mu           sync.Mutex
	now          func() time.Time
	tokens       map[string]*token
	current      map[string]string // token pool ("token", "stable") → newest token
	tokenFetches int
	tokenDay     string
	tokenDayN    int

	users     map[string]*user
	userOrder []string
	tags      map[int]string
	tagOrder  []int
	nextTagID int

	media map[string]*mediaItem
	menu  []any // the button list as posted

	sent      map[string][]Sent
	sentCh    chan struct{} // closed and replaced when anything is sent
	nextMsgID int64

	massClientIDs map[string]time.Time
	massCalls     []time.Time
	massJobs      []MassJob

	calls  []Call
	fails  map[string]*failRule
	delays map[string]time.Duration
}

type token struct {
	pool       string
	expires    time.Time
	superseded bool // expired by a newer fetch: WeChat says 40001, not 42001
}

type user struct {
	openid     string
	subscribed bool
	since      time.Time
	tags       []int
	lastMsg    time.Time // last message from the resident: 48 h, 5 messages
	msgCount   int
	lastEvent  time.Time // last follow, menu click or scan: 1 minute, 3 messages
	eventCount int
	massMonth  string
	massCount  int
}

type failRule struct {
	errcode int
	times   int // < 0: every call
}

// Call is one recorded API call.
type Call struct {
	Method  string
	Path    string
	Query   url.Values
	Body    []byte
	Time    time.Time // by the API's clock, on arrival
	Errcode int       // 0 on success; -1 also when the caller gave up during an injected delay
}

// Sent is one message delivered to a resident through the API.
type Sent struct {
	Kind    string `json:"kind"` // custom, template or mass
	OpenID  string `json:"openid"`
	MsgType string `json:"msgtype,omitempty"` // custom and mass: text, image, news, …
	// Text is the text a resident reads: the content of a text message; for
	// news, menus and templates a readable rendering (templates: one
	// "key: value" line per field in the order posted, without the first and
	// remark lines WeChat no longer shows).
	Text       string            `json:"text,omitempty"`
	MediaID    string            `json:"media_id,omitempty"`
	TemplateID string            `json:"template_id,omitempty"`
	Data       map[string]string `json:"data,omitempty"` // template fields as posted
	URL        string            `json:"url,omitempty"`
	MsgID      int64             `json:"msgid,omitempty"` // template msgid or mass msg_id
	Time       time.Time         `json:"time"`
	Body       json.RawMessage   `json:"-"` // the request as posted
}

// MassJob is one accepted mass send.
type MassJob struct {
	MsgID     int64
	Total     int // residents addressed
	Filtered  int // left out: unfollowed or over four this month
	SentCount int
}

// NewAPI returns a fake for the account with this appid and secret.
func NewAPI(appID, appSecret string) *API {
	return &API{
		appID:         appID,
		appSecret:     appSecret,
		now:           time.Now,
		tokens:        map[string]*token{},
		current:       map[string]string{},
		users:         map[string]*user{},
		tags:          map[int]string{2: "星标组"}, // WeChat's built-in tag
		tagOrder:      []int{2},
		nextTagID:     100,
		media:         map[string]*mediaItem{},
		sent:          map[string][]Sent{},
		sentCh:        make(chan struct{}),
		nextMsgID:     1000000000,
		massClientIDs: map[string]time.Time{},
		fails:         map[string]*failRule{},
		delays:        map[string]time.Duration{},
	}
}

// SetNow replaces the clock that token expiry, windows, quotas and media
// expiry are judged by.
func (a *API) SetNow(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// apiError is WeChat's error answer.
type apiError struct {
	Code int    `json:"errcode"`
	Msg  string `json:"errmsg"`
}

func errc(code int) apiError { return apiError{code, errmsg(code)} }

func errf(code int, format string, args ...any) apiError {
	return apiError{code, errmsg(code) + ": " + fmt.Sprintf(format, args...)}
}

func errmsg(code int) string {
	switch code {
	case -1:
		return "system error"
	case 40001:
		return "invalid credential, access_token is invalid or not latest"
	case 40002:
		return "invalid grant_type"
	case 40003:
		return "invalid openid"
	case 40004:
		return "invalid media type"
	case 40005:
		return "invalid file type"
	case 40007:
		return "invalid media_id"
	case 40008:
		return "invalid message type"
	case 40009:
		return "invalid image size"
	case 40010:
		return "invalid voice size"
	case 40011:
		return "invalid video size"
	case 40012:
		return "invalid thumb size"
	case 40013:
		return "invalid appid"
	case 40016:
		return "invalid button size"
	case 40017:
		return "invalid button type"
	case 40018:
		return "invalid button name size"
	case 40019:
		return "invalid button key size"
	case 40020:
		return "invalid button url size"
	case 40023:
		return "invalid sub button size"
	case 40024:
		return "invalid sub button type"
	case 40025:
		return "invalid sub button name size"
	case 40026:
		return "invalid sub button key size"
	case 40027:
		return "invalid sub button url size"
	case 40032:
		return "invalid openid list size"
	case 40037:
		return "invalid template_id"
	case 40125:
		return "invalid appsecret"
	case 40130:
		return "invalid openid list size, at least two openid"
	case 41001:
		return "access_token missing"
	case 41005:
		return "media data missing"
	case 42001:
		return "access_token expired"
	case 43001:
		return "require GET method"
	case 43002:
		return "require POST method"
	case 43004:
		return "require subscribe"
	case 44002:
		return "empty post data"
	case 44003:
		return "empty news data"
	case 44004:
		return "empty content"
	case 45008:
		return "article size out of limit"
	case 45009:
		return "reach max api daily quota limit"
	case 45015:
		return "response out of time limit or subscription is canceled"
	case 45047:
		return "out of response count limit"
	case 45056:
		return "too many tags"
	case 45059:
		return "too many tags on a user"
	case 45065:
		return "clientmsgid exist"
	case 45157:
		return "invalid tag name"
	case 45158:
		return "tag name too long"
	case 45159:
		return "invalid tag id"
	case 46003:
		return "menu no exist"
	case 47001:
		return "data format error"
	case 47003:
		return "argument invalid!"
	}
	return "injected error"
}

// mediaResponse is a media download: bytes, not JSON.
type mediaResponse struct {
	id          string
	contentType string
	data        []byte
}

// apiCall is what a route handler sees. Handlers run with a.mu held.
type apiCall struct {
	r    *http.Request
	q    url.Values
	body []byte
	now  time.Time
}

type route struct {
	method string
	noAuth bool // the token endpoints themselves
	handle func(*API, *apiCall) any
}

// routes maps WeChat's paths to handlers; it is never written after init.
var routes = map[string]route{
	"/cgi-bin/token":                       {http.MethodGet, true, (*API).handleToken},
	"/cgi-bin/stable_token":                {http.MethodPost, true, (*API).handleStableToken},
	"/cgi-bin/message/custom/send":         {http.MethodPost, false, (*API).handleCustomSend},
	"/cgi-bin/message/custom/typing":       {http.MethodPost, false, (*API).handleTyping},
	"/cgi-bin/message/template/send":       {http.MethodPost, false, (*API).handleTemplateSend},
	"/cgi-bin/message/mass/send":           {http.MethodPost, false, (*API).handleMassSend},
	"/cgi-bin/message/mass/sendall":        {http.MethodPost, false, (*API).handleMassSendAll},
	"/cgi-bin/media/get":                   {http.MethodGet, false, (*API).handleMediaGet},
	"/cgi-bin/media/upload":                {http.MethodPost, false, (*API).handleMediaUpload},
	"/cgi-bin/menu/create":                 {http.MethodPost, false, (*API).handleMenuCreate},
	"/cgi-bin/menu/get":                    {http.MethodGet, false, (*API).handleMenuGet},
	"/cgi-bin/menu/delete":                 {http.MethodGet, false, (*API).handleMenuDelete},
	"/cgi-bin/get_current_selfmenu_info":   {http.MethodGet, false, (*API).handleSelfMenuInfo},
	"/cgi-bin/user/info":                   {http.MethodGet, false, (*API).handleUserInfo},
	"/cgi-bin/user/get":                    {http.MethodGet, false, (*API).handleUserGet},
	"/cgi-bin/tags/create":                 {http.MethodPost, false, (*API).handleTagCreate},
	"/cgi-bin/tags/get":                    {http.MethodGet, false, (*API).handleTagGet},
	"/cgi-bin/tags/members/batchtagging":   {http.MethodPost, false, (*API).handleBatchTagging},
	"/cgi-bin/tags/members/batchuntagging": {http.MethodPost, false, (*API).handleBatchUntagging},
	"/cgi-bin/user/tag/get":                {http.MethodPost, false, (*API).handleTagUsers},
	"/cgi-bin/tags/getidlist":              {http.MethodPost, false, (*API).handleTagIDList},
}

// ServeHTTP answers as WeChat does: HTTP 200 with a JSON body, errors as
// {"errcode":N,"errmsg":"..."}.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/_sim/") {
		a.serveSim(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}

	a.mu.Lock()
	call := Call{Method: r.Method, Path: path, Query: r.URL.Query(), Body: body, Time: a.now()}
	delay, ok := a.delays[path]
	if !ok {
		delay = a.delays[""]
	}
	a.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The caller gave up, as the server's HTTP client should after
			// its timeout: record it and answer nobody.
			t.Stop()
			call.Errcode = -1
			a.mu.Lock()
			a.calls = append(a.calls, call)
			a.mu.Unlock()
			return
		}
	}

	a.mu.Lock()
	res := a.handle(path, &apiCall{r: r, q: call.Query, body: body, now: a.now()})
	switch v := res.(type) {
	case apiError:
		call.Errcode = v.Code
	case nil:
		call.Errcode = 404
	}
	a.calls = append(a.calls, call)
	a.mu.Unlock()

	switch v := res.(type) {
	case nil:
		http.NotFound(w, r)
	case mediaResponse:
		w.Header().Set("Content-Type", v.contentType)
		w.Header().Set("Content-disposition", fmt.Sprintf(`attachment; filename="%s%s"`, v.id, extension(v.contentType)))
		w.Header().Set("Content-Length", strconv.Itoa(len(v.data)))
		_, _ = w.Write(v.data)
	default:
		writeJSON(w, v)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(errc(-1))
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_, _ = w.Write(b)
}

// handle runs with a.mu held. A nil result means no such path.
func (a *API) handle(path string, c *apiCall) any {
	if f := a.fails[path]; f != nil && f.times != 0 {
		if f.times > 0 {
			f.times--
		}
		return errc(f.errcode)
	}
	rt, ok := routes[path]
	if !ok {
		return nil
	}
	if c.r.Method != rt.method {
		if rt.method == http.MethodPost {
			return errc(43002)
		}
		return errc(43001)
	}
	if !rt.noAuth {
		if e, bad := a.checkToken(c.q.Get("access_token"), c.now); bad {
			return e
		}
	}
	return rt.handle(a, c)
}

// decode parses a JSON body the way WeChat complains about it.
func decode(c *apiCall, v any) (apiError, bool) {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return errc(44002), false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return errf(47001, "%v", err), false
	}
	return apiError{}, true
}

// ok is WeChat's plain success answer.
func ok() map[string]any { return map[string]any{"errcode": 0, "errmsg": "ok"} }

// Fail makes the next times calls to path (e.g. "/cgi-bin/message/custom/send")
// answer errcode, before any other check; times < 0 means every call until
// Reset.
func (a *API) Fail(path string, errcode int, times int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fails[path] = &failRule{errcode: errcode, times: times}
}

// Delay holds every answer on path ("" for all paths) for d of real time, or
// until the caller gives up (its context ends), whichever comes first.
func (a *API) Delay(path string, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delays[path] = d
}

// Reset removes injected failures and delays; the fake's state stays.
func (a *API) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fails = map[string]*failRule{}
	a.delays = map[string]time.Duration{}
}

// Calls returns every recorded call, in the order they were answered.
func (a *API) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// CallsTo returns the recorded calls to one path.
func (a *API) CallsTo(path string) []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Call
	for _, c := range a.calls {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// Sent returns what was delivered to openid, in order.
func (a *API) Sent(openid string) []Sent {
	return a.SentAfter(openid, 0)
}

// SentAfter returns what was delivered to openid after the first n items.
func (a *API) SentAfter(openid string, n int) []Sent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sentAfterLocked(openid, n)
}

func (a *API) sentAfterLocked(openid string, n int) []Sent {
	all := a.sent[openid]
	if n < 0 {
		n = 0
	}
	if n >= len(all) {
		return []Sent{}
	}
	return append([]Sent(nil), all[n:]...)
}

// deliver records a message as received by openid and wakes long polls.
func (a *API) deliver(s Sent) {
	a.sent[s.OpenID] = append(a.sent[s.OpenID], s)
	close(a.sentCh)
	a.sentCh = make(chan struct{})
}

// newMsgID numbers template and mass messages.
func (a *API) newMsgID() int64 {
	a.nextMsgID++
	return a.nextMsgID
}

// userLocked returns the resident, creating a follower on first sight.
func (a *API) userLocked(openid string) *user {
	u := a.users[openid]
	if u == nil {
		u = &user{openid: openid, subscribed: true, since: a.now()}
		a.users[openid] = u
		a.userOrder = append(a.userOrder, openid)
	}
	return u
}

// Follow marks openid as following the account.
func (a *API) Follow(openid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.userLocked(openid)
	if !u.subscribed {
		u.subscribed, u.since = true, a.now()
	}
}

// Unfollow marks openid as no longer following: customer-service messages
// then fail with 45015, templates with 43004, and mass sends skip it.
func (a *API) Unfollow(openid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.userLocked(openid)
	u.subscribed = false
	u.lastMsg, u.lastEvent = time.Time{}, time.Time{}
}

// Following reports whether openid follows the account.
func (a *API) Following(openid string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[openid]
	return u == nil || u.subscribed
}

// Interacted records a message from the resident at at: it opens a 48-hour
// customer-service window of five messages, replacing the previous one.
func (a *API) Interacted(openid string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.userLocked(openid)
	u.lastMsg, u.msgCount = at, 0
}

// InteractedEvent records a follow, menu click or QR scan at at: it opens a
// one-minute window of three customer-service messages.
func (a *API) InteractedEvent(openid string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.userLocked(openid)
	u.lastEvent, u.eventCount = at, 0
}

// serveSim serves the inspection endpoints used by the terminal simulator
// (GET /_sim/sent and GET /_sim/media?media_id=X). They are not WeChat's, so
// they are neither authenticated nor recorded.
func (a *API) serveSim(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/_sim/sent":
		a.serveSimSent(w, r)
	case "/_sim/media":
		// Lets the simulator show an image message without an access_token.
		id := r.URL.Query().Get("media_id")
		a.mu.Lock()
		m := a.media[id]
		a.mu.Unlock()
		if m == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", m.contentType)
		_, _ = w.Write(m.data)
	default:
		http.NotFound(w, r)
	}
}

// serveSimSent answers GET /_sim/sent?openid=X&after=N&wait=S with the JSON
// list of what openid received after the first N items, waiting up to S
// seconds (at most 25) for something to arrive.
func (a *API) serveSimSent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	openid := q.Get("openid")
	after, _ := strconv.Atoi(q.Get("after"))
	wait, _ := strconv.ParseFloat(q.Get("wait"), 64)
	wait = min(max(wait, 0), 25)
	// Real time, not the API's clock: this is a network long poll.
	timer := time.NewTimer(time.Duration(wait * float64(time.Second)))
	defer timer.Stop()
	for {
		a.mu.Lock()
		items := a.sentAfterLocked(openid, after)
		ch := a.sentCh
		a.mu.Unlock()
		if len(items) > 0 {
			writeJSON(w, items)
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			writeJSON(w, items)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// sortedTagIDs is used for stable JSON.
func sortedTagIDs(ids []int) []int {
	out := append([]int{}, ids...)
	sort.Ints(out)
	return out
}
