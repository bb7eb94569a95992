// Command webhook load-tests POST /wechat with signed plaintext text pushes
// and compares, in one run and interleaved in rounds, (a) a bare net/http
// handler that only checks the signature and answers fixed XML — the ceiling
// on this machine —, (b) hazardbot with the in-process session store and (c)
// hazardbot with Redis. See bench/README.md.
//
//	go run ./bench/webhook [-duration 5s] [-rounds 5] [-conns 64] [-redis URL] [-out FILE] [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"hazardbot/bot/wechattest"
	"hazardbot/server"
)

// Targets of issue 2, item 12.
const (
	targetB = 0.6
	targetC = 0.4
	maxP99  = 10 * time.Millisecond
)

type options struct {
	duration, warmup time.Duration
	rounds, conns    int
	openids          int
	texts            []string
	redisURL         string
	out              string
	cpuprofile       string
	memprofile       string
	profileVariant   string
	variants         string
	rate             float64
}

func main() {
	var o options
	var texts string
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "load time per variant per round")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each runs a, b, c once in that order")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load per variant before the first round")
	flag.IntVar(&o.conns, "conns", 64, "concurrent keep-alive HTTP/1.1 connections (one pusher each)")
	flag.IntVar(&o.openids, "openids", 1000, "distinct residents the pushes are spread over (round-robin)")
	flag.StringVar(&texts, "texts", "帮助,菜单", "comma-separated texts pushed in turn; each must take the normal dialog path")
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", `Redis for variant (c); "" skips (c)`)
	flag.StringVar(&o.out, "out", "", "append the report as a Markdown section to this file")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "after the rounds, profile one more round of -profile into this file")
	flag.StringVar(&o.memprofile, "memprofile", "", "with -cpuprofile: allocation profiles before (FILE.base) and after (FILE) the profiled round")
	flag.StringVar(&o.profileVariant, "profile", "b", "variant the -cpuprofile round loads: a, b or c")
	flag.Float64Var(&o.rate, "rate", 0, "open loop: pushes per second in all, latency from each scheduled send (0: closed loop, as fast as answers come)")
	flag.StringVar(&o.variants, "variants", "a,b,c", "variants to load; (a) always runs, as the ratios need it")
	flag.Parse()
	for _, t := range strings.Split(texts, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.texts = append(o.texts, t)
		}
	}
	if o.duration <= 0 || o.rounds < 1 || o.conns < 1 || o.openids < 1 || len(o.texts) == 0 {
		fmt.Fprintln(os.Stderr, "webhook: -duration, -rounds, -conns, -openids and -texts must be positive")
		os.Exit(2)
	}
	if o.memprofile != "" {
		runtime.MemProfileRate = 64 << 10 // finer than the default, still cheap
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

// variant is one server under test and its results.
type variant struct {
	*target
	ratio   float64 // target ratio against (a); 0 for (a)
	rounds  []*roundResult
	skipped string
}

func run(o options) error {
	ctx := context.Background()
	progress := os.Stderr

	// The fake WeChat API the hazardbots call instead of api.weixin.qq.com.
	api := wechattest.NewAPI(server.DemoAppID, server.DemoSecret)
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()

	var vs []*variant
	host, stopA, err := startBare(server.DemoToken)
	if err != nil {
		return fmt.Errorf("start (a): %w", err)
	}
	defer stopA()
	vs = append(vs, &variant{target: &target{name: "a", title: "bare net/http (ceiling)", host: host,
		client: newClient(o.conns), expect: map[string]string{}}})

	vb := &variant{target: &target{name: "b", title: "hazardbot, in-process sessions"}, ratio: targetB}
	if !strings.Contains(o.variants, "b") {
		vb.skipped = "skipped: not in -variants"
	} else {
		b, err := startHazardbot(ctx, "b", "", apiSrv.URL)
		if err != nil {
			return fmt.Errorf("start (b): %w", err)
		}
		defer b.close()
		vb.target = hazardTarget("b", vb.title, b, o)
	}
	vs = append(vs, vb)

	vc := &variant{target: &target{name: "c", title: "hazardbot, Redis sessions"}, ratio: targetC}
	if !strings.Contains(o.variants, "c") {
		vc.skipped = "skipped: not in -variants"
	} else if o.redisURL == "" {
		vc.skipped = "skipped: -redis is empty"
	} else if c, err := startHazardbot(ctx, "c", o.redisURL, apiSrv.URL); err != nil {
		vc.skipped = fmt.Sprintf("skipped: Redis at %s unreachable (%v)", o.redisURL, err)
	} else {
		defer c.close()
		vc.target = hazardTarget("c", vc.title, c, o)
		if ro, err := redis.ParseURL(o.redisURL); err == nil {
			rc := redis.NewClient(ro)
			defer rc.Close()
			vc.redisCPU = redisCPU(rc)
		}
	}
	vs = append(vs, vc)

	l := &load{texts: o.texts, signer: newSigner(server.DemoToken), rate: o.rate}
	defer l.signer.close()
	// MsgIds of WeChat's magnitude, seeded from the clock so that a run
	// never collides with the dedup keys an earlier run left in Redis.
	l.msgID.Store(time.Now().UnixMicro() << 4)
	for i := range o.openids {
		l.openids = append(l.openids, fmt.Sprintf("oBench%022d", i))
	}

	for _, v := range vs {
		if v.skipped != "" {
			fmt.Fprintf(progress, "(%s) %s\n", v.name, v.skipped)
			continue
		}
		if err := smoke(v.target); err != nil {
			return fmt.Errorf("(%s) smoke push: %w", v.name, err)
		}
		if o.warmup > 0 {
			l.run(ctx, v.target, o.conns, o.warmup)
		}
	}

	for r := range o.rounds {
		for _, v := range vs {
			if v.skipped != "" {
				continue
			}
			runtime.GC() // start each variant from a collected heap
			res := l.run(ctx, v.target, o.conns, o.duration)
			v.rounds = append(v.rounds, res)
			fmt.Fprintf(progress, "round %d/%d (%s): %.0f msgs/s, p50 %s, p99 %s, errors %d, degraded %d\n",
				r+1, o.rounds, v.name, res.rate(), ms(res.h.Quantile(0.5)), ms(res.h.Quantile(0.99)), res.errors(), res.degraded())
		}
	}

	var prof string
	if o.cpuprofile != "" {
		var pv *variant
		for _, v := range vs {
			if v.name == o.profileVariant && v.skipped == "" {
				pv = v
			}
		}
		if pv == nil {
			return fmt.Errorf("-profile %q: no such variant running", o.profileVariant)
		}
		prof, err = profile(ctx, l, pv, o)
		if err != nil {
			return err
		}
	}

	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	report := render(o, vs, prof, len(api.Calls()), mem.HeapAlloc)
	fmt.Print(report)
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = io.WriteString(f, "\n"+report)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hazardTarget expects the dialog's own answers to the pushed texts.
func hazardTarget(name, title string, h *hazardbot, o options) *target {
	m := h.srv.Content().Messages
	known := map[string]string{"帮助": m.Help, "help": m.Help, "?": m.Help, "？": m.Help, "菜单": m.Menu, "menu": m.Menu, "主菜单": m.Menu}
	expect := map[string]string{}
	for _, t := range o.texts {
		if want, ok := known[t]; ok {
			expect[t] = want
		}
	}
	return &target{name: name, title: title, host: h.host, client: newClient(o.conns),
		expect: expect, busy: m.Busy, checkTo: true}
}

// smoke sends one push through the project's own fake WeChat client, which
// judges the answer exactly as WeChat would, before any load.
func smoke(t *target) error {
	c := &wechattest.Client{URL: "http://" + t.host + "/wechat", Token: server.DemoToken, AppID: server.DemoAppID}
	rep, err := c.Send(wechattest.Text("oBenchResident", "帮助"))
	if err != nil {
		return err
	}
	if rep.Status != 200 || rep.Problem != "" || rep.XML == nil {
		return fmt.Errorf("status %d, problem %q, body %q", rep.Status, rep.Problem, rep.Body)
	}
	if want, ok := t.expect["帮助"]; ok && rep.XML.Content != want {
		return fmt.Errorf("reply %q, want %q", rep.XML.Content, want)
	}
	return nil
}

// profile loads one variant for -duration with the CPU profiler on.
func profile(ctx context.Context, l *load, v *variant, o options) (string, error) {
	f, err := os.Create(o.cpuprofile)
	if err != nil {
		return "", err
	}
	defer f.Close()
	runtime.GC()
	if o.memprofile != "" {
		if err := writeAllocs(o.memprofile + ".base"); err != nil {
			return "", err
		}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return "", err
	}
	res := l.run(ctx, v.target, o.conns, o.duration)
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("CPU profile of (%s) under the same load for %s (%.0f msgs/s with the profiler on) in `%s`; "+
		"server side only: `go tool pprof -top -tagfocus side=server %s`; generator: `-tagfocus side=load`.",
		v.name, o.duration, res.rate(), o.cpuprofile, o.cpuprofile)
	if o.memprofile != "" {
		if err := writeAllocs(o.memprofile); err != nil {
			return "", err
		}
		msg += fmt.Sprintf(" Allocations during that round (generator included): "+
			"`go tool pprof -sample_index=alloc_space -diff_base %s.base %s`.", o.memprofile, o.memprofile)
	}
	return msg, nil
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// summary is a variant's medians over the rounds.
type summary struct {
	rate, p50, p99, cpuPerMsg, ratio  float64 // ratio: median of per-round ratios to (a)
	gcPerMsg, bytesPerMsg, objsPerMsg float64
	redisPerMsg                       float64 // Redis server CPU, ns per push
	errors, degraded                  int64
	counts                            [numOutcomes]int64
}

func summarize(v, a *variant) summary {
	var s summary
	var rates, p50s, p99s, cpus, ratios, gcs, bytes, objs, redis []float64
	for i, r := range v.rounds {
		rates = append(rates, r.rate())
		p50s = append(p50s, float64(r.h.Quantile(0.5)))
		p99s = append(p99s, float64(r.h.Quantile(0.99)))
		if n := float64(r.answered()); n > 0 {
			cpus = append(cpus, float64(r.cpu)/n)
			gcs = append(gcs, r.rt.gcCPU*1e9/n)
			bytes = append(bytes, float64(r.rt.allocBytes)/n)
			objs = append(objs, float64(r.rt.allocObjects)/n)
			redis = append(redis, float64(r.redis)/n)
		}
		if i < len(a.rounds) && a.rounds[i].rate() > 0 {
			ratios = append(ratios, r.rate()/a.rounds[i].rate())
		}
		s.errors += r.errors()
		s.degraded += r.degraded()
		for o := range r.counts {
			s.counts[o] += r.counts[o]
		}
	}
	s.rate, s.p50, s.p99, s.cpuPerMsg, s.ratio = median(rates), median(p50s), median(p99s), median(cpus), median(ratios)
	s.gcPerMsg, s.bytesPerMsg, s.objsPerMsg, s.redisPerMsg = median(gcs), median(bytes), median(objs), median(redis)
	return s
}

func render(o options, vs []*variant, prof string, apiCalls int, heap uint64) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	a := vs[0]
	w("## Webhook benchmark, %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	cmd := "go run ./bench/webhook"
	flag.Visit(func(f *flag.Flag) { cmd += fmt.Sprintf(" -%s=%s", f.Name, f.Value) })
	w("`%s` on %s %s/%s, GOMAXPROCS=%d (NumCPU=%d). "+
		"Signed plaintext text pushes (%s) over %d keep-alive HTTP/1.1 connections, round-robin over %d openids, "+
		"a unique MsgId each; variants interleaved a, b, c in each of %d rounds of %s after %s of warm-up each.\n\n",
		cmd, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(),
		strings.Join(o.texts, ", "), o.conns, o.openids, o.rounds, o.duration, o.warmup)
	if o.rate > 0 {
		w("**Open loop** at %.0f pushes/s offered to every variant: latency counts from each push's scheduled send, "+
			"and the ratio to (a) is not judged (it only shows whether a variant kept up).\n\n", o.rate)
	}
	w("The load generator runs in this process and shares the %d CPUs with the server under test, so absolute "+
		"msgs/s understate what the server alone would do; the ratios against (a) from the same run are what compare.\n\n",
		runtime.NumCPU())
	w("| variant | msgs/s | p50 | p99 | errors | degraded | CPU/msg | vs (a) | target | result |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, v := range vs {
		label := fmt.Sprintf("(%s) %s", v.name, v.title)
		if v.skipped != "" {
			w("| %s | — | — | — | — | — | — | — | %s | %s |\n", label, targetText(v), v.skipped)
			continue
		}
		s := summarize(v, a)
		ratio, result := "1.00", "ceiling"
		if v != a {
			ratio = fmt.Sprintf("%.2f", s.ratio)
			result = verdict(v, s, o.rate > 0)
		}
		w("| %s | %.0f | %s | %s | %d | %d | %.0f µs | %s | %s | %s |\n", label, s.rate,
			ms(time.Duration(s.p50)), ms(time.Duration(s.p99)), s.errors, s.degraded, s.cpuPerMsg/1e3, ratio, targetText(v), result)
	}
	w("\nmsgs/s, p50, p99 and CPU/msg are medians over the rounds; \"vs (a)\" is the median of the per-round ratios " +
		"msgs/s(x) / msgs/s(a). errors: transport failures, non-200, answers WeChat would not show, answers after 5 s. " +
		"degraded: valid answers other than the dialog's own (busy text, bare \"success\"). CPU/msg: the whole process " +
		"(server and generator) per answered push.\n\n")

	w("Cost per answered push (medians over the rounds; this process holds the generator too, so (a)'s figures are " +
		"mostly the generator's and the differences to (a) are the server's):\n\n")
	w("| variant | process CPU | of which GC (est.) | allocated | objects | Redis server CPU |\n|---|--:|--:|--:|--:|--:|\n")
	for _, v := range vs {
		if v.skipped != "" {
			continue
		}
		s := summarize(v, a)
		redisCol := "—"
		if v.redisCPU != nil {
			redisCol = fmt.Sprintf("%.0f µs", s.redisPerMsg/1e3)
		}
		w("| (%s) | %.0f µs | %.0f µs | %.1f KB | %.0f | %s |\n", v.name, s.cpuPerMsg/1e3, s.gcPerMsg/1e3,
			s.bytesPerMsg/1024, s.objsPerMsg, redisCol)
	}
	w("\n")

	w("Per round (msgs/s · p99):\n\n| round |")
	for _, v := range vs {
		if v.skipped == "" {
			w(" (%s) |", v.name)
		}
	}
	for _, v := range vs[1:] {
		if v.skipped == "" {
			w(" %s/a |", v.name)
		}
	}
	w("\n|--:|")
	for _, v := range vs {
		if v.skipped == "" {
			w("--:|")
		}
	}
	for _, v := range vs[1:] {
		if v.skipped == "" {
			w("--:|")
		}
	}
	w("\n")
	for i := range o.rounds {
		w("| %d |", i+1)
		for _, v := range vs {
			if v.skipped == "" && i < len(v.rounds) {
				w(" %.0f · %s |", v.rounds[i].rate(), ms(v.rounds[i].h.Quantile(0.99)))
			}
		}
		for _, v := range vs[1:] {
			if v.skipped == "" && i < len(v.rounds) && a.rounds[i].rate() > 0 {
				w(" %.2f |", v.rounds[i].rate()/a.rounds[i].rate())
			}
		}
		w("\n")
	}
	w("\n")
	for _, v := range vs {
		if v.skipped != "" {
			continue
		}
		s := summarize(v, a)
		if s.errors+s.degraded > 0 {
			var parts []string
			for oc := badTransport; oc < numOutcomes; oc++ {
				if s.counts[oc] > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", outcomeNames[oc], s.counts[oc]))
				}
			}
			w("- (%s) answers other than expected: %s.\n", v.name, strings.Join(parts, ", "))
		}
	}
	w("- Fake WeChat API calls during the run: %d. Heap in use at the end: %.0f MB.\n", apiCalls, float64(heap)/(1<<20))
	if prof != "" {
		w("- %s\n", prof)
	}
	return b.String()
}

func targetText(v *variant) string {
	if v.ratio == 0 {
		return "—"
	}
	return fmt.Sprintf("≥ %.1f × (a), p99 ≤ %s", v.ratio, maxP99)
}

func verdict(v *variant, s summary, openLoop bool) string {
	var miss []string
	if !openLoop && s.ratio < v.ratio {
		miss = append(miss, fmt.Sprintf("%.0f %% below the ratio", 100*(v.ratio-s.ratio)/v.ratio))
	}
	if time.Duration(s.p99) > maxP99 {
		miss = append(miss, fmt.Sprintf("p99 %.1f× the limit", s.p99/float64(maxP99)))
	}
	if s.errors > 0 {
		miss = append(miss, "errors")
	}
	if len(miss) == 0 {
		return "PASS"
	}
	return "MISS (" + strings.Join(miss, "; ") + ")"
}
