package main

import (
	"hazardbot/bench/internal/benchkit"

	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"hazardbot/bot/wechattest"
)

// signed is a pre-computed query prefix: signature, timestamp, nonce.
type signed struct{ query string }

// signer keeps a pool of signed query prefixes fresh (the server refuses
// timestamps more than 5 minutes from its clock), so the request loop never
// hashes: the signature per request is built ahead of time.
type signer struct {
	token string
	pool  atomic.Pointer[[]signed]
	stop  chan struct{}
	done  sync.WaitGroup
}

const signedPool = 4096

func newSigner(token string) *signer {
	s := &signer{token: token, stop: make(chan struct{})}
	s.refill()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.refill()
			}
		}
	}()
	return s
}

func (s *signer) refill() {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	pool := make([]signed, signedPool)
	var b [4]byte
	for i := range pool {
		_, _ = rand.Read(b[:])
		nonce := strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
		sig := wechattest.Signature(s.token, ts, nonce)
		pool[i] = signed{query: "signature=" + sig + "&timestamp=" + ts + "&nonce=" + nonce + "&openid="}
	}
	s.pool.Store(&pool)
}

func (s *signer) close() {
	close(s.stop)
	s.done.Wait()
}

// appendPush appends a plaintext text push exactly as WeChat sends it (and as
// wechattest.Message.XML renders it; a test checks the two agree).
func appendPush(b []byte, toUser, openid string, createTime int64, text string, msgID int64) []byte {
	b = append(b, "<xml><ToUserName><![CDATA["...)
	b = append(b, toUser...)
	b = append(b, "]]></ToUserName><FromUserName><![CDATA["...)
	b = append(b, openid...)
	b = append(b, "]]></FromUserName><CreateTime>"...)
	b = strconv.AppendInt(b, createTime, 10)
	b = append(b, "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA["...)
	b = append(b, text...)
	b = append(b, "]]></Content><MsgId>"...)
	b = strconv.AppendInt(b, msgID, 10)
	b = append(b, "</MsgId></xml>"...)
	return b
}

// outcome is how one push was answered.
type outcome int

const (
	okExpected   outcome = iota // the reply the dialog should give
	badTransport                // connection error or timeout
	badStatus                   // not 200
	badBody                     // neither "success" nor a text reply with Content
	badLate                     // answered after WeChat's 5 s deadline
	degBusy                     // the engine's "busy" text: valid, but the dialog did not run
	degSilent                   // "success": valid, but the resident sees nothing
	degOther                    // a valid text reply other than the expected one
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "transport", "status", "invalid", "late", "busy", "silent", "other"}

func (o outcome) isError() bool { return o >= badTransport && o <= badLate }

var (
	cdataContent = []byte("<Content><![CDATA[")
	cdataEnd     = []byte("]]></Content>")
	xmlOpen      = []byte("<xml>")
	xmlClose     = []byte("</xml>")
	textType     = []byte("<MsgType><![CDATA[text]]></MsgType>")
)

// judge classifies an answer cheaply: a constant per-request cost on the
// generator's side lowers every variant's throughput by the same amount, so
// a full XML decode runs only on a sample (see judgeFull).
func judge(status int, body []byte, expect map[string]string, text, busy string) outcome {
	if status != http.StatusOK {
		return badStatus
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "success" {
		return degSilent
	}
	if !bytes.HasPrefix(body, xmlOpen) || !bytes.HasSuffix(body, xmlClose) || !bytes.Contains(body, textType) {
		return badBody
	}
	i := bytes.Index(body, cdataContent)
	if i < 0 {
		return badBody
	}
	rest := body[i+len(cdataContent):]
	j := bytes.Index(rest, cdataEnd)
	if j <= 0 {
		return badBody
	}
	content := rest[:j]
	switch want, ok := expect[text]; {
	case !ok || string(content) == want:
		return okExpected
	case busy != "" && string(content) == busy:
		return degBusy
	}
	return degOther
}

// judgeFull decodes the reply as WeChat would read it and checks that it is
// addressed back to the resident from the account.
func judgeFull(body []byte, openid string, checkTo bool) bool {
	var x wechattest.ReplyXML
	if err := xml.Unmarshal(body, &x); err != nil {
		return false
	}
	if x.MsgType != "text" || x.Content == "" || x.FromUserName != wechattest.DefaultAccount {
		return false
	}
	return !checkTo || x.ToUserName == openid
}

// target is a server under load.
type target struct {
	name    string // a, b, c
	title   string
	host    string // 127.0.0.1:port
	client  *http.Client
	expect  map[string]string // push text → expected reply Content
	busy    string            // the busy text, counted as degraded
	checkTo bool              // replies are addressed to the pushing openid
	// redisCPU, when set, reads the Redis server's CPU time so far.
	redisCPU func() time.Duration
	stop     func()
}

func newClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     conns,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		// Below the servers' 2-minute IdleTimeout, so that a long round of
		// the other variants never leaves a connection the server has closed.
		IdleConnTimeout:    90 * time.Second,
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// load is the push generator: openids, texts and the MsgId sequence are
// shared by every variant so that each sees the same traffic.
type load struct {
	openids []string
	texts   []string
	signer  *signer
	msgID   atomic.Int64
	seq     atomic.Int64
	// rate, when positive, paces the pushers to this many pushes a second in
	// all (open loop) and measures latency from each push's scheduled time,
	// so a server that falls behind shows it in p99 instead of slowing the
	// generator down.
	rate float64
}

// roundResult is one variant's share of one round.
type roundResult struct {
	counts  [numOutcomes]int64
	elapsed time.Duration
	cpu     time.Duration // process CPU (user+system) during the round
	rt      runtimeDelta  // allocations and GC CPU during the round
	redis   time.Duration // Redis server CPU during the round (variant c only)
	h       benchkit.Hist // latencies of expected and degraded answers
	sampled int64         // answers fully decoded
}

func (r *roundResult) errors() int64 {
	var n int64
	for o := badTransport; o <= badLate; o++ {
		n += r.counts[o]
	}
	return n
}

func (r *roundResult) degraded() int64 {
	return r.counts[degBusy] + r.counts[degSilent] + r.counts[degOther]
}

// answered is every push that got a WeChat-valid answer in time.
func (r *roundResult) answered() int64 { return r.counts[okExpected] + r.degraded() }

func (r *roundResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.answered()) / r.elapsed.Seconds()
}

const fullJudgeEvery = 64

// run drives t with conns concurrent pushers for d. Each pusher owns one
// keep-alive connection in practice (the transport's pool holds conns).
func (l *load) run(ctx context.Context, t *target, conns int, d time.Duration) *roundResult {
	var stop atomic.Bool
	per := make([]roundResult, conns)
	var wg sync.WaitGroup
	cpu0, rt0 := cpuTime(), readRuntime()
	var redis0 time.Duration
	if t.redisCPU != nil {
		redis0 = t.redisCPU()
	}
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for w := range conns {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "load", "variant", t.name), func(ctx context.Context) {
			defer wg.Done()
			l.pusher(ctx, t, &stop, &per[w], w, conns)
		})
	}
	wg.Wait()
	res := &roundResult{elapsed: time.Since(start), cpu: cpuTime() - cpu0, rt: readRuntime().sub(rt0)}
	if t.redisCPU != nil {
		res.redis = t.redisCPU() - redis0
	}
	for i := range per {
		for o := range per[i].counts {
			res.counts[o] += per[i].counts[o]
		}
		res.h.Merge(&per[i].h)
		res.sampled += per[i].sampled
	}
	return res
}

func (l *load) pusher(ctx context.Context, t *target, stop *atomic.Bool, res *roundResult, w, conns int) {
	var (
		body     = make([]byte, 0, 512)
		resp     bytes.Buffer
		hdr      = http.Header{"Content-Type": {"text/xml"}}
		n        int
		interval time.Duration
		next     time.Time
	)
	if l.rate > 0 {
		interval = time.Duration(float64(conns) / l.rate * float64(time.Second))
		next = time.Now().Add(interval * time.Duration(w) / time.Duration(conns)) // spread the pushers out
	}
	for !stop.Load() && ctx.Err() == nil {
		var sched time.Time
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
				if stop.Load() {
					break
				}
			}
			sched, next = next, next.Add(interval)
		}
		i := l.seq.Add(1)
		openid := l.openids[i%int64(len(l.openids))]
		text := l.texts[(i/int64(len(l.openids)))%int64(len(l.texts))]
		pool := *l.signer.pool.Load()
		now := time.Now()
		// Each request gets its own body: the transport may still hold the
		// previous one.
		body = appendPush(make([]byte, 0, cap(body)), wechattest.DefaultAccount, openid, now.Unix(), text, l.msgID.Add(1))
		req := (&http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Scheme: "http", Host: t.host, Path: "/wechat", RawQuery: pool[i%signedPool].query + openid},
			Host:          t.host,
			Header:        hdr,
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}).WithContext(ctx)
		start := time.Now()
		if !sched.IsZero() {
			start = sched // open loop: a late send is the server's delay too
		}
		r, err := t.client.Do(req)
		if err != nil {
			res.counts[badTransport]++
			continue
		}
		resp.Reset()
		_, err = resp.ReadFrom(r.Body)
		r.Body.Close()
		lat := time.Since(start)
		if err != nil {
			res.counts[badTransport]++
			continue
		}
		o := judge(r.StatusCode, resp.Bytes(), t.expect, text, t.busy)
		if o == okExpected {
			if n++; n%fullJudgeEvery == 0 {
				res.sampled++
				if !judgeFull(resp.Bytes(), openid, t.checkTo) {
					o = badBody
				}
			}
		}
		if !o.isError() && lat > wechattest.PushDeadline {
			o = badLate
		}
		res.counts[o]++
		if !o.isError() {
			res.h.Record(lat)
		}
	}
}
