package content_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hazardbot/content"
)

func TestEmbeddedMenu(t *testing.T) {
	m := content.MustLoadEmbedded().Menu
	if len(m.Buttons) == 0 || len(m.Buttons) > 3 {
		t.Fatalf("%d buttons", len(m.Buttons))
	}
	keys := m.Keys()
	for _, want := range []string{"REPORT", "REPORT_PHOTO", "MY_REPORTS", "HELP"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("the menu lacks %s (keys %v)", want, keys)
		}
	}
}

func TestMenuChecks(t *testing.T) {
	long := strings.Repeat("K", 129)
	for _, tc := range []struct {
		name, yaml string
		want       string // in the problem; "" means valid
	}{
		{"valid", `buttons:
  - name: 随手拍
    sub_buttons:
      - {type: click, name: 上报隐患, key: REPORT}
      - {type: pic_photo_or_album, name: 拍照上报, key: REPORT_PHOTO}
      - {type: location_select, name: 附近避难场所, key: SHELTER}
      - {type: view, name: 街道官网, url: "https://example.gov.cn/a?b=c"}
  - {type: click, name: 帮助, key: HELP}
`, ""},
		{"no buttons", "buttons: []\n", "1 to 3 buttons"},
		{"four buttons", `buttons:
  - {type: click, name: A, key: A}
  - {type: click, name: B, key: B}
  - {type: click, name: C, key: C}
  - {type: click, name: D, key: D}
`, "1 to 3 buttons, has 4"},
		{"six sub-buttons", `buttons:
  - name: 多
    sub_buttons:
      - {type: click, name: A, key: A}
      - {type: click, name: B, key: B}
      - {type: click, name: C, key: C}
      - {type: click, name: D, key: D}
      - {type: click, name: E, key: E}
      - {type: click, name: F, key: F}
`, "6 sub-buttons, at most 5"},
		{"three levels", `buttons:
  - name: 多
    sub_buttons:
      - name: 再多
        type: click
        key: A
        sub_buttons:
          - {type: click, name: B, key: B}
`, "two levels only"},
		{"long key", "buttons:\n  - {type: click, name: A, key: " + long + "}\n", "key of 1 to 128 bytes"},
		{"no key", "buttons:\n  - {type: location_select, name: A}\n", "key of 1 to 128 bytes"},
		{"long url", "buttons:\n  - {type: view, name: A, url: \"https://x.cn/" + strings.Repeat("a", 1024) + "\"}\n", "at most 1024 bytes"},
		{"not a web url", "buttons:\n  - {type: view, name: A, url: \"javascript:alert(1)\"}\n", "http(s) url"},
		{"duplicate key", "buttons:\n  - {type: click, name: A, key: A}\n  - {type: click, name: B, key: A}\n", `key "A" is used twice`},
		{"unknown type", "buttons:\n  - {type: popup, name: A, key: A}\n", `unsupported type "popup"`},
		{"parent with a key", `buttons:
  - name: 组
    key: GROUP
    sub_buttons:
      - {type: click, name: A, key: A}
`, "must not have a type, key or url"},
		{"long top name", "buttons:\n  - {type: click, name: 这是一个很长的菜单名字, key: A}\n", "1 to 16 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "menu.yaml"), []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := content.Load(dir)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid menu refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "menu.yaml:") {
				t.Fatalf("got %v, want a menu.yaml problem containing %q", err, tc.want)
			}
		})
	}
}
