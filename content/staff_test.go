package content

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStaffTexts(t *testing.T) {
	c := MustLoadEmbedded()
	if !strings.Contains(c.Staff.BindOK, "{username}") || c.Staff.ConsoleTitle == "" {
		t.Fatalf("staff texts %+v", c.Staff)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, staffFile), []byte("console_title: x\nbind_ok: 好的 {nickname}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "unknown placeholder {nickname}") || !strings.Contains(err.Error(), `"digest" is missing`) {
		t.Fatalf("bad staff.yaml: %v", err)
	}
}
