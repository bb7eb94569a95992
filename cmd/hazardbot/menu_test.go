package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"hazardbot/bot/wechattest"
	"hazardbot/content"
)

// wechatEnv is a configuration pointing at a fake WeChat API.
func wechatEnv(t *testing.T) (*wechattest.API, func(string) string) {
	t.Helper()
	api := wechattest.NewAPI("wxmenutest", "menu-secret")
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	env := map[string]string{"WECHAT_APP_ID": "wxmenutest", "WECHAT_APP_SECRET": "menu-secret", "WECHAT_TOKEN": "t",
		"WECHAT_API_BASE": srv.URL, "HAZARDBOT_DATA_DIR": t.TempDir()}
	return api, func(k string) string { return env[k] }
}

func TestMenuPushAndShow(t *testing.T) {
	api, getenv := wechatEnv(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"menu", "show"}, getenv, nil, &out, &out); err == nil {
		t.Fatalf("show before any push: %s", out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"menu", "push"}, getenv, nil, &out, &out); err != nil {
		t.Fatalf("push: %v", err)
	}
	if !strings.Contains(out.String(), "menu pushed") {
		t.Fatalf("push said %q", out.String())
	}
	// The fake WeChat validated the menu (counts, lengths, types) and holds
	// exactly the content's.
	var pushed []content.Button
	if err := json.Unmarshal(api.Menu(), &pushed); err != nil {
		t.Fatal(err)
	}
	want := content.MustLoadEmbedded().Menu
	if !same(content.Menu{Buttons: pushed}, want) {
		t.Fatalf("WeChat holds %s", api.Menu())
	}
	if n := len(api.CallsTo("/cgi-bin/menu/create")); n != 1 {
		t.Fatalf("%d menu/create calls", n)
	}

	out.Reset()
	if err := run(ctx, []string{"menu", "show"}, getenv, nil, &out, &out); err != nil {
		t.Fatalf("show: %v", err)
	}
	for _, w := range []string{"随手拍", "  上报隐患\tclick REPORT", "pic_photo_or_album REPORT_PHOTO", "matches the content's menu.yaml"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("show lacks %q:\n%s", w, out.String())
		}
	}
}

func TestMenuPushFailure(t *testing.T) {
	api, getenv := wechatEnv(t)
	api.Fail("/cgi-bin/menu/create", 40016, 1)
	var out bytes.Buffer
	err := run(context.Background(), []string{"menu", "push"}, getenv, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "40016") {
		t.Fatalf("a refused push: %v", err)
	}
	if err := run(context.Background(), []string{"menu", "pull"}, getenv, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}
