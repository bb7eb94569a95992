// Command console measures the staff console's case list on 1,000,000
// reports in MariaDB: p50/p95 of filtered, sorted, paged list queries made
// through storage.Store.Cases — the method the console's /console/cases
// page calls, COUNT and page together —, with the table's indexes and the
// EXPLAIN of every statement. The reports are generated and bulk-loaded
// once into a dedicated database and reused by later runs. See
// bench/README.md.
//
//	go run ./bench/console [-n 1000000] [-reps 30] [-out FILE] [-summary FILE]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"hazardbot"
	"hazardbot/storage"
)

// Target of issue 8, item 4: p95 of a filtered page.
const maxP95 = 50 * time.Millisecond

// perPage is the console's page size (console/console.go).
const perPage = 20

type options struct {
	mysql, db    string
	n, batch     int
	reps         int
	budget       time.Duration
	reseed       bool
	out, summary string
}

func main() {
	var o options
	flag.StringVar(&o.mysql, "mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server (DSN; its database name is ignored)")
	flag.StringVar(&o.db, "db", "hb_bench", "database for the generated cases; created if missing and reused while it holds the same -n")
	flag.IntVar(&o.n, "n", 1_000_000, "reports to generate")
	flag.IntVar(&o.batch, "batch", 1000, "rows per INSERT statement when seeding")
	flag.IntVar(&o.reps, "reps", 30, "timed runs of each query (after one untimed), interleaved across the queries")
	flag.DurationVar(&o.budget, "budget", 8*time.Second, "stop timing a query once its timed runs add up to this (after at least 5)")
	flag.BoolVar(&o.reseed, "reseed", false, "generate the reports again even if the database holds them")
	flag.StringVar(&o.out, "out", "", "append the report as a Markdown section to this file")
	flag.StringVar(&o.summary, "summary", "", "append the verdict rows (Markdown table rows) to this file")
	version := flag.Bool("version", false, "print the server's version and the InnoDB settings that matter here, and exit")
	flag.Parse()
	if *version {
		v, err := serverVersion(context.Background(), o.mysql)
		if err != nil {
			fmt.Fprintln(os.Stderr, "console:", err)
			os.Exit(1)
		}
		fmt.Println(v)
		return
	}
	if o.n < 1000 || o.reps < 1 || o.batch < 1 {
		fmt.Fprintln(os.Stderr, "console: -n must be at least 1000, -reps and -batch positive")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
}

// query is one console list request.
type query struct {
	name   string // what a staff member does
	q      storage.CaseQuery
	target bool // judged against the target (the word search is reported apart)
}

type measured struct {
	query
	times      []time.Duration // Store.Cases, COUNT and page together
	total      int
	rows       int
	statements []statement
	countT     []time.Duration // the COUNT alone
	pageT      []time.Duration // the page alone
	explains   [][]map[string]string
}

func run(ctx context.Context, o options) error {
	progress := os.Stderr
	cfg, err := serverConfig(o.mysql)
	if err != nil {
		return err
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+o.db+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return fmt.Errorf("MariaDB at %s: %w", cfg.Addr, err)
	}
	cfg.DBName = o.db
	st, err := storage.Open(ctx, cfg.FormatDSN(), "")
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil { // new migrations (an index added, say) apply to the reused data too
		return err
	}

	// Seed unless this database already holds this generator's n reports.
	if _, err := st.DB.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS bench_meta (k VARCHAR(32) PRIMARY KEY, v VARCHAR(64) NOT NULL)"); err != nil {
		return err
	}
	want := fmt.Sprintf("%s n=%d", seedVersion, o.n)
	var have string
	_ = st.DB.GetContext(ctx, &have, "SELECT v FROM bench_meta WHERE k = 'seed'")
	var count int
	if err := st.DB.GetContext(ctx, &count, "SELECT COUNT(*) FROM reports"); err != nil {
		return err
	}
	var seeded string
	if have != want || count != o.n || o.reseed {
		latest := time.Now().UTC().Truncate(time.Second)
		fmt.Fprintf(progress, "seeding %d reports into %s …\n", o.n, o.db)
		t0 := time.Now()
		if _, err := st.DB.ExecContext(ctx, "DELETE FROM bench_meta"); err != nil {
			return err
		}
		if err := seed(ctx, st, o.n, o.batch, latest, progress); err != nil {
			return err
		}
		el := time.Since(t0)
		if _, err := st.DB.ExecContext(ctx, "ANALYZE TABLE reports"); err != nil {
			return err
		}
		if _, err := st.DB.ExecContext(ctx, "INSERT INTO bench_meta (k, v) VALUES ('seed', ?), ('seeded_in', ?)", want,
			el.Round(time.Second).String()); err != nil {
			return err
		}
		seeded = fmt.Sprintf("seeded in this run: %d reports in %s (%.0f rows/s; multi-row INSERTs of %d rows, 20 to a transaction)",
			o.n, el.Round(time.Second), float64(o.n)/el.Seconds(), o.batch)
	} else {
		var took string
		_ = st.DB.GetContext(ctx, &took, "SELECT v FROM bench_meta WHERE k = 'seeded_in'")
		seeded = fmt.Sprintf("reused from an earlier run (it took %s to seed)", took)
	}
	var latest time.Time
	if err := st.DB.GetContext(ctx, &latest, "SELECT MAX(created_at) FROM reports"); err != nil {
		return err
	}
	var sizeMB float64
	_ = st.DB.GetContext(ctx, &sizeMB, "SELECT (data_length + index_length) / 1048576 FROM information_schema.tables WHERE table_schema = ? AND table_name = 'reports'", o.db)
	var bufferPool int64
	_ = st.DB.GetContext(ctx, &bufferPool, "SELECT @@innodb_buffer_pool_size")

	qs, err := queries(ctx, st, latest)
	if err != nil {
		return err
	}

	// The recording store runs each query once, untimed, to capture its
	// statements; that is also each query's warm-up.
	rec := &recorder{}
	rcfgFull, err := storage.MySQLConfig(cfg.FormatDSN()) // the product's session settings
	if err != nil {
		return err
	}
	rcfgFull.InterpolateParams = true
	connector, err := mysql.NewConnector(rcfgFull)
	if err != nil {
		return err
	}
	rdb := sqlx.NewDb(sql.OpenDB(recConnector{Connector: connector, rec: rec}), "mysql")
	defer rdb.Close()
	rst := &storage.Store{DB: rdb, Dialect: storage.DialectMySQL}

	ms := make([]*measured, len(qs))
	for i, q := range qs {
		m := &measured{query: q}
		rec.take()
		cases, total, err := rst.Cases(ctx, q.q)
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		m.total, m.rows, m.statements = total, len(cases), rec.take()
		for _, s := range m.statements {
			e, err := explain(ctx, rdb, s)
			if err != nil {
				return fmt.Errorf("EXPLAIN %s: %w", q.name, err)
			}
			m.explains = append(m.explains, e)
		}
		ms[i] = m
		rec.take()
	}

	// Timed: the product's store, reps passes with the queries interleaved
	// so that noise spreads over all of them alike.
	spent := func(ds []time.Duration) (t time.Duration) {
		for _, d := range ds {
			t += d
		}
		return t
	}
	fmt.Fprintln(progress, "plans captured (that was the untimed run); timing …")
	for rep := 0; rep < o.reps; rep++ {
		for _, m := range ms {
			if rep >= 5 && spent(m.times) > o.budget {
				continue // slow enough that more runs say nothing new
			}
			t0 := time.Now()
			if _, _, err := st.Cases(ctx, m.q); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			m.times = append(m.times, time.Since(t0))
		}
	}
	// The two statements apart, fewer times, to show where the time goes.
	for rep := 0; rep < max(3, o.reps/5); rep++ {
		for _, m := range ms {
			if rep >= 3 && spent(m.countT)+spent(m.pageT) > o.budget/2 {
				continue
			}
			for k, s := range m.statements {
				t0 := time.Now()
				rows, err := st.DB.QueryContext(ctx, s.query, s.args...)
				if err != nil {
					return err
				}
				for rows.Next() {
				}
				rows.Close()
				d := time.Since(t0)
				if k == 0 {
					m.countT = append(m.countT, d)
				} else {
					m.pageT = append(m.pageT, d)
				}
			}
		}
	}

	indexes, err := showIndex(ctx, st)
	if err != nil {
		return err
	}
	report, rows := render(o, ms, indexes, latest, seeded, sizeMB, bufferPool)
	fmt.Print(report)
	if err := appendFile(o.out, "\n"+report); err != nil {
		return err
	}
	return appendFile(o.summary, rows)
}

func serverConfig(dsn string) (*mysql.Config, error) {
	var cfg *mysql.Config
	var err error
	if strings.Contains(dsn, "://") {
		cfg, err = storage.MySQLConfig(dsn)
	} else {
		cfg, err = mysql.ParseDSN(dsn)
	}
	if err != nil {
		return nil, err
	}
	cfg.DBName = ""
	cfg.ParseTime = true
	return cfg, nil
}

// serverVersion describes the database server for the machine section.
func serverVersion(ctx context.Context, dsn string) (string, error) {
	cfg, err := serverConfig(dsn)
	if err != nil {
		return "", err
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", err
	}
	defer db.Close()
	var version string
	var pool, flush int64
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit").Scan(&version, &pool, &flush); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (innodb_buffer_pool_size %d MB, innodb_flush_log_at_trx_commit %d)", version, pool>>20, flush), nil
}

// queries are what staff do on the list, on this data.
func queries(ctx context.Context, st *storage.Store, latest time.Time) ([]query, error) {
	open := []hazardbot.Status{hazardbot.StatusPending, hazardbot.StatusVerified, hazardbot.StatusAssigned,
		hazardbot.StatusFixing, hazardbot.StatusReview}
	day := func(t time.Time) time.Time { return hazardbot.StartOfDay(t) }
	// A ticket from about half a year back, as staff type it from a phone call.
	var ticket string
	if err := st.DB.GetContext(ctx, &ticket, "SELECT ticket FROM reports WHERE created_at >= ? ORDER BY created_at LIMIT 1",
		latest.AddDate(0, -6, 0)); err != nil {
		return nil, fmt.Errorf("pick a ticket: %w", err)
	}
	yearAgo := day(latest.AddDate(-1, 0, 0))
	return []query{
		{"all cases, page 1 (the list as it opens)", storage.CaseQuery{Limit: perPage}, true},
		{"all cases, page 50", storage.CaseQuery{Limit: perPage, Offset: 49 * perPage}, true},
		{"status 全部在办 (open)", storage.CaseQuery{Statuses: open, Limit: perPage}, true},
		{"status 待核实 (pending)", storage.CaseQuery{Statuses: []hazardbot.Status{hazardbot.StatusPending}, Limit: perPage}, true},
		{"status 已销号 (closed), page 10", storage.CaseQuery{Statuses: []hazardbot.Status{hazardbot.StatusClosed}, Limit: perPage, Offset: 9 * perPage}, true},
		{"community 北苑社区 + 全部在办", storage.CaseQuery{Community: "c3", Statuses: open, Limit: perPage}, true},
		{"community staff (scope 西园社区), list as it opens", storage.CaseQuery{Scope: "c2", Limit: perPage}, true},
		{"risk 红色 + 全部在办, sorted by risk", storage.CaseQuery{Risk: hazardbot.RiskRed, Statuses: open, Sort: "risk", Limit: perPage}, true},
		{"overdue, sorted by deadline ↑", storage.CaseQuery{Overdue: true, Sort: "deadline", Asc: true, Limit: perPage}, true},
		{"filed in the last 7 days", storage.CaseQuery{From: day(latest.AddDate(0, 0, -6)), To: day(latest).AddDate(0, 0, 1), Limit: perPage}, true},
		{"filed in one month a year ago, 东湖社区, 已销号", storage.CaseQuery{From: yearAgo, To: yearAgo.AddDate(0, 1, 0), Community: "c1",
			Statuses: []hazardbot.Status{hazardbot.StatusClosed}, Limit: perPage}, true},
		{"category 燃气 + urgent + 全部在办, sorted by updated", storage.CaseQuery{Category: "gas", Urgent: true, Statuses: open, Sort: "updated", Limit: perPage}, true},
		{"search by ticket " + ticket, storage.CaseQuery{Text: ticket, Limit: perPage}, true},
		{"search by words (消防栓) — LIKE '%…%' over description and address", storage.CaseQuery{Text: "消防栓", Limit: perPage}, false},
	}, nil
}

func explain(ctx context.Context, db *sqlx.DB, s statement) ([]map[string]string, error) {
	rows, err := db.QueryxContext(ctx, "EXPLAIN "+s.query, s.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return nil, err
		}
		row := map[string]string{}
		for k, v := range m {
			switch x := v.(type) {
			case nil:
				row[k] = "NULL"
			case []byte:
				row[k] = string(x)
			default:
				row[k] = fmt.Sprint(x)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

type index struct {
	name    string
	unique  bool
	columns []string
	card    string
}

func showIndex(ctx context.Context, st *storage.Store) ([]index, error) {
	rows, err := st.DB.QueryxContext(ctx, "SHOW INDEX FROM reports")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []index
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return nil, err
		}
		str := func(k string) string {
			switch x := m[k].(type) {
			case nil:
				return ""
			case []byte:
				return string(x)
			default:
				return fmt.Sprint(x)
			}
		}
		name := str("Key_name")
		if len(out) == 0 || out[len(out)-1].name != name {
			out = append(out, index{name: name, unique: str("Non_unique") == "0"})
		}
		ix := &out[len(out)-1]
		ix.columns = append(ix.columns, str("Column_name"))
		ix.card = str("Cardinality")
	}
	return out, rows.Err()
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1 // nearest rank
	return s[min(max(i, 0), len(s)-1)]
}

func fms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func render(o options, ms []*measured, indexes []index, latest time.Time, seeded string, sizeMB float64, bufferPool int64) (string, string) {
	var b, rows strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Console case list on %s cases, %s\n\n", thousands(o.n), time.Now().Format("2006-01-02 15:04 MST"))
	cmd := "go run ./bench/console"
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "out" && f.Name != "summary" {
			cmd += fmt.Sprintf(" -%s=%s", f.Name, f.Value)
		}
	})
	w("`%s`. Database `%s`: %s reports over two years up to %s, %s; the reports table and its indexes take %.0f MB "+
		"(InnoDB buffer pool: %.0f MB). Statuses follow age (recent reports still open, about 3 %% of all; old ones closed, "+
		"rejected or merged), risk levels on verified cases, a few old cases under rectification overdue; five communities, "+
		"11 categories. Each query below is one list page (%d rows) as the console asks for it: `storage.Store.Cases` — "+
		"what `/console/cases` calls —, which runs a `COUNT(*)` for the pager and the page itself (`ORDER BY r.overdue DESC, "+
		"<sort>, r.id LIMIT 20 OFFSET …`). One untimed run each (through a driver wrapper that captures the statements for the plans below), then up to %d timed runs interleaved across the queries (at least 5; a query "+
		"stops once its runs add up to %s), from this process over loopback TCP on the product's connection settings.\n\n",
		cmd, o.db, thousands(o.n), latest.Format("2006-01-02"), seeded, sizeMB, float64(bufferPool)/(1<<20), perPage, o.reps, o.budget)
	w("| query | matching cases | runs | p50 | p95 | max | COUNT p95 | page p95 | target | result |\n|---|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	var pass, total int
	var worst *measured
	for _, m := range ms {
		p95 := quantile(m.times, 0.95)
		result := "PASS"
		if p95 > maxP95 {
			result = fmt.Sprintf("MISS (%.1f×)", float64(p95)/float64(maxP95))
		}
		target := fmt.Sprintf("p95 ≤ %s", fms(maxP95))
		if !m.target {
			target = "(reported, not judged)"
		} else {
			total++
			if result == "PASS" {
				pass++
			} else if worst == nil || p95 > quantile(worst.times, 0.95) {
				worst = m
			}
		}
		w("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", m.name, thousands(m.total), len(m.times), fms(quantile(m.times, 0.5)), fms(p95),
			fms(quantile(m.times, 1)), fms(quantile(m.countT, 0.95)), fms(quantile(m.pageT, 0.95)), target, result)
	}
	w("\np50/p95/max: `Store.Cases` end to end (both statements and the scan into structs). COUNT and page: the two " +
		"statements timed apart, fewer runs.\n\n")
	var whys []string
	for _, m := range ms {
		if quantile(m.times, 0.95) <= maxP95 {
			continue
		}
		if why := whyMissed(m); why != "" {
			whys = append(whys, fmt.Sprintf("- **%s**: %s", m.name, why))
		}
	}
	if len(whys) > 0 {
		w("Why the misses, from the timings and the plans below (the table is %.0f MB against a %.0f MB buffer pool, so rows "+
			"a plan reads outside the recent, cached part of the table come from disk):\n\n%s\n\n",
			sizeMB, float64(bufferPool)/(1<<20), strings.Join(whys, "\n"))
	}
	verdict := "PASS"
	if pass < total {
		verdict = fmt.Sprintf("MISS (%d of %d queries over; worst: %s, p95 %s = %.1f× the limit)", total-pass, total, worst.name,
			fms(quantile(worst.times, 0.95)), float64(quantile(worst.times, 0.95))/float64(maxP95))
	}
	fmt.Fprintf(&rows, "| console case list, %s cases in MariaDB | %d of %d filtered pages with p95 ≤ %s | p95 ≤ %s per page | %s |\n",
		thousands(o.n), pass, total, fms(maxP95), fms(maxP95), verdict)

	w("### Indexes on `reports` (SHOW INDEX)\n\n| index | unique | columns | cardinality |\n|---|---|---|--:|\n")
	for _, ix := range indexes {
		u := ""
		if ix.unique {
			u = "yes"
		}
		w("| %s | %s | %s | %s |\n", ix.name, u, strings.Join(ix.columns, ", "), ix.card)
	}
	w("\n### EXPLAIN of each query's statements\n\n")
	w("The statements as `Store.Cases` sends them (captured at the driver, parameters inlined), then MariaDB's plan.\n\n")
	cols := []string{"id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows", "Extra"}
	for _, m := range ms {
		w("<details><summary>%s</summary>\n\n", m.name)
		for k, s := range m.statements {
			w("```sql\n%s\n```\n\n", inline(s))
			w("| %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
			if k < len(m.explains) {
				for _, r := range m.explains[k] {
					var cells []string
					for _, c := range cols {
						cells = append(cells, strings.ReplaceAll(r[c], "|", "\\|"))
					}
					w("| %s |\n", strings.Join(cells, " | "))
				}
			}
			w("\n")
		}
		w("</details>\n\n")
	}
	return b.String(), rows.String()
}

// inline writes a statement with its arguments in place, for reading.
func inline(s statement) string {
	q := strings.Join(strings.Fields(s.query), " ")
	var b strings.Builder
	ai := 0
	for _, r := range q {
		if r == '?' && ai < len(s.args) {
			switch v := s.args[ai].(type) {
			case string:
				b.WriteString("'" + strings.ReplaceAll(v, "'", "''") + "'")
			case time.Time:
				b.WriteString("'" + v.UTC().Format("2006-01-02 15:04:05.999999") + "'")
			default:
				b.WriteString(fmt.Sprint(v))
			}
			ai++
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	return strings.Join(append([]string{s}, out...), ",")
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

// whyMissed explains a slow query from its statements' timings and plans.
func whyMissed(m *measured) string {
	var parts []string
	plan := func(k int) map[string]string {
		if k < len(m.explains) && len(m.explains[k]) > 0 {
			return m.explains[k][0]
		}
		return map[string]string{}
	}
	via := func(p map[string]string) string {
		switch {
		case p["type"] == "ALL":
			return "a full table scan"
		case p["key"] != "" && p["key"] != "NULL":
			return "index " + p["key"] + " (" + p["type"] + ")"
		}
		return "no index"
	}
	if c := quantile(m.countT, 0.95); c > maxP95/2 {
		p := plan(0)
		covered := "from the index alone"
		if !slices.Contains(strings.Split(p["Extra"], "; "), "Using index") { // not "Using index condition"
			covered = "reading the rows too, as the index does not hold every filtered column"
		}
		parts = append(parts, fmt.Sprintf("the COUNT for the pager (p95 %s) counts %s matching cases through %s, %s (plan: ~%s rows)",
			fms(c), thousands(m.total), via(p), covered, p["rows"]))
	}
	if pg := quantile(m.pageT, 0.95); pg > maxP95/2 {
		p := plan(1)
		switch {
		case strings.Contains(p["Extra"], "filesort"):
			parts = append(parts, fmt.Sprintf("the page (p95 %s) reads every matching row through %s and sorts them (filesort): "+
				"no index gives the list's order (overdue first, then the chosen sort) for these filters", fms(pg), via(p)))
		case p["type"] == "index":
			parts = append(parts, fmt.Sprintf("the page (p95 %s) walks %s in the list's order and reads row after row to test the "+
				"filters; the first 20 matches lie far down that order", fms(pg), "index "+p["key"]))
		default:
			parts = append(parts, fmt.Sprintf("the page (p95 %s) goes through %s (plan: ~%s rows, %s)", fms(pg), via(p), p["rows"], p["Extra"]))
		}
	}
	return strings.Join(parts, "; ") + "."
}
