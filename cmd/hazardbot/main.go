// Command hazardbot serves the WeChat official account "安全随手拍": the
// webhook, the background jobs, and tools to migrate, check content and chat
// with it from a terminal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // residents and staff see Asia/Shanghai even in a scratch container

	"hazardbot/content"
	"hazardbot/server"
	"hazardbot/storage"
)

const usage = `hazardbot — the 安全随手拍 WeChat official account backend

Usage:
  hazardbot [serve]          run the server (configuration from the environment; see README.md)
  hazardbot sim [flags]      chat with a running hazardbot from this terminal, as WeChat would
  hazardbot migrate          apply database migrations and exit
  hazardbot menu push|show   publish content/menu.yaml as the account's menu, or show WeChat's
  hazardbot retention [--dry-run]
                             anonymise reports finished more than HAZARDBOT_RETENTION_DAYS ago
  hazardbot user add --username NAME --role admin|street|community|viewer [--community ID]
                             create a console user (password on standard input)
  hazardbot healthcheck       exit 0 when the local server answers /healthz (for containers)
  hazardbot content check [DIR]
                             validate the content files (embedded, or DIR laid over them)
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hazardbot:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr)
	case "sim":
		return sim(ctx, args, getenv, stdin, stdout)
	case "migrate":
		return migrate(ctx, getenv)
	case "user":
		return userCmd(ctx, args, getenv, stdin, stdout)
	case "menu":
		return menuCmd(ctx, args, getenv, stdout)
	case "retention":
		return retentionCmd(ctx, args, getenv, stdout)
	case "content":
		return contentCmd(args, getenv, stdout)
	case "healthcheck":
		return healthcheck(getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

func logger(cfg server.Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := server.New(ctx, cfg, server.Options{Log: log})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("HAZARDBOT_ADDR %s: %w", cfg.Addr, err)
	}
	storeKind, sessionKind := "SQLite in "+cfg.DataDir, "in-process"
	if cfg.DB != "" {
		storeKind = "MySQL/MariaDB"
	}
	if cfg.RedisURL != "" {
		sessionKind = "Redis"
	}
	log.Info("hazardbot listening", "addr", ln.Addr().String(), "database", storeKind, "sessions", sessionKind)
	if cfg.Demo {
		log.Warn("DEMO MODE: no WeChat settings (WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN), so demo credentials " +
			"and a built-in fake WeChat API are in use. Real WeChat cannot reach this server. Chat with it from another terminal: go run ./cmd/hazardbot sim")
	}
	return s.Serve(ctx, ln)
}

func migrate(ctx context.Context, getenv func(string) string) error {
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	st, err := storage.Open(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Migrate(ctx)
}

func contentCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("content", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) != "check" || fs.NArg() > 2 {
		return errors.New("usage: hazardbot content check [DIR]")
	}
	dir := getenv("HAZARDBOT_CONTENT_DIR")
	if fs.NArg() == 2 {
		dir = fs.Arg(1)
	}
	if _, err := content.Load(dir); err != nil {
		return fmt.Errorf("content check failed:\n%w", err)
	}
	where := "embedded content"
	if dir != "" {
		where = dir + " over the embedded content"
	}
	fmt.Fprintf(stdout, "content ok (%s)\n", where)
	return nil
}

// healthcheck asks the local server whether it is alive; distroless images
// have no curl.
func healthcheck(getenv func(string) string) error {
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(cfg.Addr)
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}
