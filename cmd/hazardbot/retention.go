package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/server"
	"hazardbot/storage"
)

// retentionCmd anonymises the reports finished more than
// HAZARDBOT_RETENTION_DAYS ago now, as the nightly job does; with --dry-run
// it lists what it would change and changes nothing. It never prints the
// personal data itself.
func retentionCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("retention", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dry := fs.Bool("dry-run", false, "list what would change, change nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errors.New("usage: hazardbot retention [--dry-run]")
	}
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if cfg.RetentionDays == 0 {
		return errors.New("retention is off (HAZARDBOT_RETENTION_DAYS=0): personal data is kept for good")
	}
	st, err := storage.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	now := time.Now()
	before := now.AddDate(0, 0, -cfg.RetentionDays)
	day := before.In(hazardbot.Shanghai).Format(time.DateOnly)
	if !*dry {
		n, pruned, err := server.RunRetention(ctx, st, cfg.RetentionDays, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "anonymised %d report(s) finished before %s; pruned %d finished job(s)\n", n, day, pruned)
		return nil
	}
	// A dry run lists every candidate: a backlog is exactly what an
	// operator wants to see before the first real run.
	cands, err := st.RetentionCandidates(ctx, before, 1<<20)
	if err != nil {
		return err
	}
	for _, c := range cands {
		fmt.Fprintf(stdout, "%s\t%s\tfinished %s\tvia %s\t%s\n", c.Ticket, c.Status.Name(),
			c.FinishedAt.In(hazardbot.Shanghai).Format("2006-01-02 15:04"), c.Source, strings.Join(c.Changes(), "; "))
	}
	fmt.Fprintf(stdout, "dry run: %d report(s) finished before %s would be anonymised (HAZARDBOT_RETENTION_DAYS=%d); nothing changed\n",
		len(cands), day, cfg.RetentionDays)
	return nil
}
