package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/officialaccount/menu"

	"hazardbot/bot"
	"hazardbot/content"
	"hazardbot/server"
	"hazardbot/storage"
)

const menuUsage = `usage: hazardbot menu push|show
  push  replace the account's custom menu with content/menu.yaml (or HAZARDBOT_CONTENT_DIR's)
  show  print the menu WeChat has now, and whether it matches the content`

// menuCmd pushes the menu in the content to WeChat, or shows the one WeChat
// has. It goes through the SDK's menu manager, as the server would.
func menuCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "push" && args[0] != "show") {
		return errors.New(menuUsage)
	}
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	c, err := content.Load(cfg.ContentDir)
	if err != nil {
		return fmt.Errorf("content (HAZARDBOT_CONTENT_DIR=%q):\n%w", cfg.ContentDir, err)
	}
	client, done, err := wechatClient(cfg)
	if err != nil {
		return err
	}
	defer done()
	hint := ""
	if cfg.Demo {
		hint = " (demo mode: this talks to the fake WeChat of a hazardbot running on " + cfg.APIBase + ")"
	}
	if args[0] == "push" {
		if err := client.Menu().SetMenu(sdkButtons(c.Menu)); err != nil {
			return fmt.Errorf("menu push%s: %w", hint, err)
		}
		fmt.Fprintf(stdout, "menu pushed: %d buttons; keys %s\n", len(c.Menu.Buttons), strings.Join(c.Menu.Keys(), ", "))
		return nil
	}
	res, err := client.Menu().GetMenu()
	if err != nil {
		return fmt.Errorf("menu show%s: %w", hint, err)
	}
	live := fromSDK(res.Menu.Button)
	printMenu(stdout, live)
	if same(live, c.Menu) {
		fmt.Fprintln(stdout, "matches the content's menu.yaml")
	} else {
		fmt.Fprintln(stdout, "differs from the content's menu.yaml: run `hazardbot menu push` to publish it")
	}
	return nil
}

// wechatClient builds a WeChat client from the configuration. With Redis it
// shares the servers' access token: fetching a new one would retire theirs
// within five minutes.
func wechatClient(cfg server.Config) (*bot.Client, func(), error) {
	log := slog.New(slog.DiscardHandler)
	if cfg.RedisURL == "" {
		// The server refreshes its own token when WeChat answers 40001.
		return bot.NewClient(cfg.AppID, cfg.AppSecret, cfg.APIBase, storage.NewMemorySessions(nil), log), func() {}, nil
	}
	ro, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	rc := redis.NewClient(ro)
	// "hb:" is the prefix the server's session store uses (server.New).
	return bot.NewClient(cfg.AppID, cfg.AppSecret, cfg.APIBase, storage.NewRedisSessions(rc, "hb:"), log),
		func() { rc.Close() }, nil
}

func sdkButtons(m content.Menu) []*menu.Button {
	var conv func(bs []content.Button) []*menu.Button
	conv = func(bs []content.Button) []*menu.Button {
		out := make([]*menu.Button, 0, len(bs))
		for _, b := range bs {
			out = append(out, &menu.Button{Type: b.Type, Name: b.Name, Key: b.Key, URL: b.URL, SubButtons: conv(b.SubButtons)})
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return conv(m.Buttons)
}

func fromSDK(bs []menu.Button) content.Menu {
	var conv func(bs []*menu.Button) []content.Button
	conv = func(bs []*menu.Button) []content.Button {
		var out []content.Button
		for _, b := range bs {
			out = append(out, content.Button{Type: b.Type, Name: b.Name, Key: b.Key, URL: b.URL, SubButtons: conv(b.SubButtons)})
		}
		return out
	}
	ptrs := make([]*menu.Button, len(bs))
	for i := range bs {
		ptrs[i] = &bs[i]
	}
	return content.Menu{Buttons: conv(ptrs)}
}

func same(a, b content.Menu) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func printMenu(w io.Writer, m content.Menu) {
	line := func(indent string, b content.Button) {
		detail := b.Type
		switch {
		case b.Key != "":
			detail += " " + b.Key
		case b.URL != "":
			detail += " " + b.URL
		}
		fmt.Fprintf(w, "%s%s\t%s\n", indent, b.Name, strings.TrimSpace(detail))
	}
	for _, b := range m.Buttons {
		line("", b)
		for _, s := range b.SubButtons {
			line("  ", s)
		}
	}
}
