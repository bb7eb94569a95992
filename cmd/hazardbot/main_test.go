package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardbot/server"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// demoServer runs hazardbot as a newcomer would: no settings but a data
// directory, on a free port.
func demoServer(t *testing.T) (env map[string]string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{"HAZARDBOT_ADDR": ln.Addr().String(), "HAZARDBOT_DATA_DIR": t.TempDir()}
	cfg, err := server.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.Close()
	})
	return env
}

// chat runs `hazardbot sim` with the lines as its input, waiting for each
// answer before typing the next, and returns everything it printed.
func chat(t *testing.T, env map[string]string, args []string, lines ...string) string {
	t.Helper()
	in, feed := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), append([]string{"sim"}, args...), func(k string) string { return env[k] }, in, out, io.Discard)
	}()
	for _, l := range lines {
		prompts := strings.Count(out.String(), "> ")
		if _, err := io.WriteString(feed, l+"\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return strings.Count(out.String(), "> ") > prompts })
	}
	feed.Close()
	if err := <-done; err != nil {
		t.Fatalf("sim: %v\n%s", err, out.String())
	}
	return out.String()
}

// waitFor polls for a condition that another process brings about.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSimAgainstADemoServer(t *testing.T) {
	env := demoServer(t)
	photo := filepath.Join(t.TempDir(), "p.jpg")
	if err := os.WriteFile(photo, []byte("\xff\xd8\xff\xe0 a photo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, mode := range [][]string{{"--openid", "o-sim-plain"}, {"--openid", "o-sim-safe", "--aes"}} {
		loc := []string{"/loc 36.0650,103.8480 东湖路18号", "/loc 36.0550,103.8300 西园路2号"}[i]
		got := chat(t, env, mode,
			"/sub", "帮助", "上报", "取消",
			"上报", "1", "楼道里堆满了纸箱", "/photo "+photo, "完成", loc, "匿名", "确认",
			"我的上报", "/click HELP", "/loc nonsense", "/nope")
		for _, want := range []string{"欢迎关注", "可以这样使用", "请选择隐患类别", "已取消", "已收到第1张照片", "已提交，您的工单号是 YH-",
			"您最近的上报", "usage: LAT,LNG", "unknown command /nope"} {
			if !strings.Contains(got, want) {
				t.Fatalf("%v: sim output lacks %q:\n%s", mode, want, got)
			}
		}
	}
}

func TestContentCheck(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"content", "check"}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "menu.yaml"), []byte("buttons:\n  - name: 随手拍\n    sub_buttons:\n      - {type: click, name: 上报, key: \"\"}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "messages.yaml"), []byte("welcome: \"\"\nunknown_key: x\n"), 0o600)
	err := run(context.Background(), []string{"content", "check", dir}, func(string) string { return "" }, nil, &out, io.Discard)
	if err == nil {
		t.Fatal("broken content passed the check")
	}
	for _, want := range []string{"menu.yaml:4: button \"上报\" needs a key", "messages.yaml:2:", "unknown_key", "text \"welcome\" is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("check output lacks %q:\n%v", want, err)
		}
	}
}

func TestUnknownCommandAndBadConfig(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, nil, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("got %v", err)
	}
	err := run(context.Background(), []string{"serve"}, func(k string) string {
		return map[string]string{"HAZARDBOT_REDIS_URL": "nope"}[k]
	}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HAZARDBOT_REDIS_URL") {
		t.Fatalf("got %v", err)
	}
}
