// Command conversation measures whole report conversations end to end: many
// residents at once each file a report with one photo (上报, category,
// description, photo, 完成, location, phone, 确认, then 我的上报 and the
// ticket's status: 10 pushes) against hazardbot on MariaDB + Redis, built
// from cmd/hazardbot and run as its own process. It reports complete
// reports per second at saturation (closed loop, interleaved with the bare
// net/http ceiling) and p50/p99 per push at fixed shares of that capacity
// (open loop). See bench/README.md.
//
//	go run ./bench/conversation [-residents 64] [-duration 5s] [-rounds 3] [-loads 0.25,0.5,0.75] [-out FILE]
package main

import (
	"hazardbot/bench/internal/benchkit"

	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"hazardbot/bot/wechattest"
	"hazardbot/storage"
)

// Target of issue 8, item 4.
const maxP99 = 20 * time.Millisecond

// The WeChat account the children serve (plaintext mode).
const (
	appID  = "wxbenchconversation"
	secret = "bench-conversation-secret"
	token  = "bench-conversation-token"
)

type options struct {
	residents       int
	duration        time.Duration
	warmup          time.Duration
	rounds          int
	loads           []float64
	judgeAt         float64
	openDuration    time.Duration
	openWarm        time.Duration
	think           time.Duration
	maxInFlight     int
	instances       int
	mysql, db       string
	redisURL        string
	bin             string
	out, summary    string
	keep            bool
	photoDrainLimit time.Duration
}

func main() {
	var o options
	var loads, bareAddr string
	flag.IntVar(&o.residents, "residents", 64, "closed loop: residents in conversation at once, each starting a new one when the last ends")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "closed loop: load time per variant per round")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured closed-loop load per variant first")
	flag.IntVar(&o.rounds, "rounds", 3, "closed-loop rounds; each runs (a) then hazardbot")
	flag.StringVar(&loads, "loads", "0.25,0.5,0.75", "open loop: conversations started per second, as shares of the measured capacity")
	flag.Float64Var(&o.judgeAt, "judge-at", 0.5, "the open-loop share at which p99 per push is judged against the target")
	flag.DurationVar(&o.openDuration, "open-duration", 10*time.Second, "open loop: measured time at each load")
	flag.DurationVar(&o.think, "think", 500*time.Millisecond, "open loop: a resident's mean pause before each push after the first (uniform over ±50 %)")
	flag.DurationVar(&o.openWarm, "open-warm", 0, "open loop: unmeasured time at each load first, while residents join (default: 10 × -think + 1 s)")
	flag.IntVar(&o.maxInFlight, "max-in-flight", 2000, "open loop: conversations at once beyond which new ones are skipped (and counted)")
	flag.IntVar(&o.instances, "instances", 1, "hazardbot processes, pushes round-robin across them")
	flag.StringVar(&o.mysql, "mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server (DSN; its database name is ignored)")
	flag.StringVar(&o.db, "db", "hb_bench_conversation", "database to use; dropped and created afresh for each run")
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis for the sessions")
	flag.StringVar(&o.bin, "bin", "", "a hazardbot binary to run (default: go build ./cmd/hazardbot into a temporary directory)")
	flag.StringVar(&o.out, "out", "", "append the report as a Markdown section to this file")
	flag.StringVar(&o.summary, "summary", "", "append the verdict row (a Markdown table row) to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the database, the Redis keys and the children's logs afterwards")
	flag.DurationVar(&o.photoDrainLimit, "photo-wait", 2*time.Minute, "how long to wait for the background photo downloads after the load")
	flag.StringVar(&bareAddr, "serve-bare", "", "internal: serve the bare handler on this address (the parent starts it)")
	flag.Parse()
	if bareAddr != "" {
		if err := benchkit.ServeBare(bareAddr, token); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	for _, s := range strings.Split(loads, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 || f > 2 {
			fmt.Fprintf(os.Stderr, "conversation: -loads: %q is not a share between 0 and 2\n", s)
			os.Exit(2)
		}
		o.loads = append(o.loads, f)
	}
	if !slices.Contains(o.loads, o.judgeAt) {
		o.loads = append(o.loads, o.judgeAt)
		slices.Sort(o.loads)
	}
	if o.openWarm == 0 {
		o.openWarm = 10*o.think + time.Second
	}
	if o.residents < 1 || o.duration <= 0 || o.rounds < 1 || o.instances < 1 || o.openDuration <= 0 {
		fmt.Fprintln(os.Stderr, "conversation: -residents, -duration, -rounds, -instances and -open-duration must be positive")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "conversation:", err)
		os.Exit(1)
	}
}

// closedRound is one round of the closed loop.
type closedRound struct {
	bare, hb           *stats
	serverCPU, infraCP time.Duration // during hb's share
}

// openLevel is one open-loop load.
type openLevel struct {
	share, rate float64
	st          *stats
}

func run(ctx context.Context, o options) error {
	progress := os.Stderr
	tmp, err := os.MkdirTemp("", "hb-bench-conversation-")
	if err != nil {
		return err
	}
	defer func() {
		if !o.keep {
			os.RemoveAll(tmp)
		}
	}()
	if o.bin == "" {
		fmt.Fprintln(progress, "building cmd/hazardbot …")
		if o.bin, err = benchkit.BuildHazardbot(tmp); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dsn, db, dropDB, err := freshDatabase(ctx, o.mysql, o.db)
	if err != nil {
		return err
	}
	defer func() {
		if !o.keep {
			dropDB()
		}
	}()
	rc, err := redisClient(ctx, o.redisURL)
	if err != nil {
		return err
	}
	defer rc.Close()

	api := wechattest.NewAPI(appID, secret)
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	env := func(dir string) []string {
		return benchkit.ChildEnv(map[string]string{
			"HAZARDBOT_ADDR": "127.0.0.1:0", "HAZARDBOT_DATA_DIR": dir, "HAZARDBOT_DB": dsn,
			"HAZARDBOT_REDIS_URL": o.redisURL, "HAZARDBOT_LOG_FORMAT": "text",
			"WECHAT_APP_ID": appID, "WECHAT_APP_SECRET": secret, "WECHAT_TOKEN": token, "WECHAT_API_BASE": apiSrv.URL,
		})
	}
	if err := benchkit.RunOnce(o.bin, env(filepath.Join(tmp, "migrate")), "migrate"); err != nil {
		return err
	}
	var children []*benchkit.Child
	defer func() {
		for _, c := range children {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(progress, err)
			}
		}
	}()
	bareChild, err := benchkit.StartChild("bare", self, []string{"-serve-bare", "127.0.0.1:0"}, benchkit.ChildEnv(nil), filepath.Join(tmp, "bare.log"), "")
	if err != nil {
		return err
	}
	children = append(children, bareChild)
	var hosts []string
	meter := &benchkit.CPUMeter{}
	for i := range o.instances {
		name := fmt.Sprintf("hazardbot-%d", i+1)
		c, err := benchkit.StartChild(name, o.bin, []string{"serve"}, env(filepath.Join(tmp, name)), filepath.Join(tmp, name+".log"), "/readyz")
		if err != nil {
			return err
		}
		children = append(children, c)
		hosts = append(hosts, c.Addr)
		meter.Pids = append(meter.Pids, c.Pid())
	}
	servers := len(meter.Pids)
	var infraNames []string
	if p := benchkit.FindProcess("mariadbd", "mysqld"); p != 0 {
		meter.Pids = append(meter.Pids, p)
		infraNames = append(infraNames, "MariaDB")
	}
	if p := benchkit.FindProcess("redis-server"); p != 0 {
		meter.Pids = append(meter.Pids, p)
		infraNames = append(infraNames, "Redis")
	}

	w := newWorld(api, hosts, o.residents)
	bareClient := &wechattest.Client{URL: "http://" + bareChild.Addr + "/wechat", Token: token, AppID: appID, HTTP: newHTTPClient(o.residents)}
	// One whole conversation first, judged step by step.
	smoke := &stats{}
	w.conversation(ctx, smoke, pace{stop: func() bool { return false }, counts: func(time.Time) bool { return true }})
	if smoke.reports != 1 {
		return fmt.Errorf("smoke conversation failed: %s", strings.Join(smoke.problems, "; "))
	}
	total := &stats{} // submitted reports over every phase, for the database check
	submitted := smoke.submitted
	if o.warmup > 0 {
		w.bare(ctx, bareClient, o.residents, o.warmup)
		submitted += w.closed(ctx, o.residents, o.warmup).submitted
	}

	var rounds []closedRound
	for r := range o.rounds {
		var cr closedRound
		cr.bare = w.bare(ctx, bareClient, o.residents, o.duration)
		before := meter.Each()
		cr.hb = w.closed(ctx, o.residents, o.duration)
		for i, c := range meter.Each() {
			if i < servers {
				cr.serverCPU += c - before[i]
			} else {
				cr.infraCP += c - before[i]
			}
		}
		submitted += cr.hb.submitted
		rounds = append(rounds, cr)
		fmt.Fprintf(progress, "round %d/%d: (a) %.0f pushes/s; hazardbot %.1f reports/s, %.0f pushes/s, p50 %s, p99 %s, failed %d\n",
			r+1, o.rounds, cr.bare.prate(), cr.hb.rate(), cr.hb.prate(), ms(cr.hb.all.Quantile(0.5)), ms(cr.hb.all.Quantile(0.99)), cr.hb.failed)
	}
	var caps []float64
	for _, r := range rounds {
		caps = append(caps, r.hb.rate())
	}
	capacity := median(caps)
	if capacity <= 0 {
		return fmt.Errorf("no conversation completed in the closed loop: %v", rounds[0].hb.problems)
	}

	var levels []openLevel
	for _, share := range o.loads {
		rate := share * capacity
		st := w.open(ctx, rate, o.think, o.openWarm, o.openDuration, o.maxInFlight)
		submitted += st.submitted
		levels = append(levels, openLevel{share: share, rate: rate, st: st})
		fmt.Fprintf(progress, "open loop %.0f %% (%.1f reports/s offered): %.1f completed/s, p50 %s, p99 %s, failed %d, skipped %d\n",
			share*100, rate, st.rate(), ms(st.all.Quantile(0.5)), ms(st.all.Quantile(0.99)), st.failed, st.skipped)
	}
	total.submitted = submitted

	// End to end: every submitted report is in the database and its photo
	// is fetched from WeChat and stored by the background worker.
	drainStart := time.Now()
	var pending, stored, reportsInDB int
	for {
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM report_photos WHERE status = 'pending'").Scan(&pending); err != nil {
			return err
		}
		if pending == 0 || time.Since(drainStart) > o.photoDrainLimit {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	drained := time.Since(drainStart)
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM report_photos WHERE status = 'stored'").Scan(&stored); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM reports").Scan(&reportsInDB); err != nil {
		return err
	}
	if !o.keep {
		cleanRedis(ctx, rc, "hb:*oConv"+w.run+"_*")
	}
	var warns, errs int64
	for _, c := range children[1:] {
		warns += c.Warns.Load()
		errs += c.Errs.Load()
	}
	check := checks{submitted: total.submitted, inDB: reportsInDB, stored: stored, pending: pending, drained: drained,
		warns: warns, errs: errs, mediaGets: len(api.CallsTo("/cgi-bin/media/get"))}
	report, row := render(o, rounds, levels, capacity, infraNames, check)
	fmt.Print(report)
	if err := appendFile(o.out, "\n"+report); err != nil {
		return err
	}
	return appendFile(o.summary, row)
}

type checks struct {
	submitted             int64
	inDB, stored, pending int
	drained               time.Duration
	warns, errs           int64
	mediaGets             int
}

// cleanRedis deletes the keys this run left (sessions of conversations cut
// short by the end of a round live a day).
func cleanRedis(ctx context.Context, rc *redis.Client, pattern string) {
	iter := rc.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			rc.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		rc.Del(ctx, keys...)
	}
}

// freshDatabase drops and creates db on the server of dsn and returns a DSN
// for it, a connection to it and a function that drops it.
func freshDatabase(ctx context.Context, dsn, db string) (string, *sql.DB, func(), error) {
	var cfg *mysql.Config
	var err error
	if strings.Contains(dsn, "://") {
		cfg, err = storage.MySQLConfig(dsn)
	} else {
		cfg, err = mysql.ParseDSN(dsn)
	}
	if err != nil {
		return "", nil, nil, err
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
		admin.Close()
		return "", nil, nil, fmt.Errorf("MariaDB at %s: %w", cfg.Addr, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+db+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		admin.Close()
		return "", nil, nil, err
	}
	cfg.DBName = db
	cfg.ParseTime = true
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		admin.Close()
		return "", nil, nil, err
	}
	drop := func() {
		conn.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+db+"`")
		admin.Close()
	}
	return cfg.FormatDSN(), conn, drop, nil
}

func redisClient(ctx context.Context, u string) (*redis.Client, error) {
	ro, err := redis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(ro)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("Redis at %s: %w", ro.Addr, err)
	}
	return c, nil
}

func appendFile(path, s string) error {
	if path == "" || s == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func levelVerdict(st *stats) string {
	var miss []string
	if p99 := st.all.Quantile(0.99); p99 > maxP99 {
		miss = append(miss, fmt.Sprintf("p99 %.1f× the limit", float64(p99)/float64(maxP99)))
	}
	if st.failed > 0 {
		miss = append(miss, fmt.Sprintf("%d conversations failed", st.failed))
	}
	if st.skipped > 0 {
		miss = append(miss, fmt.Sprintf("%d not started: too many in flight", st.skipped))
	}
	if len(miss) == 0 {
		return "PASS"
	}
	return "MISS (" + strings.Join(miss, "; ") + ")"
}

func render(o options, rounds []closedRound, levels []openLevel, capacity float64, infraNames []string, c checks) (string, string) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Whole conversations, %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	cmd := "go run ./bench/conversation"
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "out" && f.Name != "summary" && f.Name != "bin" {
			cmd += fmt.Sprintf(" -%s=%s", f.Name, f.Value)
		}
	})
	inst := "One hazardbot process"
	if o.instances > 1 {
		inst = fmt.Sprintf("%d hazardbot processes (pushes round-robin across them)", o.instances)
	}
	w("`%s`. %s built from cmd/hazardbot, configured through its environment, on a fresh MariaDB database (`%s`) "+
		"and Redis sessions; the fake WeChat API (media, tokens) runs in the benchmark process. Each conversation is a new "+
		"resident filing one report: 上报 → category → description → one photo (uploaded to the fake API first) → 完成 → "+
		"location → phone number → 确认 → 我的上报 → the ticket number: 10 pushes, each answer checked "+
		"(category list, prompts, 照片 counted, the summary, the ticket, the status). Locations are spread about 130 m apart "+
		"over the sub-district's grids and categories rotate, so the duplicate check runs on every report but rarely "+
		"offers a match (then the resident answers 不是: an 11th push).\n\n", cmd, inst, o.db)

	w("**Capacity** (closed loop: %d residents at once, each starting a new conversation when the last ends; %d rounds of %s, "+
		"interleaved with (a), the bare net/http handler answering the same kinds of pushes — the ceiling of this machine "+
		"with this generator):\n\n", o.residents, o.rounds, o.duration)
	w("| round | (a) pushes/s | reports/s | pushes/s | vs (a) | p50 / push | p99 / push | failed | server CPU / report | %s CPU / report |\n",
		strings.Join(infraNames, " + "))
	w("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var ratios, p50s, p99s, prates, scpu, icpu []float64
	var failed int64
	for i, r := range rounds {
		ratio := r.hb.prate() / r.bare.prate()
		ratios = append(ratios, ratio)
		p50s = append(p50s, float64(r.hb.all.Quantile(0.5)))
		p99s = append(p99s, float64(r.hb.all.Quantile(0.99)))
		prates = append(prates, r.hb.prate())
		var sc, ic float64
		if r.hb.reports > 0 {
			sc = float64(r.serverCPU) / float64(r.hb.reports)
			ic = float64(r.infraCP) / float64(r.hb.reports)
		}
		scpu, icpu = append(scpu, sc), append(icpu, ic)
		failed += r.hb.failed + r.bare.failed
		w("| %d | %.0f | %.1f | %.0f | %.3f | %s | %s | %d | %.1f ms | %.1f ms |\n", i+1, r.bare.prate(), r.hb.rate(), r.hb.prate(),
			ratio, ms(r.hb.all.Quantile(0.5)), ms(r.hb.all.Quantile(0.99)), r.hb.failed, sc/1e6, ic/1e6)
	}
	w("| **median** | | **%.1f** | %.0f | %.3f | %s | %s | %d | %.1f ms | %.1f ms |\n\n", capacity, median(prates), median(ratios),
		ms(time.Duration(median(p50s))), ms(time.Duration(median(p99s))), failed, median(scpu)/1e6, median(icpu)/1e6)
	if c := (median(scpu) + median(icpu)) / 1e6; c > 0 {
		w("Each report costs %.1f ms of CPU on the server side (hazardbot %.1f ms, %s %.1f ms; that is %.0f µs a push, against "+
			"the bare handler's few µs): on %d CPUs that alone bounds capacity at %.0f reports/s, before the generator's share. "+
			"A profile of the hazardbot process under this load (perf, see bench/README.md) spends about half its time in "+
			"system calls: the round trips to Redis (several per push: retry guard, lock, session, answer) and to MariaDB.\n\n",
			c, median(scpu)/1e6, strings.Join(infraNames, " + "), median(icpu)/1e6, c*1e3/10, runtime.NumCPU(), float64(runtime.NumCPU())*1e3/c)
	}
	w("In the closed loop the %d residents keep both cores saturated, so the latency there is mostly waiting in line "+
		"(Little's law: %d conversations in flight at %.0f pushes/s give about %.0f ms a push); it is not the figure "+
		"judged. CPU per report from /proc (per completed conversation, 10 pushes and its background photo download): "+
		"the hazardbot process(es), and the MariaDB and Redis servers (anything else using them on this machine counts "+
		"too).\n\n", o.residents, o.residents, median(prates), float64(o.residents)/median(prates)*1000)

	w("**Latency at a given load** (open loop: new residents start conversations on schedule at a share of the capacity "+
		"above, whatever the server does; each pauses %s on average (uniformly ±50 %%) before each push after the first, as "+
		"a person reads and types, so many residents are mid-conversation at once; after %s of joining, pushes due in the "+
		"next %s are measured, from when each was due to its answer, so a late send counts as delay). The target, "+
		"p99 per push ≤ %s, is judged at %.0f %% of capacity:\n\n", o.think, o.openWarm, o.openDuration, maxP99, o.judgeAt*100)
	w("| load | reports/s offered | completed/s | residents mid-conversation (mean) | pushes | p50 / push | p99 / push | max | failed | result |\n")
	w("|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	var judged *openLevel
	sustained := 0.0
	for i := range levels {
		l := &levels[i]
		st := l.st
		conc := st.inFlight
		v := levelVerdict(st)
		if l.share == o.judgeAt {
			judged = l
			v = "**" + v + "**"
		}
		if st.all.Quantile(0.99) <= maxP99 && st.failed == 0 && st.skipped == 0 {
			sustained = max(sustained, st.rate())
		}
		w("| %.0f %% | %.1f | %.1f | %.1f | %d | %s | %s | %s | %d | %s |\n", l.share*100, l.rate, st.rate(), conc, st.pushes,
			ms(st.all.Quantile(0.5)), ms(st.all.Quantile(0.99)), ms(time.Duration(st.all.Max)), st.failed, v)
	}
	w("\n")

	if judged != nil && judged.st.all.Quantile(0.99) > maxP99 {
		worst, wp := 0, time.Duration(0)
		for st := range numSteps {
			if p := judged.st.steps[st].Quantile(0.99); p > wp && judged.st.steps[st].Total >= 20 {
				worst, wp = st, p
			}
		}
		w("At %.0f %% load the p99 per push is %s, %.1f× the target; the slowest step there is %s (p99 %s). "+
			"The per-step table shows where the time goes.\n\n", o.judgeAt*100, ms(judged.st.all.Quantile(0.99)),
			float64(judged.st.all.Quantile(0.99))/float64(maxP99), stepNames[worst], ms(wp))
	}
	w("Per step (p50 / p99), at capacity (round 1) and at %.0f %% load:\n\n| step | at capacity | at %.0f %% |\n|---|--:|--:|\n",
		o.judgeAt*100, o.judgeAt*100)
	for s := range numSteps {
		a := &rounds[0].hb.steps[s]
		j := &judged.st.steps[s]
		if a.Total == 0 && j.Total == 0 {
			continue
		}
		w("| %s | %s / %s | %s / %s |\n", stepNames[s], ms(a.Quantile(0.5)), ms(a.Quantile(0.99)), ms(j.Quantile(0.5)), ms(j.Quantile(0.99)))
	}
	w("\n")

	var dups, allFailed int64
	var problems []string
	for _, r := range rounds {
		dups += r.hb.dupOffers
		allFailed += r.hb.failed
		problems = append(problems, r.hb.problems...)
	}
	for _, l := range levels {
		dups += l.st.dupOffers
		allFailed += l.st.failed
		problems = append(problems, l.st.problems...)
	}
	w("- End to end: %d reports submitted (确认 answered with a ticket) and %d in the database", c.submitted, c.inDB)
	if int64(c.inDB) != c.submitted {
		w(" (**mismatch**)")
	}
	w("; %d photos stored by the background worker (%d media downloads from the fake WeChat), %d still pending %s after the load.\n",
		c.stored, c.mediaGets, c.pending, c.drained.Round(100*time.Millisecond))
	w("- Duplicate offers answered 不是: %d. Conversations that failed: %d.", dups, allFailed)
	if len(problems) > 0 {
		w(" First problems: %s.", strings.Join(problems[:min(len(problems), 5)], "; "))
	}
	w("\n- The hazardbot processes logged %d warnings and %d errors.\n", c.warns, c.errs)

	result := levelVerdict(judged.st)
	if int64(c.inDB) != c.submitted || c.pending > 0 {
		result = strings.TrimSuffix(strings.Replace(result, "PASS", "MISS (", 1), ")") + " reports or photos lost)"
	}
	held := "held at none of the loads tried"
	if sustained > 0 {
		held = fmt.Sprintf("held up to %.1f reports/s", sustained)
	}
	row := fmt.Sprintf("| whole conversations (10 pushes, 1 photo), MariaDB + Redis, %d × hazardbot | capacity %.1f reports/s "+
		"(%.0f pushes/s = %.2f × (a)); p99 per push %s at %.0f %% load (%.1f reports/s), %s at saturation; "+
		"p99 ≤ 20 ms %s | p99 per push ≤ %s | %s |\n",
		o.instances, capacity, median(prates), median(ratios), ms(judged.st.all.Quantile(0.99)), o.judgeAt*100, judged.rate,
		ms(time.Duration(median(p99s))), held, maxP99, result)
	return b.String(), row
}
