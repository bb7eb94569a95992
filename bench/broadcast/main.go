// Command broadcast measures how fast one notice reaches its recipients and
// what it costs in memory, against a fake WeChat API that answers at once,
// and checks exactly-once delivery across a kill -9 and a restart. See
// bench/README.md.
//
//	go run ./bench/broadcast [-n 10000,100000] [-mysql DSN] [-kill] [-out FILE]
//
// The dispatcher runs in a child process (this binary, re-executed with
// -child) on the same database the parent seeded, so its peak RSS is the
// server side alone and the kill is a real SIGKILL; the fake WeChat API and
// the bookkeeping stay in the parent.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"hazardbot"
	"hazardbot/bot"
	"hazardbot/bot/wechattest"
	"hazardbot/content"
	"hazardbot/notices"
	"hazardbot/storage"
)

// Targets of issue 5, item 7.
const (
	targetRate = 2000.0 // deliveries per second
	maxRSS     = 150    // MB, at every size
)

const (
	appID, secret = "wxbroadcastbench", "bench-secret"
	templateID    = "TPL-BENCH"
	publicURL     = "https://aq.example.gov.cn"
)

type options struct {
	sizes     []int
	mysql     string
	kill      bool
	killAt    float64
	window    float64 // share of residents inside the 48-hour window
	senders   int
	batch     int
	out       string
	child     bool
	dsn       string
	apiURL    string
	lease     time.Duration
	grace     time.Duration
	keepData  bool
	timeLimit time.Duration
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&sizes, "n", "10000,100000", "comma-separated recipient counts")
	flag.StringVar(&o.mysql, "mysql", "", `MySQL/MariaDB DSN to run on instead of SQLite (a database "hb_bench_<n>" is created and dropped)`)
	flag.BoolVar(&o.kill, "kill", true, "after the timed runs, kill -9 the dispatcher mid-send (at the largest -n), restart it, and count duplicates and losses")
	flag.Float64Var(&o.killAt, "kill-at", 0.4, "share of the recipients delivered when the kill comes")
	flag.Float64Var(&o.window, "window", 0.1, "share of residents inside the 48-hour window (customer-service messages); the rest get templates")
	flag.IntVar(&o.senders, "senders", 8, "concurrent senders in the dispatcher (HAZARDBOT_NOTICE_SENDERS; 8 is the default)")
	flag.IntVar(&o.batch, "batch", 64, "rows a sender claims at a time (the dispatcher's default)")
	flag.DurationVar(&o.lease, "lease", 10*time.Second, "claim lease: how long a killed sender's rows wait before another takes them")
	flag.DurationVar(&o.grace, "grace", 5*time.Second, "how long an interrupted template waits for WeChat's send report")
	flag.DurationVar(&o.timeLimit, "timeout", 10*time.Minute, "give up on a run after this long")
	flag.StringVar(&o.out, "out", "", "append the report as a Markdown section to this file")
	flag.BoolVar(&o.child, "child", false, "internal: run the dispatcher (the parent starts it)")
	flag.StringVar(&o.dsn, "dsn", "", "internal: the child's database")
	flag.StringVar(&o.apiURL, "api", "", "internal: the child's WeChat API")
	flag.Parse()
	if o.child {
		if err := child(o); err != nil {
			fmt.Fprintln(os.Stderr, "broadcast child:", err)
			os.Exit(1)
		}
		return
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "broadcast: -n: %q is not a count of at least 2\n", s)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	report, err := run(context.Background(), o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadcast:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.WriteString("\n" + report)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "broadcast: -out:", err)
			os.Exit(1)
		}
	}
}

// result is one measured run.
type result struct {
	recipients int
	elapsed    time.Duration
	rssMB      float64
	custom     int
	template   int
	dups, lost int
	killed     bool
	inDoubt    int
	restartRSS float64
}

func run(ctx context.Context, o options, log io.Writer) (string, error) {
	var results []result
	for _, n := range o.sizes {
		r, err := measure(ctx, o, n, false, log)
		if err != nil {
			return "", fmt.Errorf("%d recipients: %w", n, err)
		}
		results = append(results, r)
	}
	if o.kill {
		n := o.sizes[len(o.sizes)-1]
		r, err := measure(ctx, o, n, true, log)
		if err != nil {
			return "", fmt.Errorf("kill and restart, %d recipients: %w", n, err)
		}
		results = append(results, r)
	}
	return format(o, results), nil
}

// world is one run's database and fake WeChat.
type world struct {
	st      *storage.Store
	dsn     string
	api     *wechattest.API
	srv     *httptest.Server
	sends   atomic.Int64 // message calls answered
	cleanup func()
}

// setup seeds a fresh database with n subscribed residents (a share of them
// inside the 48-hour window) and starts the fake WeChat.
func setup(ctx context.Context, o options, n int) (*world, error) {
	w := &world{}
	dir, err := os.MkdirTemp("", "hb-broadcast-")
	if err != nil {
		return nil, err
	}
	w.cleanup = func() { os.RemoveAll(dir) }
	if o.mysql == "" {
		w.dsn = "sqlite:" + filepath.Join(dir, "bench.db")
	} else {
		cfg, err := storage.MySQLConfig(o.mysql)
		if err != nil {
			return nil, err
		}
		admin, err := storage.Open(ctx, o.mysql, "")
		if err != nil {
			return nil, err
		}
		cfg.DBName = fmt.Sprintf("hb_bench_%d", n)
		admin.DB.ExecContext(ctx, "DROP DATABASE IF EXISTS "+cfg.DBName)
		if _, err := admin.DB.ExecContext(ctx, "CREATE DATABASE "+cfg.DBName+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			admin.Close()
			return nil, err
		}
		prev := w.cleanup
		w.cleanup = func() {
			admin.DB.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+cfg.DBName)
			admin.Close()
			prev()
		}
		w.dsn = cfg.FormatDSN()
	}
	if w.st, err = storage.Open(ctx, w.dsn, dir); err != nil {
		return nil, err
	}
	if err := w.st.Migrate(ctx); err != nil {
		return nil, err
	}
	w.api = wechattest.NewAPI(appID, secret)
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.api.ServeHTTP(rw, r)
		if strings.HasPrefix(r.URL.Path, "/cgi-bin/message/") {
			w.sends.Add(1)
		}
	}))
	// Residents: written straight into the users table in big batches (the
	// product learns them one push at a time; 100,000 pushes would only
	// measure the seeding).
	now := time.Now().UTC()
	inWindow := int(float64(n) * o.window)
	const rows = 500
	for start := 0; start < n; start += rows {
		end := min(start+rows, n)
		q := "INSERT INTO users (openid, first_seen, last_interaction, subscribed, role, created_at, updated_at) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, 'resident', ?, ?), ", end-start), ", ")
		var args []any
		for i := start; i < end; i++ {
			seen := now.Add(-72 * time.Hour)
			if i < inWindow {
				seen = now.Add(-time.Hour)
				w.api.Interacted(openid(i), seen)
			}
			args = append(args, openid(i), seen, seen, true, seen, seen)
		}
		if _, err := w.st.DB.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("seed residents: %w", err)
		}
	}
	return w, nil
}

func openid(i int) string { return fmt.Sprintf("oBench%07d", i) }

func (w *world) close() {
	w.srv.Close()
	w.st.Close()
	w.cleanup()
}

// measure broadcasts one yellow warning (no approval) to everyone and waits
// until the notice is sent; with kill, the dispatcher is killed once killAt
// of the recipients have it, and started again.
func measure(ctx context.Context, o options, n int, kill bool, log io.Writer) (result, error) {
	w, err := setup(ctx, o, n)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	c := content.MustLoadEmbedded()
	svc := &notices.Service{Store: w.st, Content: func() *content.Content { return c }}
	by := notices.Staff{ID: "staff:bench", Name: "bench", Role: hazardbot.RoleStreet}
	nt, err := svc.Create(ctx, by, notices.Notice{Kind: notices.KindWarning, Level: notices.LevelYellow, Hazard: "rainstorm",
		Title: "暴雨黄色预警", Body: "预计未来6小时降雨量将达50毫米以上，请注意防范。", Audience: notices.Audience{Kind: notices.AudienceAll}})
	if err != nil {
		return result{}, err
	}
	if _, err := svc.Submit(ctx, by, nt.ID); err != nil {
		return result{}, err
	}
	fmt.Fprintf(log, "broadcast: %d recipients on %s%s\n", n, w.st.Dialect, map[bool]string{true: ", kill and restart"}[kill])

	res := result{recipients: n, killed: kill}
	start := time.Now()
	deadline := start.Add(o.timeLimit)
	p, err := startChild(o, w)
	if err != nil {
		return res, err
	}
	defer p.stop(syscall.SIGKILL) // on errors: never leave a child behind
	if kill {
		for w.sends.Load() < int64(float64(n)*o.killAt) {
			if time.Now().After(deadline) || p.exited() {
				return res, fmt.Errorf("never reached %.0f%% before the kill", o.killAt*100)
			}
			p.sample()
			time.Sleep(time.Millisecond)
		}
		p.stop(syscall.SIGKILL)
		res.rssMB = p.maxRSSMB()
		if err := w.st.DB.GetContext(ctx, &res.inDoubt, "SELECT COUNT(*) FROM notice_deliveries WHERE state = 'sending'"); err != nil {
			return res, err
		}
		fmt.Fprintf(log, "broadcast: killed after %d sends; %d rows left claimed\n", w.sends.Load(), res.inDoubt)
		// WeChat reports every template message it delivered
		// (TEMPLATESENDJOBFINISH), whichever instance is up to hear it.
		if err := reportTemplates(ctx, w, n); err != nil {
			return res, err
		}
		if p, err = startChild(o, w); err != nil {
			return res, err
		}
		defer p.stop(syscall.SIGKILL)
	}
	if err := waitSent(ctx, w.st, nt.ID, deadline, p); err != nil {
		return res, err
	}
	res.elapsed = time.Since(start)
	p.stop(syscall.SIGTERM)
	if kill {
		res.restartRSS = p.maxRSSMB()
	} else {
		res.rssMB = p.maxRSSMB()
	}
	link := notices.Link(publicURL, nt.ID)
	for i := range n {
		k := 0
		for _, s := range w.api.Sent(openid(i)) {
			if s.URL == link || strings.Contains(s.Text, link) {
				k++
				if s.Kind == "custom" {
					res.custom++
				} else {
					res.template++
				}
			}
		}
		switch {
		case k == 0:
			res.lost++
		case k > 1:
			res.dups += k - 1
		}
	}
	return res, nil
}

// proc is a running child dispatcher.
type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	peakMB float64
}

func startChild(o options, w *world) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child", "-dsn", w.dsn, "-api", w.srv.URL, "-senders", strconv.Itoa(o.senders),
		"-batch", strconv.Itoa(o.batch), "-lease", o.lease.String(), "-grace", o.grace.String())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop signals the child (if still running), after a last look at its
// memory, and waits for it to exit.
func (p *proc) stop(sig syscall.Signal) {
	if !p.exited() {
		p.sample()
		_ = p.cmd.Process.Signal(sig)
	}
	<-p.done
}

// sample reads the child's peak resident set so far: VmHWM belongs to the
// address space exec gave it. (getrusage's ru_maxrss would not do: for a
// child started with vfork and exec, Linux folds in the parent's peak at the
// moment of exec, and the parent holds the fake WeChat's records.)
func (p *proc) sample() {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return // exited
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if mb := kb / 1024; mb > p.peakMB {
				p.peakMB = mb
			}
		}
	}
}

// maxRSSMB is the child's peak resident set, as last sampled.
func (p *proc) maxRSSMB() float64 { return p.peakMB }

func waitSent(ctx context.Context, st *storage.Store, id int64, deadline time.Time, p *proc) error {
	for {
		var state string
		if err := st.DB.GetContext(ctx, &state, "SELECT state FROM notices WHERE id = ?", id); err != nil {
			return err
		}
		if state == string(notices.StateSent) {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("the dispatcher exited before the notice was sent")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not sent in time (-timeout)")
		}
		p.sample()
		time.Sleep(20 * time.Millisecond)
	}
}

// reportTemplates pushes TEMPLATESENDJOBFINISH for every template the fake
// delivered, as WeChat would, through the store's TemplateReport.
func reportTemplates(ctx context.Context, w *world, n int) error {
	d := &notices.Dispatcher{Store: w.st}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				for _, s := range w.api.Sent(openid(i)) {
					if s.Kind == "template" {
						if err := d.TemplateFinished(ctx, openid(i), s.MsgID, "success"); err != nil {
							errs <- err
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// child runs the dispatcher on the parent's database until SIGTERM.
func child(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := storage.Open(ctx, o.dsn, os.TempDir())
	if err != nil {
		return err
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	wx := bot.NewClient(appID, secret, o.apiURL, storage.NewMemorySessions(time.Now), log)
	// The fake answers at once: many keep-alive connections, no cap.
	wx.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 2 * o.senders, MaxConnsPerHost: 2 * o.senders}
	c := content.MustLoadEmbedded()
	d := &notices.Dispatcher{Store: st, Sender: wx, Content: func() *content.Content { return c }, Log: log, Code: bot.ErrCode,
		Config: notices.Config{TemplateID: templateID, PublicURL: publicURL, Senders: o.senders, Batch: o.batch,
			Lease: o.lease, Grace: o.grace, ExpandChunk: 2000}}
	d.Run(ctx, 100*time.Millisecond)
	return nil
}

func format(o options, rs []result) string {
	var b strings.Builder
	db := "SQLite"
	if o.mysql != "" {
		db = "MariaDB/MySQL"
	}
	fmt.Fprintf(&b, "### Broadcast — %s, %s, %d senders × batch %d, %.0f%% inside the 48-hour window\n\n",
		time.Now().Format("2006-01-02 15:04"), db, o.senders, o.batch, o.window*100)
	b.WriteString("| recipients | run | elapsed | deliveries/s | peak RSS (dispatcher) | customer-service | template | duplicates | losses | verdict |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		run := "straight"
		rss := fmt.Sprintf("%.0f MB", r.rssMB)
		rate := float64(r.recipients) / r.elapsed.Seconds()
		verdict := "PASS"
		if r.killed {
			run = fmt.Sprintf("kill -9 at %.0f%%, restart (%d rows left claimed)", o.killAt*100, r.inDoubt)
			rss = fmt.Sprintf("%.0f / %.0f MB", r.rssMB, r.restartRSS)
			if r.dups != 0 || r.lost != 0 {
				verdict = "MISS"
			}
		} else if rate < targetRate || r.rssMB > maxRSS || r.dups != 0 || r.lost != 0 {
			verdict = "MISS"
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f s | %.0f | %s | %d | %d | %d | %d | %s |\n", r.recipients, run,
			r.elapsed.Seconds(), rate, rss, r.custom, r.template, r.dups, r.lost, verdict)
	}
	b.WriteString("\nTargets: ≥ 2,000 deliveries/s and < 150 MB peak RSS at every size (flat as recipients grow 10×); zero duplicates and zero losses, also across the kill. The kill run's elapsed time includes the lease the restarted dispatcher waits out.\n")
	return b.String()
}
