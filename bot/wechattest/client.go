package wechattest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAccount is the account's original id (ToUserName of every push)
// when Client.ToUser is empty.
const DefaultAccount = "gh_hazardbot"

// PushDeadline is how long WeChat waits for an answer before it drops the
// connection and tries again. The default Client gives up after it too.
const PushDeadline = 5 * time.Second

// Client pushes messages and events to the server the way WeChat does:
// signed query, XML body, and in safe mode the AES envelope. It then judges
// the answer as WeChat would (see Reply.Problem).
//
// Events are deduplicated by servers on FromUserName+CreateTime, and
// CreateTime has one-second resolution, exactly as with WeChat: two events
// from one resident within the same second look like a retry. Tests with an
// injected clock must advance it between events.
type Client struct {
	URL    string // the push endpoint, e.g. server.URL + "/wechat"
	Token  string
	AESKey string // EncodingAESKey; "" is plaintext mode, anything else safe mode
	AppID  string
	ToUser string       // the account's original id; "" means DefaultAccount
	HTTP   *http.Client // nil means a client that gives up after PushDeadline
	Now    func() time.Time
	// API, when set, learns of every push as WeChat would: a message opens
	// the resident's 48-hour customer-service window, a follow, menu click or
	// scan the 1-minute one, an unfollow ends the subscription.
	API *API
}

// LocationInfo is the SendLocationInfo of a location_select event.
type LocationInfo struct {
	LocationX, LocationY float64 // latitude, longitude
	Scale                int
	Label, Poiname       string
}

// PicsInfo is the SendPicsInfo of the pic_* events: the photos themselves
// then arrive as separate image messages.
type PicsInfo struct {
	Count      int
	PicMD5Sums []string
}

// Message is any push, message or event. Zero fields are left out of the XML
// unless the message type always carries them (a location message always
// has Location_X, Location_Y, Scale and Label, even at 0).
type Message struct {
	FromUser string // the resident's openid
	MsgType  string // text, image, voice, location, event, …
	Event    string
	EventKey string
	Content  string
	MsgID    int64 // MsgId of a message; the constructors draw a fresh one

	PicURL, MediaID, Format, Recognition string

	LocationX, LocationY float64 // location message: latitude, longitude
	Scale                int
	Label                string

	Latitude, Longitude, Precision float64 // LOCATION event

	SendLocationInfo *LocationInfo
	SendPicsInfo     *PicsInfo

	Ticket string

	// TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH: the job's id goes out as
	// <MsgID> (capital D, unlike a message's <MsgId>).
	TemplateMsgID                                  int64
	Status                                         string
	TotalCount, FilterCount, SentCount, ErrorCount int

	CreateTime time.Time // zero means the Client's clock at send time
}

var (
	msgIDOnce sync.Once
	msgIDSeq  atomic.Int64
)

// newMsgID returns a MsgId of WeChat's magnitude (about 2·10^16), unique in
// this process; seeding from the clock keeps separate test processes that
// share a dedup store (Redis) from colliding.
func newMsgID() int64 {
	msgIDOnce.Do(func() { msgIDSeq.Store(time.Now().UnixMicro() << 4) })
	return msgIDSeq.Add(1)
}

// randomDigits returns a decimal string like WeChat's nonces and tickets.
func randomDigits() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Text is a text message.
func Text(from, content string) Message {
	return Message{FromUser: from, MsgType: "text", Content: content, MsgID: newMsgID()}
}

// Image is a photo message; the server downloads it by mediaID (see
// API.AddMedia) before it expires after three days.
func Image(from, picURL, mediaID string) Message {
	return Message{FromUser: from, MsgType: "image", PicURL: picURL, MediaID: mediaID, MsgID: newMsgID()}
}

// Voice is a voice message in amr; recognition is the speech-to-text, which
// WeChat sends only when it is switched on in the console ("" leaves it out).
func Voice(from, mediaID, recognition string) Message {
	return Message{FromUser: from, MsgType: "voice", MediaID: mediaID, Format: "amr", Recognition: recognition, MsgID: newMsgID()}
}

// Location is a location message (coordinates as the WeChat client sends
// them: GCJ-02 in mainland China).
func Location(from string, lat, lng float64, label string) Message {
	return Message{FromUser: from, MsgType: "location", LocationX: lat, LocationY: lng, Scale: 15, Label: label, MsgID: newMsgID()}
}

func event(from, ev, key string) Message {
	return Message{FromUser: from, MsgType: "event", Event: ev, EventKey: key}
}

// Subscribe is a follow.
func Subscribe(from string) Message { return event(from, "subscribe", "") }

// SubscribeQR is a follow by scanning a parametric QR code.
func SubscribeQR(from, scene string) Message {
	m := event(from, "subscribe", "qrscene_"+scene)
	m.Ticket = "gQ" + randomHex(16)
	return m
}

// Unsubscribe is an unfollow.
func Unsubscribe(from string) Message { return event(from, "unsubscribe", "") }

// Scan is a scan of a parametric QR code by a resident who already follows.
func Scan(from, scene string) Message {
	m := event(from, "SCAN", scene)
	m.Ticket = "gQ" + randomHex(16)
	return m
}

// Click is a click on a menu button of type click.
func Click(from, key string) Message { return event(from, "CLICK", key) }

// View is a click on a menu button of type view; EventKey is the URL.
func View(from, url string) Message { return event(from, "VIEW", url) }

// LocationEvent is the periodic location report (answer only "success").
func LocationEvent(from string, lat, lng, precision float64) Message {
	m := event(from, "LOCATION", "")
	m.Latitude, m.Longitude, m.Precision = lat, lng, precision
	return m
}

// LocationSelect is the location_select menu event.
func LocationSelect(from, key string, lat, lng float64, label, poiname string) Message {
	m := event(from, "location_select", key)
	m.SendLocationInfo = &LocationInfo{LocationX: lat, LocationY: lng, Scale: 15, Label: label, Poiname: poiname}
	return m
}

// PicPhotoOrAlbum is the pic_photo_or_album menu event announcing count
// photos; set Event to pic_sysphoto or pic_weixin for the other two kinds.
func PicPhotoOrAlbum(from, key string, count int) Message {
	m := event(from, "pic_photo_or_album", key)
	info := &PicsInfo{Count: count}
	for range count {
		info.PicMD5Sums = append(info.PicMD5Sums, randomHex(16))
	}
	m.SendPicsInfo = info
	return m
}

// TemplateSendJobFinish reports a template message's delivery: status is
// "success", "failed:user block" or "failed: system failed".
func TemplateSendJobFinish(from string, msgID int64, status string) Message {
	m := event(from, "TEMPLATESENDJOBFINISH", "")
	m.TemplateMsgID, m.Status = msgID, status
	return m
}

// MassSendJobFinish reports a mass send's result.
func MassSendJobFinish(from string, msgID int64, status string, total, filter, sent, errs int) Message {
	m := event(from, "MASSSENDJOBFINISH", "")
	m.TemplateMsgID, m.Status = msgID, status
	m.TotalCount, m.FilterCount, m.SentCount, m.ErrorCount = total, filter, sent, errs
	return m
}

// xmlWriter writes WeChat's push XML: strings in CDATA, numbers bare.
type xmlWriter struct{ bytes.Buffer }

func (w *xmlWriter) str(name, v string) {
	// "]]>" cannot appear inside CDATA: split it across two sections.
	v = strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>")
	fmt.Fprintf(&w.Buffer, "<%s><![CDATA[%s]]></%s>", name, v, name)
}

func (w *xmlWriter) num(name, v string) { fmt.Fprintf(&w.Buffer, "<%s>%s</%s>", name, v, name) }

func (w *xmlWriter) int(name string, v int64) { w.num(name, strconv.FormatInt(v, 10)) }

// coord formats a coordinate as WeChat does: six decimals.
func coord(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// XML renders the push as WeChat sends it in plaintext mode (and, in safe
// mode, before encryption). toUser is the account's original id.
func (m Message) XML(toUser string) []byte {
	var w xmlWriter
	isEvent := m.MsgType == "event"
	need := func(field string) bool {
		switch m.MsgType {
		case "text":
			return field == "Content" || field == "MsgId"
		case "image":
			return field == "PicUrl" || field == "MediaId" || field == "MsgId"
		case "voice":
			return field == "MediaId" || field == "Format" || field == "MsgId"
		case "location":
			return field == "Location_X" || field == "Location_Y" || field == "Scale" || field == "Label" || field == "MsgId"
		}
		switch m.Event {
		case "LOCATION":
			return field == "Latitude" || field == "Longitude" || field == "Precision"
		case "CLICK", "VIEW", "SCAN", "location_select", "pic_sysphoto", "pic_photo_or_album", "pic_weixin":
			return field == "EventKey"
		case "TEMPLATESENDJOBFINISH":
			return field == "MsgID" || field == "Status"
		case "MASSSENDJOBFINISH":
			return field == "MsgID" || field == "Status" || field == "TotalCount" || field == "FilterCount" ||
				field == "SentCount" || field == "ErrorCount"
		}
		return false
	}
	str := func(name, v string) {
		if v != "" || need(name) {
			w.str(name, v)
		}
	}
	flt := func(name string, v float64) {
		if v != 0 || need(name) {
			w.num(name, coord(v))
		}
	}
	num := func(name string, v int64) {
		if v != 0 || need(name) {
			w.int(name, v)
		}
	}

	w.WriteString("<xml>")
	w.str("ToUserName", toUser)
	w.str("FromUserName", m.FromUser)
	w.int("CreateTime", m.CreateTime.Unix())
	w.str("MsgType", m.MsgType)
	str("Content", m.Content)
	str("PicUrl", m.PicURL)
	str("MediaId", m.MediaID)
	str("Format", m.Format)
	str("Recognition", m.Recognition)
	flt("Location_X", m.LocationX)
	flt("Location_Y", m.LocationY)
	num("Scale", int64(m.Scale))
	str("Label", m.Label)
	str("Event", m.Event)
	str("EventKey", m.EventKey)
	str("Ticket", m.Ticket)
	flt("Latitude", m.Latitude)
	flt("Longitude", m.Longitude)
	flt("Precision", m.Precision)
	if li := m.SendLocationInfo; li != nil {
		// WeChat sends these numbers inside CDATA, unlike a location message.
		w.WriteString("<SendLocationInfo>")
		w.str("Location_X", coord(li.LocationX))
		w.str("Location_Y", coord(li.LocationY))
		w.str("Scale", strconv.Itoa(li.Scale))
		w.str("Label", li.Label)
		w.str("Poiname", li.Poiname)
		w.WriteString("</SendLocationInfo>")
	}
	if pi := m.SendPicsInfo; pi != nil {
		w.WriteString("<SendPicsInfo>")
		w.int("Count", int64(pi.Count))
		w.WriteString("<PicList>")
		for _, sum := range pi.PicMD5Sums {
			w.WriteString("<item>")
			w.str("PicMd5Sum", sum)
			w.WriteString("</item>")
		}
		w.WriteString("</PicList></SendPicsInfo>")
	}
	num("MsgID", m.TemplateMsgID)
	str("Status", m.Status)
	num("TotalCount", int64(m.TotalCount))
	num("FilterCount", int64(m.FilterCount))
	num("SentCount", int64(m.SentCount))
	num("ErrorCount", int64(m.ErrorCount))
	if !isEvent || m.MsgID != 0 {
		num("MsgId", m.MsgID)
	}
	w.WriteString("</xml>")
	return w.Bytes()
}

// Option changes one push or URL check, for hostile tests.
type Option func(*pushOptions)

type pushOptions struct {
	signature    *string
	noSignature  bool
	msgSignature *string
	timestamp    *time.Time
	nonce        string
	rawBody      []byte
	plaintext    []byte
	appID        *string
}

// WithSignature forges the signature query parameter.
func WithSignature(sig string) Option { return func(o *pushOptions) { o.signature = &sig } }

// WithoutSignature leaves the signature parameter out.
func WithoutSignature() Option { return func(o *pushOptions) { o.noSignature = true } }

// WithMsgSignature forges msg_signature (safe mode).
func WithMsgSignature(sig string) Option { return func(o *pushOptions) { o.msgSignature = &sig } }

// WithTimestamp signs with this time instead of the clock's (a stale or
// future timestamp); CreateTime in the body is unchanged.
func WithTimestamp(t time.Time) Option { return func(o *pushOptions) { o.timestamp = &t } }

// WithNonce fixes the nonce.
func WithNonce(nonce string) Option { return func(o *pushOptions) { o.nonce = nonce } }

// WithRawBody posts body exactly as given, correctly signed. In safe mode
// msg_signature covers the Encrypt element found in body, if any.
func WithRawBody(body []byte) Option { return func(o *pushOptions) { o.rawBody = body } }

// WithPlaintext replaces the message XML before encryption, so a safe-mode
// test can deliver malformed XML in a valid envelope.
func WithPlaintext(xml []byte) Option { return func(o *pushOptions) { o.plaintext = xml } }

// WithAppID encrypts for another account's appid.
func WithAppID(appID string) Option { return func(o *pushOptions) { o.appID = &appID } }

// Push is one built push: its exact bytes, so that a test can replay it as
// WeChat's retries do (each NewRequest gives a fresh *http.Request).
type Push struct {
	URL       string
	Body      []byte
	Plaintext []byte  // the message XML before encryption
	Message   Message // with CreateTime filled in
}

// NewRequest builds a fresh request carrying the push.
func (p *Push) NewRequest(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	return req, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) account() string {
	if c.ToUser != "" {
		return c.ToUser
	}
	return DefaultAccount
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: PushDeadline}
}

// Prepare builds, signs and (in safe mode) encrypts m, and tells c.API of the
// resident's action once, however often the push is then replayed.
func (c *Client) Prepare(m Message, opts ...Option) (*Push, error) {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	now := c.now()
	if m.CreateTime.IsZero() {
		m.CreateTime = now
	}
	ts := now
	if o.timestamp != nil {
		ts = *o.timestamp
	}
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	nonce := o.nonce
	if nonce == "" {
		nonce = randomDigits()
	}

	plain := m.XML(c.account())
	if o.plaintext != nil {
		plain = o.plaintext
	}
	q := url.Values{}
	sig := Signature(c.Token, timestamp, nonce)
	if o.signature != nil {
		sig = *o.signature
	}
	if !o.noSignature {
		q.Set("signature", sig)
	}
	q.Set("timestamp", timestamp)
	q.Set("nonce", nonce)
	q.Set("openid", m.FromUser)

	body := plain
	if c.AESKey != "" {
		appID := c.AppID
		if o.appID != nil {
			appID = *o.appID
		}
		enc, err := Encrypt(c.AESKey, appID, nil, plain)
		if err != nil {
			return nil, fmt.Errorf("wechattest: encrypt push: %w", err)
		}
		var w xmlWriter
		w.WriteString("<xml>")
		w.str("ToUserName", c.account())
		w.str("Encrypt", enc)
		w.WriteString("</xml>")
		body = w.Bytes()
		if o.rawBody != nil {
			body = o.rawBody
			var env struct{ Encrypt string }
			_ = xml.Unmarshal(body, &env)
			enc = env.Encrypt
		}
		msgSig := Signature(c.Token, timestamp, nonce, enc)
		if o.msgSignature != nil {
			msgSig = *o.msgSignature
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", msgSig)
	} else if o.rawBody != nil {
		body = o.rawBody
	}

	if c.API != nil {
		c.recordAction(m)
	}
	return &Push{URL: withQuery(c.URL, q), Body: body, Plaintext: plain, Message: m}, nil
}

// recordAction tells the fake API what WeChat would have learnt from this
// push: which actions open a customer-service window is WeChat's rule.
func (c *Client) recordAction(m Message) {
	if m.MsgType != "event" {
		c.API.Interacted(m.FromUser, m.CreateTime)
		return
	}
	switch m.Event {
	case "subscribe":
		c.API.Follow(m.FromUser)
		c.API.InteractedEvent(m.FromUser, m.CreateTime)
	case "unsubscribe":
		c.API.Unfollow(m.FromUser)
	case "SCAN", "CLICK", "scancode_push", "scancode_waitmsg":
		c.API.InteractedEvent(m.FromUser, m.CreateTime)
	}
}

func withQuery(base string, q url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + q.Encode()
}

// RequestBytes returns the URL and body of the push, for replaying it.
func (c *Client) RequestBytes(m Message, opts ...Option) (string, []byte, error) {
	p, err := c.Prepare(m, opts...)
	if err != nil {
		return "", nil, err
	}
	return p.URL, p.Body, nil
}

// Request returns the push as a request, to send with Do.
func (c *Client) Request(m Message, opts ...Option) (*http.Request, error) {
	p, err := c.Prepare(m, opts...)
	if err != nil {
		return nil, err
	}
	return p.NewRequest(context.Background())
}

// Send pushes m and returns the server's answer, decrypted and verified in
// safe mode.
func (c *Client) Send(m Message, opts ...Option) (*Reply, error) {
	req, err := c.Request(m, opts...)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// Reply is the server's answer to a push.
type Reply struct {
	Status  int
	Body    []byte // as received
	Header  http.Header
	Plain   []byte    // the reply XML: Body in plaintext mode, the decrypted Encrypt in safe mode
	XML     *ReplyXML // nil when the answer is "success" or empty
	Success bool      // the answer is "success" or empty: nothing is shown
	Elapsed time.Duration
	// Problem is why WeChat would show the resident "该公众号暂时无法提供服务，
	// 请稍后再试" instead of the reply; "" when WeChat would accept it.
	Problem string
}

// ReplyXML is a passive reply.
type ReplyXML struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string
	Content      string
	Image        *ReplyMedia `xml:"Image"`
	Voice        *ReplyMedia `xml:"Voice"`
	Video        *ReplyVideo `xml:"Video"`
	Music        *ReplyMusic `xml:"Music"`
	ArticleCount int
	Articles     []ReplyArticle `xml:"Articles>item"`
}

// ReplyMedia is the Image or Voice of a reply.
type ReplyMedia struct {
	MediaID string `xml:"MediaId"`
}

// ReplyVideo is the Video of a reply.
type ReplyVideo struct {
	MediaID     string `xml:"MediaId"`
	Title       string
	Description string
}

// ReplyMusic is the Music of a reply.
type ReplyMusic struct {
	Title        string
	Description  string
	MusicURL     string `xml:"MusicUrl"`
	HQMusicURL   string `xml:"HQMusicUrl"`
	ThumbMediaID string `xml:"ThumbMediaId"`
}

// ReplyArticle is one item of a news reply.
type ReplyArticle struct {
	Title       string
	Description string
	PicURL      string `xml:"PicUrl"`
	URL         string `xml:"Url"`
}

// ErrReplySignature means a safe-mode reply's MsgSignature did not match:
// WeChat would drop such a reply, and it points at a server bug.
var ErrReplySignature = errors.New("wechattest: reply MsgSignature mismatch")

// Do sends a push request (from Request or Push.NewRequest) and judges the
// answer. It returns an error for transport failures and for safe-mode
// replies that fail verification or decryption; answers WeChat would merely
// refuse to show come back with Reply.Problem set.
func (c *Client) Do(req *http.Request) (*Reply, error) {
	start := time.Now()
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("wechattest: push: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("wechattest: read reply: %w", err)
	}
	r := &Reply{Status: resp.StatusCode, Body: body, Header: resp.Header, Elapsed: time.Since(start)}
	q := req.URL.Query()
	safe := q.Get("encrypt_type") == "aes"
	if err := c.judge(r, safe, q.Get("openid")); err != nil {
		return r, err
	}
	return r, nil
}

func (c *Client) judge(r *Reply, safe bool, openid string) error {
	problem := func(format string, args ...any) error {
		if r.Problem == "" {
			r.Problem = fmt.Sprintf(format, args...)
		}
		return nil
	}
	if r.Elapsed > PushDeadline {
		problem("answered after %v, past WeChat's %v deadline", r.Elapsed.Round(time.Millisecond), PushDeadline)
	}
	if r.Status != http.StatusOK {
		return problem("HTTP status %d", r.Status)
	}
	trimmed := bytes.TrimSpace(r.Body)
	if len(trimmed) == 0 || string(trimmed) == "success" {
		r.Success = true
		return nil
	}
	r.Plain = r.Body
	if safe {
		var env struct {
			Encrypt      string
			MsgSignature string
			TimeStamp    string
			Nonce        string
		}
		if err := xml.Unmarshal(r.Body, &env); err != nil {
			return problem("reply is neither success nor XML: %v", err)
		}
		if env.Encrypt == "" {
			return problem("plaintext reply in safe mode")
		}
		if want := Signature(c.Token, env.TimeStamp, env.Nonce, env.Encrypt); env.MsgSignature != want {
			return fmt.Errorf("%w: got %q, want %q", ErrReplySignature, env.MsgSignature, want)
		}
		plain, err := Decrypt(c.AESKey, c.AppID, env.Encrypt)
		if err != nil {
			return fmt.Errorf("wechattest: reply: %w", err)
		}
		r.Plain = plain
		if p := bytes.TrimSpace(plain); len(p) == 0 || string(p) == "success" {
			// To say nothing WeChat wants "success" or an empty body in the
			// clear; sealing it (as the SDK does for a nil reply) is not that.
			return problem("safe-mode reply seals %q; say nothing with a plain \"success\"", p)
		}
	}
	var x ReplyXML
	if err := xml.Unmarshal(r.Plain, &x); err != nil {
		return problem("reply is neither success nor XML: %v", err)
	}
	r.XML = &x
	if openid != "" && x.ToUserName != openid {
		problem("reply ToUserName %q is not the resident %q", x.ToUserName, openid)
	}
	if x.FromUserName != c.account() {
		problem("reply FromUserName %q is not the account %q", x.FromUserName, c.account())
	}
	switch x.MsgType {
	case "text":
		if x.Content == "" {
			problem("text reply without Content")
		}
	case "image", "voice":
		m := x.Image
		if x.MsgType == "voice" {
			m = x.Voice
		}
		if m == nil || m.MediaID == "" {
			problem("%s reply without MediaId", x.MsgType)
		}
	case "video":
		if x.Video == nil || x.Video.MediaID == "" {
			problem("video reply without MediaId")
		}
	case "music":
		if x.Music == nil {
			problem("music reply without Music")
		}
	case "news":
		if x.ArticleCount != len(x.Articles) || x.ArticleCount < 1 || x.ArticleCount > 8 {
			problem("news reply with ArticleCount %d and %d items", x.ArticleCount, len(x.Articles))
		}
	case "transfer_customer_service":
	default:
		problem("unknown reply MsgType %q", x.MsgType)
	}
	return nil
}

// VerifyURL performs WeChat's URL check: a signed GET that must be answered
// with echostr unchanged. The caller closes the response body.
func (c *Client) VerifyURL(echostr string, opts ...Option) (*http.Response, error) {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	ts := c.now()
	if o.timestamp != nil {
		ts = *o.timestamp
	}
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	nonce := o.nonce
	if nonce == "" {
		nonce = randomDigits()
	}
	q := url.Values{}
	sig := Signature(c.Token, timestamp, nonce)
	if o.signature != nil {
		sig = *o.signature
	}
	if !o.noSignature {
		q.Set("signature", sig)
	}
	q.Set("timestamp", timestamp)
	q.Set("nonce", nonce)
	q.Set("echostr", echostr)
	req, err := http.NewRequest(http.MethodGet, withQuery(c.URL, q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("wechattest: verify URL: %w", err)
	}
	return resp, nil
}
