package server

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"hazardbot"
	"hazardbot/bot"
	"hazardbot/notices"
	"hazardbot/storage"
)

// Config is everything hazardbot reads from its environment.
type Config struct {
	Addr       string // HAZARDBOT_ADDR
	DataDir    string // HAZARDBOT_DATA_DIR
	DB         string // HAZARDBOT_DB: "" = SQLite in DataDir
	RedisURL   string // HAZARDBOT_REDIS_URL: "" = in-process sessions
	ContentDir string // HAZARDBOT_CONTENT_DIR
	LogFormat  string // HAZARDBOT_LOG_FORMAT: text | json

	AppID, AppSecret, Token, AESKey string // WECHAT_*
	APIBase                         string // WECHAT_API_BASE

	// Demo is set when no WeChat settings are given: demo credentials, and a
	// fake WeChat API served by hazardbot itself so `hazardbot sim` works.
	Demo bool

	// DailyCap is how many reports a resident may file a day (HAZARDBOT_REPORT_DAILY_CAP, default 10).
	DailyCap int
	// TemplateStatus is the template id of report status notifications
	// (WECHAT_TEMPLATE_STATUS); TemplateFields maps our fields (ticket,
	// status, time, note) to the template's keys (WECHAT_TEMPLATE_STATUS_FIELDS).
	TemplateStatus string
	TemplateFields map[string]string
	// PublicURL is where residents' links point (HAZARDBOT_PUBLIC_URL), e.g. https://aq.example.gov.cn.
	PublicURL string

	// IdleTimeout ends a conversation step nobody answers (HAZARDBOT_IDLE_TIMEOUT, default 30m).
	IdleTimeout time.Duration

	// RetentionDays is how long after a report is finished its reporter's
	// personal data is kept (HAZARDBOT_RETENTION_DAYS, default 365; 0 keeps
	// it forever).
	RetentionDays int
	// Open311Keys maps each Open311 client's name to its api_key
	// (HAZARDBOT_OPEN311_KEYS, e.g. "hotline12345=KEY"); with none, filing
	// through Open311 is refused and reading still works.
	Open311Keys map[string]string

	// Deadlines are the rectification deadlines by risk level
	// (HAZARDBOT_DEADLINES, e.g. "red=24h,orange=72h,yellow=168h,blue=360h").
	Deadlines hazardbot.Deadlines
	// TemplateDigest is the template id of the daily overdue digest to staff
	// outside the 48-hour window (WECHAT_TEMPLATE_DIGEST); "" records it undeliverable.
	TemplateDigest string

	// Notices are the notice delivery settings (WECHAT_TEMPLATE_NOTICE*,
	// HAZARDBOT_NOTICE_*; see noticesConfig).
	Notices notices.Config
}

// Demo credentials: public on purpose, only ever used with the built-in fake.
const (
	DemoAppID  = "wxhazardbotdemo0001"
	DemoSecret = "demo-app-secret"
	DemoToken  = "hazardbot-demo-token"
	DemoAESKey = "hazardbotDemoEncodingAESKey0123456789abcdeg"
	// FakePrefix is where the demo fake WeChat API is mounted.
	FakePrefix = "/fakewechat"
)

// ConfigError names the variable at fault and how to fix it.
type ConfigError struct {
	Var, Problem, Fix string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %s; %s", e.Var, e.Problem, e.Fix)
}

// ConfigFromEnv reads and validates the configuration.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:       get("HAZARDBOT_ADDR", ":8080"),
		DataDir:    get("HAZARDBOT_DATA_DIR", "./data"),
		DB:         get("HAZARDBOT_DB", ""),
		RedisURL:   get("HAZARDBOT_REDIS_URL", ""),
		ContentDir: get("HAZARDBOT_CONTENT_DIR", ""),
		LogFormat:  get("HAZARDBOT_LOG_FORMAT", "text"),
		AppID:      get("WECHAT_APP_ID", ""),
		AppSecret:  get("WECHAT_APP_SECRET", ""),
		Token:      get("WECHAT_TOKEN", ""),
		AESKey:     get("WECHAT_AES_KEY", ""),
		APIBase:    get("WECHAT_API_BASE", ""),
	}
	c.TemplateStatus = get("WECHAT_TEMPLATE_STATUS", "")
	c.TemplateDigest = get("WECHAT_TEMPLATE_DIGEST", "")
	if n, err := noticesConfig(get); err != nil {
		return c, err
	} else {
		c.Notices = n
	}
	if d, err := hazardbot.ParseDeadlines(get("HAZARDBOT_DEADLINES", "")); err != nil {
		return c, &ConfigError{"HAZARDBOT_DEADLINES", err.Error(), "unset it for red=24h,orange=72h,yellow=168h,blue=360h"}
	} else {
		c.Deadlines = d
	}
	c.PublicURL = strings.TrimRight(get("HAZARDBOT_PUBLIC_URL", ""), "/")
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, &ConfigError{"HAZARDBOT_PUBLIC_URL", fmt.Sprintf("%q is not an http(s) URL", c.PublicURL), "give the address residents reach this server at, e.g. https://aq.example.gov.cn"}
		}
	}
	fields := get("WECHAT_TEMPLATE_STATUS_FIELDS", "ticket=character_string1,status=phrase2,time=time3,note=thing4")
	c.TemplateFields = map[string]string{}
	for _, kv := range strings.Split(fields, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" || (k != "ticket" && k != "status" && k != "time" && k != "note") {
			return c, &ConfigError{"WECHAT_TEMPLATE_STATUS_FIELDS", fmt.Sprintf("%q is not field=key", kv), "list ticket=KEY,status=KEY,time=KEY,note=KEY with the keys of your template"}
		}
		c.TemplateFields[k] = v
	}
	capText := get("HAZARDBOT_REPORT_DAILY_CAP", "10")
	if n, err := strconv.Atoi(capText); err != nil || n < 1 || n > 1000 {
		return c, &ConfigError{"HAZARDBOT_REPORT_DAILY_CAP", fmt.Sprintf("%q is not a number from 1 to 1000", capText), "unset it for 10"}
	} else {
		c.DailyCap = n
	}
	days := get("HAZARDBOT_RETENTION_DAYS", "365")
	if n, err := strconv.Atoi(days); err != nil || n < 0 || n > 3650 {
		return c, &ConfigError{"HAZARDBOT_RETENTION_DAYS", fmt.Sprintf("%q is not a number of days from 0 to 3650", days), "unset it for 365, or set 0 to keep personal data forever"}
	} else {
		c.RetentionDays = n
	}
	if keys, err := parseOpen311Keys(getenv("HAZARDBOT_OPEN311_KEYS")); err != nil {
		return c, &ConfigError{"HAZARDBOT_OPEN311_KEYS", err.Error(), "list name=key pairs separated by commas, e.g. hotline12345=<32 random characters>"}
	} else {
		c.Open311Keys = keys
	}
	idle := get("HAZARDBOT_IDLE_TIMEOUT", "30m")
	var err error
	if c.IdleTimeout, err = time.ParseDuration(idle); err != nil || c.IdleTimeout < time.Minute {
		return c, &ConfigError{"HAZARDBOT_IDLE_TIMEOUT", fmt.Sprintf("%q is not a duration of at least 1m", idle), "use a Go duration such as 30m"}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return c, &ConfigError{"HAZARDBOT_ADDR", fmt.Sprintf("%q is not host:port", c.Addr), "use a form such as :8080 or 127.0.0.1:8080"}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, &ConfigError{"HAZARDBOT_LOG_FORMAT", fmt.Sprintf("%q is unknown", c.LogFormat), "use text or json"}
	}
	if c.DB != "" {
		if _, err := storage.MySQLConfig(c.DB); err != nil {
			return c, &ConfigError{"HAZARDBOT_DB", err.Error(), "unset it for SQLite, or give user:pass@tcp(host:3306)/db?parseTime=true or mysql://user:pass@host:3306/db"}
		}
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return c, &ConfigError{"HAZARDBOT_REDIS_URL", err.Error(), "unset it for in-process sessions, or give redis://host:6379/0"}
		}
	}
	wechat := map[string]string{"WECHAT_APP_ID": c.AppID, "WECHAT_APP_SECRET": c.AppSecret, "WECHAT_TOKEN": c.Token}
	var set, missing []string
	for _, k := range []string{"WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TOKEN"} {
		if wechat[k] != "" {
			set = append(set, k)
		} else {
			missing = append(missing, k)
		}
	}
	switch {
	case len(set) == 0 && c.AESKey == "":
		c.Demo = true
		c.AppID, c.AppSecret, c.Token, c.AESKey = DemoAppID, DemoSecret, DemoToken, DemoAESKey
	case len(missing) > 0:
		return c, &ConfigError{missing[0], "is not set while " + strings.Join(set, ", ") + " is", "set WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN together (from the WeChat console), or none of them for the demo mode"}
	}
	if c.AESKey != "" {
		if k, err := base64.StdEncoding.DecodeString(c.AESKey + "="); len(c.AESKey) != 43 || err != nil || len(k) != 32 {
			return c, &ConfigError{"WECHAT_AES_KEY", "is not a 43-character EncodingAESKey", "copy the EncodingAESKey from the WeChat console's server settings, or unset it for plaintext mode"}
		}
	}
	if c.APIBase != "" {
		u, err := url.Parse(c.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, &ConfigError{"WECHAT_API_BASE", fmt.Sprintf("%q is not an http(s) URL", c.APIBase), "unset it for https://api.weixin.qq.com or give your gateway's URL"}
		}
	}
	if c.APIBase == "" {
		c.APIBase = bot.DefaultAPIBase
		if c.Demo {
			c.APIBase = "http://" + c.loopback() + FakePrefix
		}
	}
	return c, nil
}

// loopback is the address this process can reach itself on.
func (c Config) loopback() string {
	host, port, _ := net.SplitHostPort(c.Addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
