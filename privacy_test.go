package hazardbot

import "testing"

func TestMaskContacts(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"电话13912345678", "电话[电话已隐去]"},
		{"打 139 1234 5678 找我", "打 [电话已隐去] 找我"},
		{"+86-139-1234-5678", "[电话已隐去]"},
		{"座机0931-8123456", "座机[电话已隐去]"},
		{"邮箱 a.b@example.com。", "邮箱 [邮箱已隐去]。"},
		{"身份证62010219800101123X", "身份证[证件号已隐去]"},
		{"工单 YH-20261128-0042 第3号楼", "工单 YH-20261128-0042 第3号楼"},
		{"订单号 2026112800001391234567890", "订单号 2026112800001391234567890"},
	} {
		if got := MaskContacts(tc.in); got != tc.want {
			t.Errorf("MaskContacts(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestInWeChat(t *testing.T) {
	for openid, want := range map[string]bool{"oAbC-123_xyz": true, "open311:hotline12345": false, "anon:r42": false, "": false} {
		if InWeChat(openid) != want {
			t.Errorf("InWeChat(%q) = %v", openid, !want)
		}
	}
}
