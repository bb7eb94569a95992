package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/console"
	"hazardbot/content"
	"hazardbot/server"
	"hazardbot/storage"
)

const userUsage = `usage: hazardbot user add --username NAME --role admin|street|community|viewer [--community ID] [--name 姓名] [--password-stdin]

The password is read from the first line of standard input (--password-stdin
says so explicitly, for scripts). It needs at least 10 characters with
letters and digits, and must not contain the username.`

// userCmd manages console users from the command line; `user add` creates
// the first admin, who then manages the rest in the console.
func userCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New(userUsage)
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	username := fs.String("username", "", "login name")
	role := fs.String("role", "", "admin, street, community or viewer")
	community := fs.String("community", "", "community id (for community staff), e.g. c1")
	name := fs.String("name", "", "display name")
	_ = fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errors.New(userUsage)
	}
	if err := console.CheckUsername(*username); err != nil {
		return fmt.Errorf("--username: %v", err)
	}
	r := hazardbot.Role(*role)
	if !r.Valid() {
		return fmt.Errorf("--role %q: want admin, street, community or viewer", *role)
	}
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if r == hazardbot.RoleCommunity {
		c, err := content.Load(cfg.ContentDir)
		if err != nil {
			return err
		}
		var ids []string
		found := false
		for _, cm := range c.Grids.Communities() {
			ids = append(ids, cm.ID+" "+cm.Name)
			found = found || cm.ID == *community
		}
		if !found {
			return fmt.Errorf("--community %q: community staff need one of: %s", *community, strings.Join(ids, ", "))
		}
	} else if *community != "" {
		return errors.New("--community is only for --role community")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the password from standard input: %w", err)
	}
	hash, err := console.HashPassword(strings.TrimRight(line, "\r\n"), *username, 0)
	if err != nil {
		return fmt.Errorf("password refused: %v", err)
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
	id, err := st.CreateStaff(ctx, storage.Staff{Username: *username, Name: *name, PasswordHash: hash, Role: r, CommunityID: *community}, now)
	if errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("user %q already exists", *username)
	}
	if err != nil {
		return err
	}
	if err := st.AppendAudit(ctx, storage.AuditEntry{At: now, Actor: "cli", Action: "staff.create", SubjectType: "staff",
		SubjectID: fmt.Sprint(id), Detail: fmt.Sprintf("%s as %s %s", *username, r, *community)}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s) — log in at /console/\n", *username, r.Name())
	return nil
}
