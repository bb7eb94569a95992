package server

import (
	"errors"
	"strings"
	"testing"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigDefaultsToDemoMode(t *testing.T) {
	c, err := ConfigFromEnv(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Demo || c.Addr != ":8080" || c.DataDir != "./data" || c.APIBase != "http://127.0.0.1:8080"+FakePrefix || c.DailyCap != 10 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = ConfigFromEnv(envOf(map[string]string{"WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "WECHAT_TOKEN": "t"}))
	if err != nil || c.Demo || c.APIBase != "https://api.weixin.qq.com" || c.AESKey != "" {
		t.Fatalf("production: %+v %v", c, err)
	}
}

func TestConfigErrorsNameTheVariableAndTheFix(t *testing.T) {
	cases := []struct {
		env     map[string]string
		varName string
		fix     string
	}{
		{map[string]string{"HAZARDBOT_ADDR": "8080"}, "HAZARDBOT_ADDR", ":8080"},
		{map[string]string{"HAZARDBOT_DB": "postgres://x"}, "HAZARDBOT_DB", "mysql://"},
		{map[string]string{"HAZARDBOT_DB": "root@tcp(127.0.0.1:3306"}, "HAZARDBOT_DB", "parseTime"},
		{map[string]string{"HAZARDBOT_REDIS_URL": "localhost:6379"}, "HAZARDBOT_REDIS_URL", "redis://"},
		{map[string]string{"HAZARDBOT_LOG_FORMAT": "xml"}, "HAZARDBOT_LOG_FORMAT", "text or json"},
		{map[string]string{"WECHAT_APP_ID": "wx1"}, "WECHAT_APP_SECRET", "together"},
		{map[string]string{"WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "s", "WECHAT_TOKEN": "t", "WECHAT_AES_KEY": "short"}, "WECHAT_AES_KEY", "43-character"},
		{map[string]string{"WECHAT_API_BASE": "ftp://gw"}, "WECHAT_API_BASE", "http(s)"},
		{map[string]string{"HAZARDBOT_IDLE_TIMEOUT": "5s"}, "HAZARDBOT_IDLE_TIMEOUT", "30m"},
		{map[string]string{"HAZARDBOT_REPORT_DAILY_CAP": "-3"}, "HAZARDBOT_REPORT_DAILY_CAP", "1 to 1000"},
		{map[string]string{"WECHAT_TEMPLATE_STATUS_FIELDS": "ticket"}, "WECHAT_TEMPLATE_STATUS_FIELDS", "ticket=KEY"},
		{map[string]string{"HAZARDBOT_PUBLIC_URL": "aq.example.gov.cn"}, "HAZARDBOT_PUBLIC_URL", "https://"},
	}
	for _, tc := range cases {
		t.Run(tc.varName, func(t *testing.T) {
			_, err := ConfigFromEnv(envOf(tc.env))
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var != tc.varName || !strings.Contains(err.Error(), tc.fix) {
				t.Fatalf("got %v, want an error about %s mentioning %q", err, tc.varName, tc.fix)
			}
		})
	}
}
