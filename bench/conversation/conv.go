package main

import (
	"hazardbot/bench/internal/benchkit"

	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hazardbot"
	"hazardbot/bot/wechattest"
)

// The steps of one conversation: the report flow of server/report_test.go
// with one photo, then 我的上报 and the ticket's status — 10 pushes. A
// resident offered a nearby report of the same kind answers 不是 (an 11th
// push); the locations are spread so that this is rare.
const (
	stReport = iota
	stCategory
	stDescription
	stPhoto
	stDone
	stLocation
	stNotDuplicate
	stContact
	stConfirm
	stMine
	stTicket
	numSteps
)

var stepNames = [numSteps]string{"上报", "category (1–11)", "description", "photo", "完成", "location",
	"不是 (only when a duplicate is offered)", "phone number", "确认", "我的上报", "ticket number"}

// The sub-district's rectangle (content/grids.geojson), a little inside its
// edges, and the spacing of report locations (about 130 m, beyond the 50 m
// duplicate radius).
const (
	latMin, latMax = 36.0495, 36.0705
	lngMin, lngMax = 103.8245, 103.8555
	latStep        = 0.0012
	lngStep        = 0.0015
	latRows        = 17 // (latMax-latMin)/latStep
	lngCols        = 20 // (lngMax-lngMin)/lngStep
)

var descriptions = []string{
	"3号楼楼道堆满纸箱，堵住了消防通道",
	"小区门口路面积水很深，车辆无法通行",
	"楼下电动车在楼道里私拉电线充电",
	"单元门口的灭火器已经过期很久了",
	"地下室燃气管道锈蚀严重，有异味",
	"广告牌松动，大风天有掉落危险",
}

// stats gathers one phase's pushes; conversations record into it
// concurrently.
type stats struct {
	mu        sync.Mutex
	all       benchkit.Hist
	steps     [numSteps]benchkit.Hist
	pushes    int64 // answered as expected within the phase
	reports   int64 // conversations completed (all pushes answered as expected)
	submitted int64 // 确认 answered with a ticket, whenever
	dupOffers int64
	failed    int64 // conversations that got a wrong or invalid answer or none
	problems  []string
	inFlight  float64 // open loop: residents mid-conversation, on average
	skipped   int64   // open loop: conversations not started (too many in flight)
	elapsed   time.Duration
}

func (s *stats) record(step int, lat time.Duration) {
	s.mu.Lock()
	s.all.Record(lat)
	s.steps[step].Record(lat)
	s.pushes++
	s.mu.Unlock()
}

func (s *stats) fail(format string, args ...any) {
	s.mu.Lock()
	s.failed++
	if len(s.problems) < 5 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

func (s *stats) rate() float64  { return float64(s.reports) / s.elapsed.Seconds() }
func (s *stats) prate() float64 { return float64(s.pushes) / s.elapsed.Seconds() }

// world is what every conversation shares.
type world struct {
	api     *wechattest.API
	clients []*wechattest.Client // one per server; pushes rotate over them
	rr      atomic.Uint64
	run     string // openid prefix of this run
	seq     atomic.Int64
	photo   []byte
	slots   int // distinct (category, location) pairs
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

func newWorld(api *wechattest.API, hosts []string, conns int) *world {
	w := &world{api: api, run: fmt.Sprintf("%06d", time.Now().Unix()%1_000_000)}
	hc := newHTTPClient(conns)
	for _, h := range hosts {
		w.clients = append(w.clients, &wechattest.Client{URL: "http://" + h + "/wechat", Token: token, AppID: appID, HTTP: hc})
	}
	// A small stand-in for a photo; each gets a unique tail.
	w.photo = append([]byte("\xff\xd8\xff\xe0"), []byte(strings.Repeat("hazardbot bench photo ", 180))...)
	w.slots = latRows * lngCols * 11
	return w
}

// pace is how a conversation's pushes are timed and which of them count.
type pace struct {
	start  time.Time            // when the first push is due (zero: now)
	think  time.Duration        // mean pause before each later push (0: none)
	stop   func() bool          // abandon the conversation between pushes
	counts func(time.Time) bool // whether a push due at this time, or a report completed at it, is counted
}

// push sends m to the next server once it is due and returns the reply's
// text. Latency counts from when the push was due, so a generator that falls
// behind shows as the server's delay, as it would for a resident.
func (w *world) push(ctx context.Context, st *stats, step int, m wechattest.Message, due time.Time, p pace) (string, error) {
	if wait := time.Until(due); wait > 0 {
		time.Sleep(wait)
	}
	c := w.clients[w.rr.Add(1)%uint64(len(w.clients))]
	prep, err := c.Prepare(m)
	if err != nil {
		return "", err
	}
	req, err := prep.NewRequest(ctx)
	if err != nil {
		return "", err
	}
	rep, err := c.Do(req)
	lat := time.Since(due)
	switch {
	case err != nil:
		return "", err
	case rep.Problem != "":
		return "", fmt.Errorf("WeChat would not show the answer: %s", rep.Problem)
	case rep.XML == nil:
		return "", fmt.Errorf("no reply (%q)", rep.Body)
	case lat > wechattest.PushDeadline:
		return "", fmt.Errorf("answered after %v", lat)
	}
	if p.counts(due) {
		st.record(step, lat)
	}
	return rep.XML.Content, nil
}

// conversation files one report from a new resident, from 上报 to the
// ticket's status. It returns early, without counting a failure, when
// p.stop says so between pushes.
func (w *world) conversation(ctx context.Context, st *stats, p pace) {
	n := w.seq.Add(1)
	openid := fmt.Sprintf("oConv%s_%07d", w.run, n)
	slot := int(n) % w.slots
	cat := slot%11 + 1
	loc := slot / 11
	lat := latMin + float64(loc/lngCols)*latStep
	lng := lngMin + float64(loc%lngCols)*lngStep
	desc := descriptions[int(n)%len(descriptions)]
	rng := rand.New(rand.NewPCG(uint64(n), 0x9e3779b97f4a7c15))
	due := p.start
	if due.IsZero() {
		due = time.Now()
	}
	first := true
	next := func() time.Time {
		if first {
			first = false
			return due
		}
		d := time.Now()
		if p.think > 0 { // uniform in [think/2, 3·think/2)
			d = d.Add(p.think/2 + time.Duration(rng.Int64N(int64(p.think))))
		}
		return d
	}
	send := func(step int, m wechattest.Message) (string, bool) {
		got, err := w.push(ctx, st, step, m, next(), p)
		if err != nil {
			st.fail("%s: %v", stepNames[step], err)
			return "", false
		}
		return got, true
	}
	say := func(step int, m wechattest.Message, want string) (string, bool) {
		got, ok := send(step, m)
		if ok && !strings.Contains(got, want) {
			st.fail("%s: reply %q lacks %q", stepNames[step], clip(got), want)
			return "", false
		}
		return got, ok
	}
	text := func(s string) wechattest.Message { return wechattest.Text(openid, s) }

	if _, ok := say(stReport, text("上报"), "请选择隐患类别"); !ok || p.stop() {
		return
	}
	if _, ok := say(stCategory, text(fmt.Sprint(cat)), "请用一两句话描述"); !ok || p.stop() {
		return
	}
	if _, ok := say(stDescription, text(desc), "请拍照"); !ok || p.stop() {
		return
	}
	// The resident's photo is on WeChat's servers before the push names it.
	id := w.api.AddMedia(append(w.photo[:len(w.photo):len(w.photo)], []byte(openid)...), "image/jpeg")
	if _, ok := say(stPhoto, wechattest.Image(openid, "http://mmbiz.example/"+id, id), "已收到第1张"); !ok || p.stop() {
		return
	}
	if _, ok := say(stDone, text("完成"), "请发送隐患位置"); !ok || p.stop() {
		return
	}
	got, ok := send(stLocation, wechattest.Location(openid, lat, lng, "东湖路18号"))
	if !ok {
		return
	}
	if strings.Contains(got, "是同一处隐患吗") {
		st.mu.Lock()
		st.dupOffers++
		st.mu.Unlock()
		if p.stop() {
			return
		}
		if got, ok = send(stNotDuplicate, text("不是")); !ok {
			return
		}
	}
	if !strings.Contains(got, "留个手机号") {
		st.fail("%s: reply %q lacks %q", stepNames[stLocation], clip(got), "留个手机号")
		return
	}
	if p.stop() {
		return
	}
	if _, ok := say(stContact, text("139 1234 5678"), "联系方式：13912345678"); !ok || p.stop() {
		return
	}
	done, ok := say(stConfirm, text("确认"), "已提交，您的工单号是 YH-")
	if !ok {
		return
	}
	ticket := hazardbot.TicketPattern.FindString(done)
	st.mu.Lock()
	st.submitted++
	st.mu.Unlock()
	if p.stop() {
		return
	}
	if _, ok := say(stMine, text("我的上报"), ticket); !ok || p.stop() {
		return
	}
	if _, ok := say(stTicket, text(ticket), "当前状态：待核实"); !ok {
		return
	}
	if p.counts(time.Now()) {
		st.mu.Lock()
		st.reports++
		st.mu.Unlock()
	}
}

func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}

// closed runs residents conversations at once for d, each resident starting
// a new conversation as soon as the last one ends, without pauses.
func (w *world) closed(ctx context.Context, residents int, d time.Duration) *stats {
	st := &stats{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	p := pace{stop: stop.Load, counts: func(time.Time) bool { return !stop.Load() }}
	start := time.Now()
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	for range residents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				w.conversation(ctx, st, p)
			}
		}()
	}
	<-time.After(d)
	st.elapsed = time.Since(start)
	wg.Wait()
	return st
}

// open starts conversations on schedule at rate a second, whatever the
// server does, with pauses of about think before each push after the first.
// It starts them for warm (until the number in conversation levels off),
// counts what happens for the next d, then abandons the rest.
func (w *world) open(ctx context.Context, rate float64, think, warm, d time.Duration, maxInFlight int) *stats {
	st := &stats{}
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	var stop atomic.Bool
	interval := time.Duration(float64(time.Second) / rate)
	begin := time.Now()
	from, until := begin.Add(warm), begin.Add(warm+d)
	p := pace{think: think, stop: stop.Load, counts: func(t time.Time) bool { return !t.Before(from) && t.Before(until) }}
	var samples, sum int64
	sampler := time.NewTicker(50 * time.Millisecond)
	defer sampler.Stop()
	for next := begin; next.Before(until); next = next.Add(interval) {
		for wait := time.Until(next); wait > 0; wait = time.Until(next) {
			select {
			case <-sampler.C:
				if now := time.Now(); !now.Before(from) {
					samples++
					sum += inFlight.Load()
				}
			case <-time.After(wait):
			}
		}
		if inFlight.Load() >= int64(maxInFlight) {
			if !next.Before(from) {
				st.mu.Lock()
				st.skipped++
				st.mu.Unlock()
			}
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		p := p
		p.start = next
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			w.conversation(ctx, st, p)
		}()
	}
	if wait := time.Until(until); wait > 0 {
		time.Sleep(wait)
	}
	stop.Store(true)
	st.elapsed = d
	if samples > 0 {
		st.inFlight = float64(sum) / float64(samples)
	}
	wg.Wait()
	return st
}

// bare pushes the same kinds of messages (text, image, location) to the bare
// handler, closed loop, for the ceiling.
func (w *world) bare(ctx context.Context, c *wechattest.Client, conns int, d time.Duration) *stats {
	st := &stats{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	const openid = "oBenchResident" // the bare handler's fixed reply is addressed to it
	msgs := []wechattest.Message{wechattest.Text(openid, "上报"), wechattest.Text(openid, "1"),
		wechattest.Text(openid, descriptions[0]), wechattest.Image(openid, "http://mmbiz.example/x", "x"),
		wechattest.Text(openid, "完成"), wechattest.Location(openid, 36.06, 103.84, "东湖路18号"),
		wechattest.Text(openid, "139 1234 5678"), wechattest.Text(openid, "确认"), wechattest.Text(openid, "我的上报"),
		wechattest.Text(openid, "YH-20250314-0001")}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				p, err := c.Prepare(msgs[i%len(msgs)]) // the bare handler keeps no retry cache

				if err != nil {
					st.fail("prepare: %v", err)
					return
				}
				req, _ := p.NewRequest(ctx)
				t0 := time.Now()
				rep, err := c.Do(req)
				lat := time.Since(t0)
				if err != nil || rep.Problem != "" || rep.XML == nil || rep.XML.Content != "ok" {
					st.fail("bare: %v %+v", err, rep)
					continue
				}
				if !stop.Load() {
					st.record(stReport, lat)
				}
			}
		}()
	}
	<-time.After(d)
	st.elapsed = time.Since(start)
	wg.Wait()
	return st
}
