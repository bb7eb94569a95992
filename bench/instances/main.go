// Command instances load-tests POST /wechat on several hazardbot processes
// that share one MariaDB and one Redis, with the pushes spread round-robin
// across them as a load balancer would, beside (a) the bare net/http
// ceiling and a single hazardbot process on the same MariaDB and Redis. The
// variants run interleaved in rounds; every server is a separate process
// (hazardbot is built from cmd/hazardbot and configured through its
// environment, as deployed) and the generator runs in this one. See
// bench/README.md.
//
//	go run ./bench/instances [-instances 3] [-duration 5s] [-rounds 5] [-out FILE] [-summary FILE]
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"hazardbot/bot/wechattest"
	"hazardbot/content"
	"hazardbot/storage"
)

// Targets: issue 2 item 12 gives (c), hazardbot on Redis sessions, ≥ 0.4 ×
// the bare ceiling and p99 ≤ 10 ms; the instances run that same path with
// MariaDB added, so they are held to it.
const (
	targetRatio = 0.4
	maxP99      = 10 * time.Millisecond
)

// The WeChat account the children serve (plaintext mode).
const (
	appID   = "wxbenchinstances01"
	secret  = "bench-instances-secret"
	token   = "bench-instances-token"
	account = wechattest.DefaultAccount
)

type options struct {
	duration, warmup time.Duration
	rounds, conns    int
	openids          int
	instances        int
	texts            []string
	mysql, db        string
	redisURL         string
	bin              string
	out, summary     string
	keep             bool
}

func main() {
	var o options
	var texts, bareAddr string
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "load time per variant per round")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every variant once, in order")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load per variant before the first round")
	flag.IntVar(&o.conns, "conns", 64, "concurrent pushers; each target keeps up to this many keep-alive connections per server")
	flag.IntVar(&o.openids, "openids", 1000, "distinct residents the pushes are spread over (round-robin)")
	flag.IntVar(&o.instances, "instances", 3, "hazardbot processes behind the round-robin")
	flag.StringVar(&texts, "texts", "帮助,菜单", "comma-separated texts pushed in turn")
	flag.StringVar(&o.mysql, "mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server (DSN; its database name is ignored)")
	flag.StringVar(&o.db, "db", "hb_bench_instances", "database the instances share; dropped and created afresh for each run")
	flag.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis the instances share")
	flag.StringVar(&o.bin, "bin", "", "a hazardbot binary to run (default: go build ./cmd/hazardbot into a temporary directory)")
	flag.StringVar(&o.out, "out", "", "append the report as a Markdown section to this file")
	flag.StringVar(&o.summary, "summary", "", "append the verdict rows (Markdown table rows) to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the database and the children's logs afterwards")
	flag.StringVar(&bareAddr, "serve-bare", "", "internal: serve the bare handler on this address (the parent starts it)")
	flag.Parse()
	if bareAddr != "" {
		if err := benchkit.ServeBare(bareAddr, token); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	for _, t := range strings.Split(texts, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.texts = append(o.texts, t)
		}
	}
	if o.duration <= 0 || o.rounds < 1 || o.conns < 1 || o.openids < 1 || o.instances < 1 || len(o.texts) == 0 {
		fmt.Fprintln(os.Stderr, "instances: -duration, -rounds, -conns, -openids, -instances and -texts must be positive")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "instances:", err)
		os.Exit(1)
	}
}

// variant is one target and its rounds.
type variant struct {
	*target
	ratio  float64 // target ratio to (a); 0 for (a)
	rounds []*roundResult
}

func run(ctx context.Context, o options) error {
	progress := os.Stderr
	tmp, err := os.MkdirTemp("", "hb-bench-instances-")
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

	dsn, dropDB, err := freshDatabase(ctx, o.mysql, o.db)
	if err != nil {
		return err
	}
	if !o.keep {
		defer dropDB()
	}
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
	// Migrate once, so the instances do not race to create the tables.
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
	bare, err := benchkit.StartChild("bare", self, []string{"-serve-bare", "127.0.0.1:0"}, benchkit.ChildEnv(nil),
		filepath.Join(tmp, "bare.log"), "")
	if err != nil {
		return err
	}
	children = append(children, bare)
	var hosts []string
	var pids []int
	for i := range o.instances {
		name := fmt.Sprintf("hazardbot-%d", i+1)
		dir := filepath.Join(tmp, name)
		c, err := benchkit.StartChild(name, o.bin, []string{"serve"}, env(dir), filepath.Join(tmp, name+".log"), "/readyz")
		if err != nil {
			return err
		}
		children = append(children, c)
		hosts = append(hosts, c.Addr)
		pids = append(pids, c.Pid())
	}
	infra := []int{}
	var infraNames []string
	if p := benchkit.FindProcess("mariadbd", "mysqld"); p != 0 {
		infra = append(infra, p)
		infraNames = append(infraNames, "MariaDB")
	}
	if p := benchkit.FindProcess("redis-server"); p != 0 {
		infra = append(infra, p)
		infraNames = append(infraNames, "Redis")
	}

	c := content.MustLoadEmbedded()
	m := c.Messages
	known := map[string]string{"帮助": m.Help, "help": m.Help, "菜单": m.Menu, "menu": m.Menu, "主菜单": m.Menu}
	expect := map[string]string{}
	for _, t := range o.texts {
		if want, ok := known[t]; ok {
			expect[t] = want
		}
	}
	hazard := func(name, title string, hs []string) *variant {
		ps := append(slices.Clone(pids[:len(hs)]), infra...)
		return &variant{ratio: targetRatio, target: &target{name: name, title: title, hosts: hs,
			client: newClient(o.conns, len(hs)), expect: expect, busy: m.Busy, checkTo: true, account: account,
			cpu: &benchkit.CPUMeter{Pids: ps}, serverPids: len(hs)}}
	}
	vs := []*variant{
		{target: &target{name: "a", title: "bare net/http (ceiling)", hosts: []string{bare.Addr},
			client: newClient(o.conns, 1), expect: map[string]string{}, account: account,
			cpu: &benchkit.CPUMeter{Pids: []int{bare.Pid()}}, serverPids: 1}},
		hazard("1", "hazardbot × 1, MariaDB + Redis", hosts[:1]),
	}
	if o.instances > 1 {
		vs = append(vs, hazard(strconv.Itoa(o.instances),
			fmt.Sprintf("hazardbot × %d, MariaDB + Redis, round-robin", o.instances), hosts))
	}

	l := &load{texts: o.texts, signer: newSigner(token), account: account}
	defer l.signer.close()
	l.msgID.Store(time.Now().UnixMicro() << 4) // never collides with an earlier run's dedup keys in Redis
	tag := strconv.FormatInt(time.Now().Unix()%1_000_000, 10)
	for i := range o.openids {
		l.openids = append(l.openids, fmt.Sprintf("oBenchInst%s_%07d", tag, i))
	}

	for _, v := range vs {
		for _, h := range v.hosts {
			if err := smoke(h, v.expect); err != nil {
				return fmt.Errorf("(%s) smoke push to %s: %w", v.name, h, err)
			}
		}
		if o.warmup > 0 {
			l.run(ctx, v.target, o.conns, o.warmup)
		}
	}
	for r := range o.rounds {
		for _, v := range vs {
			res := l.run(ctx, v.target, o.conns, o.duration)
			v.rounds = append(v.rounds, res)
			fmt.Fprintf(progress, "round %d/%d (%s): %.0f msgs/s, p50 %s, p99 %s, errors %d, degraded %d\n",
				r+1, o.rounds, v.name, res.rate(), ms(res.h.Quantile(0.5)), ms(res.h.Quantile(0.99)), res.errors(), res.degraded())
		}
	}

	var warns, errs int64
	for _, c := range children[1:] {
		warns += c.Warns.Load()
		errs += c.Errs.Load()
	}
	report, rows := render(o, vs, infraNames, warns, errs, len(api.Calls()))
	fmt.Print(report)
	if err := appendFile(o.out, "\n"+report); err != nil {
		return err
	}
	return appendFile(o.summary, rows)
}

// smoke sends one push through the project's fake WeChat client, which
// judges the answer as WeChat would.
func smoke(host string, expect map[string]string) error {
	c := &wechattest.Client{URL: "http://" + host + "/wechat", Token: token, AppID: appID}
	rep, err := c.Send(wechattest.Text("oBenchResident", "帮助"))
	if err != nil {
		return err
	}
	if rep.Status != 200 || rep.Problem != "" || rep.XML == nil {
		return fmt.Errorf("status %d, problem %q, body %q", rep.Status, rep.Problem, rep.Body)
	}
	if want, ok := expect["帮助"]; ok && rep.XML.Content != want {
		return fmt.Errorf("reply %q, want %q", rep.XML.Content, want)
	}
	return nil
}

// freshDatabase drops and creates db on the server of dsn and returns a DSN
// for it and a function that drops it.
func freshDatabase(ctx context.Context, dsn, db string) (string, func(), error) {
	var cfg *mysql.Config
	var err error
	if strings.Contains(dsn, "://") {
		cfg, err = storage.MySQLConfig(dsn)
	} else {
		cfg, err = mysql.ParseDSN(dsn)
	}
	if err != nil {
		return "", nil, err
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("MariaDB at %s: %w", cfg.Addr, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+db+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		admin.Close()
		return "", nil, err
	}
	cfg.DBName = db
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.ParseTime = true
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+db+"`")
		admin.Close()
	}
	return cfg.FormatDSN(), drop, nil
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
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	n := len(s)
	return (s[n/2-1] + s[n/2]) / 2
}

// summary is a variant's medians over the rounds.
type summary struct {
	rate, p50, p99, ratio, vsOne float64
	serverCPU, infraCPU, genCPU  float64 // ns per answered push
	errors, degraded             int64
	counts                       [numOutcomes]int64
	share                        []float64 // of the answers, per server
}

func summarize(v, a, one *variant) summary {
	var s summary
	var rates, p50s, p99s, ratios, vsOne, srv, infra, gen []float64
	total := make([]int64, len(v.hosts))
	for i, r := range v.rounds {
		rates = append(rates, r.rate())
		p50s = append(p50s, float64(r.h.Quantile(0.5)))
		p99s = append(p99s, float64(r.h.Quantile(0.99)))
		if n := float64(r.answered()); n > 0 {
			srv = append(srv, float64(r.serverCPU)/n)
			infra = append(infra, float64(r.infraCPU)/n)
			gen = append(gen, float64(r.genCPU)/n)
		}
		if i < len(a.rounds) && a.rounds[i].rate() > 0 {
			ratios = append(ratios, r.rate()/a.rounds[i].rate())
		}
		if one != nil && i < len(one.rounds) && one.rounds[i].rate() > 0 {
			vsOne = append(vsOne, r.rate()/one.rounds[i].rate())
		}
		s.errors += r.errors()
		s.degraded += r.degraded()
		for o := range r.counts {
			s.counts[o] += r.counts[o]
		}
		for j, n := range r.perHost {
			total[j] += n
		}
	}
	var sum int64
	for _, n := range total {
		sum += n
	}
	for _, n := range total {
		if sum > 0 {
			s.share = append(s.share, float64(n)/float64(sum))
		}
	}
	s.rate, s.p50, s.p99, s.ratio, s.vsOne = median(rates), median(p50s), median(p99s), median(ratios), median(vsOne)
	s.serverCPU, s.infraCPU, s.genCPU = median(srv), median(infra), median(gen)
	return s
}

func verdict(v *variant, s summary) string {
	var miss []string
	if s.ratio < v.ratio {
		miss = append(miss, fmt.Sprintf("ratio %.0f %% below %.1f", 100*(v.ratio-s.ratio)/v.ratio, v.ratio))
	}
	if time.Duration(s.p99) > maxP99 {
		miss = append(miss, fmt.Sprintf("p99 %.1f× the limit", s.p99/float64(maxP99)))
	}
	if s.errors > 0 {
		miss = append(miss, fmt.Sprintf("%d errors", s.errors))
	}
	if len(miss) == 0 {
		return "PASS"
	}
	return "MISS (" + strings.Join(miss, "; ") + ")"
}

func render(o options, vs []*variant, infraNames []string, warns, errs int64, apiCalls int) (string, string) {
	var b, rows strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	a, one := vs[0], vs[1]
	w("## Webhook on %d instances, %s\n\n", o.instances, time.Now().Format("2006-01-02 15:04 MST"))
	cmd := "go run ./bench/instances"
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "out" && f.Name != "summary" && f.Name != "bin" {
			cmd += fmt.Sprintf(" -%s=%s", f.Name, f.Value)
		}
	})
	w("`%s`. Every server is its own process: (a) the bare handler of bench/webhook (signature, timestamp, fixed reply), "+
		"(1) one `hazardbot serve` and (%d) %d of them, all built from cmd/hazardbot and configured through HAZARDBOT_* and "+
		"WECHAT_* exactly as deployed, sharing one fresh MariaDB database (`%s`) and one Redis; the generator (this process) sends "+
		"signed plaintext text pushes (%s) over %d concurrent pushers with keep-alive connections, round-robin over %d openids "+
		"and, for (%d), round-robin over the instances, so one resident's consecutive pushes land on different instances. "+
		"Variants interleaved in each of %d rounds of %s after %s of warm-up each.\n\n",
		cmd, o.instances, o.instances, o.db, strings.Join(o.texts, ", "), o.conns, o.openids, o.instances,
		o.rounds, o.duration, o.warmup)
	w("| variant | msgs/s | p50 | p99 | errors | degraded | server CPU/msg | %s CPU/msg | generator CPU/msg | vs (a) | target | result |\n",
		strings.Join(infraNames, " + "))
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, v := range vs {
		s := summarize(v, a, nil)
		ratio, target, result := "1.00", "—", "ceiling"
		infra := "—"
		if v != a {
			ratio = fmt.Sprintf("%.2f", s.ratio)
			target = fmt.Sprintf("≥ %.1f × (a), p99 ≤ %s", v.ratio, maxP99)
			result = verdict(v, s)
			infra = fmt.Sprintf("%.0f µs", s.infraCPU/1e3)
		}
		w("| (%s) %s | %.0f | %s | %s | %d | %d | %.0f µs | %s | %.0f µs | %s | %s | %s |\n", v.name, v.title, s.rate,
			ms(time.Duration(s.p50)), ms(time.Duration(s.p99)), s.errors, s.degraded, s.serverCPU/1e3, infra, s.genCPU/1e3,
			ratio, target, result)
		if v != a {
			fmt.Fprintf(&rows, "| webhook, %s | %.0f msgs/s = %.2f × (a) (%.0f msgs/s); p99 %s | ≥ %.1f × (a), p99 ≤ %s | %s |\n",
				v.title, s.rate, s.ratio, summarize(a, a, nil).rate, ms(time.Duration(s.p99)), v.ratio, maxP99, result)
		}
	}
	w("\nmsgs/s, p50, p99 and the CPU figures are medians over the rounds; \"vs (a)\" is the median of the per-round ratios. " +
		"CPU per answered push, from /proc: *server* is the variant's own processes (for (a) the bare handler), " +
		"the next column the MariaDB and Redis servers (whole servers: anything else using them on this machine counts too), " +
		"*generator* this process. errors: transport failures, non-200, answers WeChat would not show, answers after 5 s; " +
		"degraded: valid answers other than the dialog's own (busy text, bare \"success\").\n\n")
	if len(vs) > 2 {
		n := vs[2]
		s := summarize(n, a, one)
		var shares []string
		for _, x := range s.share {
			shares = append(shares, fmt.Sprintf("%.1f %%", 100*x))
		}
		w("(%s) against (1): %.2f × the throughput (median of per-round ratios); answers per instance: %s.\n\n",
			n.name, s.vsOne, strings.Join(shares, " / "))
	}
	// Why: on two saturated cores throughput follows the CPU each push
	// costs in all, so the ratio of those costs predicts the ratio measured.
	sa := summarize(a, a, nil)
	aTotal := sa.serverCPU + sa.genCPU
	for _, v := range vs[1:] {
		s := summarize(v, a, nil)
		total := s.serverCPU + s.infraCPU + s.genCPU
		w("(%s) costs %.0f µs of CPU per push in all — hazardbot %.0f, %s %.0f, the generator %.0f — against (a)'s %.0f µs "+
			"(bare server %.0f, generator %.0f). With every CPU of the machine busy, throughput goes as the inverse of that cost: "+
			"%.0f / %.0f predicts %.2f × (a); measured %.2f. ", v.name, total/1e3, s.serverCPU/1e3, strings.Join(infraNames, " + "),
			s.infraCPU/1e3, s.genCPU/1e3, aTotal/1e3, sa.serverCPU/1e3, sa.genCPU/1e3, aTotal/1e3, total/1e3, aTotal/total, s.ratio)
		w("Its p99 is mostly queueing: %d pushes always in flight at %.0f msgs/s wait %.1f ms on average (Little's law).\n\n",
			o.conns, s.rate, float64(o.conns)/s.rate*1e3)
	}
	w("Per round (msgs/s · p99):\n\n| round |")
	for _, v := range vs {
		w(" (%s) |", v.name)
	}
	for _, v := range vs[1:] {
		w(" %s/a |", v.name)
	}
	w("\n|--:|%s%s\n", strings.Repeat("--:|", len(vs)), strings.Repeat("--:|", len(vs)-1))
	for i := range o.rounds {
		w("| %d |", i+1)
		for _, v := range vs {
			w(" %.0f · %s |", v.rounds[i].rate(), ms(v.rounds[i].h.Quantile(0.99)))
		}
		for _, v := range vs[1:] {
			if a.rounds[i].rate() > 0 {
				w(" %.2f |", v.rounds[i].rate()/a.rounds[i].rate())
			}
		}
		w("\n")
	}
	w("\n")
	for _, v := range vs {
		s := summarize(v, a, nil)
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
	w("- The hazardbot processes logged %d warnings and %d errors; fake WeChat API calls: %d.\n", warns, errs, apiCalls)
	return b.String(), rows.String()
}
