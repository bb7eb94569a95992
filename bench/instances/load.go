package main

// The push generator, after bench/webhook's: signed plaintext text pushes
// with unique MsgIds over keep-alive connections, judged cheaply per answer
// and in full on a sample. The difference: a target may be several servers,
// and the pushes go round-robin across them, as a load balancer would send
// them.

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
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hazardbot/bot/wechattest"
)

// signer keeps a pool of signed query prefixes fresh (servers refuse
// timestamps more than 5 minutes off), so the request loop never hashes.
type signer struct {
	token string
	pool  atomic.Pointer[[]string]
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
	pool := make([]string, signedPool)
	var b [4]byte
	for i := range pool {
		_, _ = rand.Read(b[:])
		nonce := strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
		pool[i] = "signature=" + wechattest.Signature(s.token, ts, nonce) + "&timestamp=" + ts + "&nonce=" + nonce + "&openid="
	}
	s.pool.Store(&pool)
}

func (s *signer) close() {
	close(s.stop)
	s.done.Wait()
}

// appendPush appends a plaintext text push exactly as WeChat sends it (a test
// checks it against wechattest.Message.XML).
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
	degBusy                     // the engine's busy text: valid, but the dialog did not run
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

// judge classifies an answer without decoding it.
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

// judgeFull decodes the reply as WeChat would and checks its addressing.
func judgeFull(body []byte, account, openid string, checkTo bool) bool {
	var x wechattest.ReplyXML
	if err := xml.Unmarshal(body, &x); err != nil {
		return false
	}
	if x.MsgType != "text" || x.Content == "" || x.FromUserName != account {
		return false
	}
	return !checkTo || x.ToUserName == openid
}

// target is one or more servers under load; pushes rotate over hosts.
type target struct {
	name, title string
	hosts       []string // 127.0.0.1:port each
	client      *http.Client
	expect      map[string]string // push text → the reply's expected Content
	busy        string
	checkTo     bool
	account     string
	cpu         *benchkit.CPUMeter // the server processes, and the database and Redis
	serverPids  int                // how many of cpu.pids are the servers themselves
}

func newClient(conns, hosts int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     conns,
		MaxIdleConns:        conns * hosts,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// load is the push generator; openids, texts and MsgIds are shared by every
// variant so that each sees the same traffic.
type load struct {
	openids []string
	texts   []string
	signer  *signer
	account string
	msgID   atomic.Int64
	seq     atomic.Int64
}

// roundResult is one variant's share of one round.
type roundResult struct {
	counts    [numOutcomes]int64
	elapsed   time.Duration
	genCPU    time.Duration // this process (the generator)
	serverCPU time.Duration // the server processes
	infraCPU  time.Duration // MariaDB and Redis (whole servers: other clients count too)
	h         benchkit.Hist // latencies of valid answers
	perHost   []int64       // valid answers per server
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

func (r *roundResult) answered() int64 { return r.counts[okExpected] + r.degraded() }

func (r *roundResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.answered()) / r.elapsed.Seconds()
}

const fullJudgeEvery = 64

// run drives t with conns concurrent pushers for d.
func (l *load) run(ctx context.Context, t *target, conns int, d time.Duration) *roundResult {
	var stop atomic.Bool
	per := make([]roundResult, conns)
	for i := range per {
		per[i].perHost = make([]int64, len(t.hosts))
	}
	var wg sync.WaitGroup
	gen0 := selfCPU()
	var cpu0 []time.Duration
	if t.cpu != nil {
		cpu0 = t.cpu.Each()
	}
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.pusher(ctx, t, &stop, &per[w])
		}()
	}
	wg.Wait()
	res := &roundResult{elapsed: time.Since(start), genCPU: selfCPU() - gen0, perHost: make([]int64, len(t.hosts))}
	if t.cpu != nil {
		for i, c := range t.cpu.Each() {
			if i < t.serverPids {
				res.serverCPU += c - cpu0[i]
			} else {
				res.infraCPU += c - cpu0[i]
			}
		}
	}
	for i := range per {
		for o := range per[i].counts {
			res.counts[o] += per[i].counts[o]
		}
		res.h.Merge(&per[i].h)
		for j, n := range per[i].perHost {
			res.perHost[j] += n
		}
	}
	return res
}

func (l *load) pusher(ctx context.Context, t *target, stop *atomic.Bool, res *roundResult) {
	var (
		resp bytes.Buffer
		hdr  = http.Header{"Content-Type": {"text/xml"}}
		n    int
	)
	for !stop.Load() && ctx.Err() == nil {
		i := l.seq.Add(1)
		openid := l.openids[i%int64(len(l.openids))]
		text := l.texts[(i/int64(len(l.openids)))%int64(len(l.texts))]
		hi := int(i % int64(len(t.hosts)))
		host := t.hosts[hi]
		pool := *l.signer.pool.Load()
		body := appendPush(make([]byte, 0, 320), l.account, openid, time.Now().Unix(), text, l.msgID.Add(1))
		req := (&http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Scheme: "http", Host: host, Path: "/wechat", RawQuery: pool[i%signedPool] + openid},
			Host:          host,
			Header:        hdr,
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}).WithContext(ctx)
		start := time.Now()
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
			if n++; n%fullJudgeEvery == 0 && !judgeFull(resp.Bytes(), l.account, openid, t.checkTo) {
				o = badBody
			}
		}
		if !o.isError() && lat > wechattest.PushDeadline {
			o = badLate
		}
		res.counts[o]++
		if !o.isError() {
			res.h.Record(lat)
			res.perHost[hi]++
		}
	}
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
