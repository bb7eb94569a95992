package server

import (
	"os"
	"path/filepath"
	"testing"

	"hazardbot/bot/wechattest"
	"hazardbot/storage/storagetest"
)

func TestContentReloadsWithoutARestart(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "messages.yaml"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("welcome: 第一版欢迎语\n")
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions, func(c *Config, o *Options) { c.ContentDir = dir })
	r := e.resident("o-reload", false)
	contains(t, r.push(wechattest.Subscribe(r.id)), "第一版欢迎语")
	write("welcome: 第二版欢迎语\n")
	storagetest.Must(t, e.srv.ReloadContent())
	contains(t, r.push(wechattest.Subscribe(r.id)), "第二版欢迎语")
	write("welcome: [broken\n")
	if err := e.srv.ReloadContent(); err == nil {
		t.Fatal("broken content was accepted")
	}
	contains(t, r.push(wechattest.Subscribe(r.id)), "第二版欢迎语") // the content in force stays
}
