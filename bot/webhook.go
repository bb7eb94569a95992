// Package bot is the WeChat adapter: it verifies and decrypts pushes,
// deduplicates WeChat's retries, turns a push into a dialogs.Input, and turns
// the replies into a passive reply or customer-service messages. It also holds
// the outgoing WeChat client. It decides nothing about conversations.
package bot

import (
	"context"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"hazardbot/dialogs"
)

// Limits of the push endpoint.
const (
	MaxBody        = 1 << 20
	ReplayWindow   = 5 * time.Minute
	DefaultTimeout = 4500 * time.Millisecond // WeChat gives up after 5 s
	answerTTL      = 30 * time.Second        // WeChat's three tries end within about 15 s
	pending        = "\x00pending"
)

// Dialogs runs a resident's input through the conversation.
type Dialogs interface {
	Handle(ctx context.Context, in dialogs.Input) ([]dialogs.Reply, error)
}

// Users records what WeChat tells us about a resident.
type Users interface {
	TouchUser(ctx context.Context, openid string, at time.Time) error
	SetSubscribed(ctx context.Context, openid string, subscribed bool, at time.Time) error
	SetLastLocation(ctx context.Context, openid string, lat, lng float64, at time.Time) error
}

// Outbox queues durable background work.
type Outbox interface {
	Enqueue(ctx context.Context, kind, dedupKey string, payload any, runAt time.Time) error
}

// KV is the part of the session store the webhook uses for retry dedup.
type KV interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error)
}

// Webhook serves GET and POST /wechat.
type Webhook struct {
	Token  string
	AppID  string
	AESKey string // EncodingAESKey; empty: safe-mode pushes are refused

	Dialogs Dialogs
	Users   Users
	Outbox  Outbox
	KV      KV
	Now     func() time.Time
	Log     *slog.Logger
	// Timeout is how long a passive reply may take (default 4.5 s); work that
	// runs longer answers through the customer-service API.
	Timeout time.Duration
	// Busy is what a resident reads when handling their message failed.
	Busy string
	// JobFinished receives TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH events.
	JobFinished func(ctx context.Context, ev JobFinish) error
	// Metrics, when set, hears of every push: its type, its outcome (reply,
	// empty, retry, refused, error) and how long the answer took.
	Metrics interface {
		Push(msgType, outcome string, took time.Duration)
	}

	// Background holds the work that outlives its request, so a graceful
	// shutdown can wait for it. Its context is BaseContext.
	inflight    sync.WaitGroup
	BaseContext context.Context
	touches     touchLimiter
}

// JobFinish is WeChat's report on a template or mass send.
type JobFinish struct {
	Event                       string // TEMPLATESENDJOBFINISH or MASSSENDJOBFINISH
	OpenID                      string
	MsgID                       int64
	Status                      string
	Total, Filter, Sent, Errors int64
}

// Wait blocks until the background work started by pushes has finished.
func (h *Webhook) Wait() { h.inflight.Wait() }

func (h *Webhook) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Webhook) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultTimeout
}

// httpError is an error with the status the push gets.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var err error
	switch r.Method {
	case http.MethodGet:
		err = h.verifyURL(w, r)
	case http.MethodPost:
		err = h.push(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		err = fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, msg: "internal error"}
			h.Log.Error("push failed", "err", err)
		} else {
			h.Log.Debug("push refused", "status", he.status, "reason", he.msg)
		}
		outcome := "refused"
		if he.status >= http.StatusInternalServerError {
			outcome = "error"
		}
		h.observe("unknown", outcome, start)
		http.Error(w, he.msg, he.status)
	}
}

// checkSignature verifies WeChat's signature and the timestamp's freshness.
func (h *Webhook) checkSignature(q url.Values) error {
	sig, ts, nonce := q.Get("signature"), q.Get("timestamp"), q.Get("nonce")
	if sig == "" || ts == "" || nonce == "" {
		return fail(http.StatusForbidden, "missing signature")
	}
	if !equal(util.Signature(h.Token, ts, nonce), sig) {
		return fail(http.StatusForbidden, "bad signature")
	}
	// Parsed as 64 bits: the SDK's 32-bit parse breaks in 2038.
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fail(http.StatusForbidden, "bad timestamp")
	}
	if d := h.now().Sub(time.Unix(sec, 0)); math.Abs(float64(d)) > float64(ReplayWindow) {
		return fail(http.StatusForbidden, "timestamp too far from now: replay refused")
	}
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (h *Webhook) verifyURL(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := h.checkSignature(q); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, q.Get("echostr"))
	return err
}

type envelope struct {
	ToUserName string `xml:"ToUserName"`
	Encrypt    string `xml:"Encrypt"`
}

func (h *Webhook) push(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBody)
		}
		return fail(http.StatusBadRequest, "cannot read body")
	}
	q := r.URL.Query()
	if err := h.checkSignature(q); err != nil {
		return err
	}
	safe := q.Get("encrypt_type") == "aes"
	if safe {
		if body, err = h.decrypt(q.Get("timestamp"), q.Get("nonce"), q.Get("msg_signature"), body); err != nil {
			return err
		}
	}
	var msg push
	if err := xml.Unmarshal(body, &msg); err != nil {
		return fail(http.StatusBadRequest, "malformed XML")
	}
	if msg.FromUserName == "" || msg.MsgType == "" {
		return fail(http.StatusBadRequest, "push without FromUserName or MsgType")
	}
	answer := h.answer(r.Context(), &msg)
	return h.write(w, answer, safe)
}

func (h *Webhook) decrypt(ts, nonce, msgSig string, body []byte) ([]byte, error) {
	if h.AESKey == "" {
		return nil, fail(http.StatusBadRequest, "safe mode is not configured (WECHAT_AES_KEY)")
	}
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil || env.Encrypt == "" {
		return nil, fail(http.StatusBadRequest, "malformed encrypted envelope")
	}
	if !equal(util.Signature(h.Token, ts, nonce, env.Encrypt), msgSig) {
		return nil, fail(http.StatusForbidden, "bad msg_signature")
	}
	_, plain, err := util.DecryptMsg(h.AppID, env.Encrypt, h.AESKey)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "cannot decrypt")
	}
	return plain, nil
}

// dedupKey names a push the way WeChat's retries repeat it.
func dedupKey(m *push) string {
	if m.MsgID != 0 {
		return "push:m:" + strconv.FormatInt(m.MsgID, 10)
	}
	return "push:e:" + string(m.FromUserName) + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + string(m.Event)
}

// answer returns the plaintext reply for a push: computed once, however many
// times and however concurrently WeChat delivers it.
func (h *Webhook) answer(ctx context.Context, m *push) []byte {
	start := time.Now()
	key := dedupKey(m)
	first, err := h.KV.SetNX(ctx, key, []byte(pending), answerTTL)
	if err != nil {
		// Without the session store nothing can be deduplicated; answering
		// is still better than making WeChat show its error page.
		h.Log.Warn("retry dedup unavailable", "err", err)
		first = true
	}
	if !first {
		out := h.awaitAnswer(ctx, key, start)
		h.observe(string(m.MsgType), "retry", start)
		return out
	}
	out := h.run(m)
	outcome := "reply"
	if string(out) == "success" {
		outcome = "empty"
	}
	h.observe(string(m.MsgType), outcome, start)
	if err := h.KV.Set(context.WithoutCancel(ctx), key, out, answerTTL); err != nil {
		h.Log.Warn("cannot store answer for retries", "err", err)
	}
	return out
}

func (h *Webhook) observe(msgType, outcome string, start time.Time) {
	if h.Metrics != nil {
		h.Metrics.Push(msgType, outcome, time.Since(start))
	}
}

// awaitAnswer waits for the first delivery's answer to give the retry the same.
func (h *Webhook) awaitAnswer(ctx context.Context, key string, start time.Time) []byte {
	deadline := start.Add(h.timeout())
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 100*time.Millisecond) {
		v, ok, err := h.KV.Get(ctx, key)
		if err == nil && ok && string(v) != pending {
			return v
		}
		if err != nil || !ok || time.Until(deadline) < wait {
			// The first delivery answers through the customer-service API.
			return []byte("success")
		}
		select {
		case <-ctx.Done():
			return []byte("success")
		case <-time.After(wait):
		}
	}
}

// run handles the push with a deadline: replies ready in time form the
// passive reply; later ones go out through the customer-service API.
func (h *Webhook) run(m *push) []byte {
	base := h.BaseContext
	if base == nil {
		base = context.Background()
	}
	var (
		mu       sync.Mutex
		replies  []dialogs.Reply
		finished = make(chan struct{})
		late     bool
	)
	key := dedupKey(m)
	h.inflight.Add(1)
	go func() {
		defer h.inflight.Done()
		// The dialog gets a little less than the reply deadline: a database
		// that hangs makes the resident read 系统繁忙 in time, with their
		// state unchanged, rather than hear nothing.
		ctx, cancel := context.WithTimeout(base, max(h.timeout()-300*time.Millisecond, h.timeout()/2))
		defer cancel()
		out := h.handle(ctx, m)
		mu.Lock()
		defer mu.Unlock()
		if late {
			sendCtx, cancel := context.WithTimeout(base, 30*time.Second)
			defer cancel()
			h.sendLater(sendCtx, string(m.FromUserName), key, out)
			return
		}
		replies = out
		close(finished)
	}()
	timer := time.NewTimer(h.timeout())
	defer timer.Stop()
	select {
	case <-finished:
	case <-timer.C:
		mu.Lock()
		select {
		case <-finished:
		default:
			late = true
		}
		mu.Unlock()
	}
	if late || len(replies) == 0 {
		return []byte("success")
	}
	h.sendLater(base, string(m.FromUserName), key, replies[1:])
	return passiveText(m, replies[0].Text, h.now())
}

// sendLater queues replies for the customer-service API, durably and once.
func (h *Webhook) sendLater(ctx context.Context, openid, key string, replies []dialogs.Reply) {
	for i, r := range replies {
		job := CustomText{OpenID: openid, Text: r.Text}
		if err := h.Outbox.Enqueue(ctx, KindCustomText, fmt.Sprintf("%s:%d", key, i), job, h.now()); err != nil {
			h.Log.Error("cannot queue a reply", "err", err)
		}
	}
}

// handle turns a push into dialog input and runs it. A panic in a flow is
// logged and leaves the resident a busy answer instead of taking the
// process down with every other resident's conversation.
func (h *Webhook) handle(ctx context.Context, m *push) (replies []dialogs.Reply) {
	defer func() {
		if p := recover(); p != nil {
			h.Log.Error("dialog panicked", "panic", p, "stack", string(debug.Stack()))
			replies = nil
			if h.Busy != "" {
				replies = []dialogs.Reply{{Text: h.Busy}}
			}
		}
	}()
	openid, at := string(m.FromUserName), time.Unix(m.CreateTime, 0).UTC()
	in := dialogs.Input{OpenID: openid, At: at}
	switch m.MsgType {
	case message.MsgTypeText:
		in.Kind, in.Text = dialogs.KindText, m.Content
	case message.MsgTypeVoice:
		in.Kind, in.Text, in.MediaID = dialogs.KindVoice, m.Recognition, m.MediaID
	case message.MsgTypeImage:
		in.Kind, in.MediaID, in.PicURL = dialogs.KindImage, m.MediaID, m.PicURL
	case message.MsgTypeLocation:
		in.Kind, in.Lat, in.Lng, in.Label = dialogs.KindLocation, m.LocationX, m.LocationY, m.Label
		h.rememberLocation(ctx, openid, in.Lat, in.Lng, at)
	case message.MsgTypeEvent:
		in.Kind, in.Event, in.Key = dialogs.KindEvent, string(m.Event), m.EventKey
		switch m.Event {
		case message.EventSubscribe, message.EventUnsubscribe:
			sub := m.Event == message.EventSubscribe
			h.record("subscription", func(ctx context.Context) error { return h.Users.SetSubscribed(ctx, openid, sub, at) })
			if !sub {
				return nil
			}
			in.Key = strings.TrimPrefix(m.EventKey, "qrscene_")
		case message.EventLocation:
			lat, _ := strconv.ParseFloat(m.Latitude, 64)
			lng, _ := strconv.ParseFloat(m.Longitude, 64)
			h.rememberLocation(ctx, openid, lat, lng, at)
			return nil // WeChat wants only "success" here
		case message.EventLocationSelect:
			in.Lat, in.Lng = m.SendLocationInfo.LocationX, m.SendLocationInfo.LocationY
			in.Label = m.SendLocationInfo.Label
			if in.Label == "" {
				in.Label = m.SendLocationInfo.Poiname
			}
			h.rememberLocation(ctx, openid, in.Lat, in.Lng, at)
		case "TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH":
			h.jobFinished(ctx, m)
			return nil
		case message.EventView:
			return nil
		}
	default:
		in.Kind = dialogs.KindOther
	}
	h.touch(ctx, openid, at)
	replies, err := h.Dialogs.Handle(ctx, in)
	if err != nil {
		h.Log.Error("dialog failed", "err", err)
	}
	return replies
}

func (h *Webhook) jobFinished(ctx context.Context, m *push) {
	if h.JobFinished == nil {
		return
	}
	ev := JobFinish{Event: string(m.Event), OpenID: string(m.FromUserName), MsgID: m.TemplateMsgID, Status: m.Status,
		Total: m.TotalCount, Filter: m.FilterCount, Sent: m.SentCount, Errors: m.ErrorCount}
	if err := h.JobFinished(ctx, ev); err != nil {
		h.Log.Error("cannot record a send report", "event", ev.Event, "err", err)
	}
}

// touch records the interaction that opens the 48-hour customer-service
// window, at most once a minute per resident to keep the database out of
// the hot path.
func (h *Webhook) touch(_ context.Context, openid string, at time.Time) {
	if !h.touches.due(openid, h.now()) {
		return
	}
	h.record("interaction", func(ctx context.Context) error { return h.Users.TouchUser(ctx, openid, at) })
}

func (h *Webhook) rememberLocation(_ context.Context, openid string, lat, lng float64, at time.Time) {
	h.record("location", func(ctx context.Context) error { return h.Users.SetLastLocation(ctx, openid, lat, lng, at) })
}

// record writes a fact about a resident beside the conversation, not in its
// way: the reply must not wait for it, nor fail when the database is down.
func (h *Webhook) record(what string, write func(ctx context.Context) error) {
	base := h.BaseContext
	if base == nil {
		base = context.Background()
	}
	h.inflight.Add(1)
	go func() {
		defer h.inflight.Done()
		ctx, cancel := context.WithTimeout(base, 10*time.Second)
		defer cancel()
		if err := write(ctx); err != nil {
			h.Log.Error("cannot record "+what, "err", err)
		}
	}()
}
