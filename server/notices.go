package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hazardbot/bot"
	"hazardbot/dialogs"
	"hazardbot/notices"
)

// Notices and early warnings: the staff desk (console and chat), the
// dispatcher that delivers them, the public pages and the CAP feed.

// demoNoticeTemplate lets the demo's fake WeChat show template messages to
// residents outside the 48-hour window.
const demoNoticeTemplate = "DEMO_NOTICE_TEMPLATE"

// noticesConfig reads the notice settings:
//
//	WECHAT_TEMPLATE_NOTICE         template for residents outside the 48-hour window ("" sends them nothing)
//	WECHAT_TEMPLATE_NOTICE_FIELDS  its keys: title=thing1,kind=thing2,time=time3,note=thing4
//	HAZARDBOT_NOTICE_MASS          mass send for all-followers notices: off (default), list, all, or tag:<id>
//	HAZARDBOT_NOTICE_RATE          deliveries per second at most, all senders together (default 500; 0 = no cap)
//	HAZARDBOT_NOTICE_SENDERS       concurrent senders (default 8)
func noticesConfig(get func(k, def string) string) (notices.Config, error) {
	c := notices.Config{TemplateID: get("WECHAT_TEMPLATE_NOTICE", ""), TemplateKeys: notices.DefaultTemplateKeys}
	fields := get("WECHAT_TEMPLATE_NOTICE_FIELDS", "title=thing1,kind=thing2,time=time3,note=thing4")
	for _, kv := range strings.Split(fields, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && v != "" {
			switch k {
			case "title":
				c.TemplateKeys.Title = v
				continue
			case "kind":
				c.TemplateKeys.Kind = v
				continue
			case "time":
				c.TemplateKeys.Time = v
				continue
			case "note":
				c.TemplateKeys.Note = v
				continue
			}
		}
		return c, &ConfigError{"WECHAT_TEMPLATE_NOTICE_FIELDS", fmt.Sprintf("%q is not field=key", kv),
			"list title=KEY,kind=KEY,time=KEY,note=KEY with the keys of your notice template"}
	}
	switch mass := get("HAZARDBOT_NOTICE_MASS", "off"); {
	case mass == "off":
	case mass == notices.MassList || mass == notices.MassAll:
		c.Mass = mass
	case strings.HasPrefix(mass, "tag:"):
		id, err := strconv.Atoi(strings.TrimPrefix(mass, "tag:"))
		if err != nil || id <= 0 {
			return c, &ConfigError{"HAZARDBOT_NOTICE_MASS", fmt.Sprintf("%q has no tag id", mass), "write tag:<id> with the id of a WeChat tag"}
		}
		c.Mass, c.MassTag = notices.MassTag, id
	default:
		return c, &ConfigError{"HAZARDBOT_NOTICE_MASS", fmt.Sprintf("%q is unknown", mass), "use off, list, all or tag:<id>"}
	}
	rate := get("HAZARDBOT_NOTICE_RATE", "500")
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil || r < 0 || r > 100000 {
		return c, &ConfigError{"HAZARDBOT_NOTICE_RATE", fmt.Sprintf("%q is not a number from 0 to 100000", rate), "unset it for 500 a second"}
	}
	c.Rate = r
	senders := get("HAZARDBOT_NOTICE_SENDERS", "8")
	if c.Senders, err = strconv.Atoi(senders); err != nil || c.Senders < 1 || c.Senders > 256 {
		return c, &ConfigError{"HAZARDBOT_NOTICE_SENDERS", fmt.Sprintf("%q is not a number from 1 to 256", senders), "unset it for 8"}
	}
	return c, nil
}

// wireNotices builds the notice desk and dispatcher and teaches the chat
// the notice words. It runs before the report routes, so that 驳回 3 燃气…
// is a staff command and not words of danger.
func (s *Server) wireNotices() {
	cfg := s.Config.Notices
	cfg.PublicURL = s.Config.PublicURL
	if cfg.TemplateID == "" && s.Config.Demo {
		cfg.TemplateID = demoNoticeTemplate
	}
	s.Notices = &notices.Dispatcher{Store: s.Store, Sender: s.WeChat, Content: s.Content, Now: s.now, Log: s.Log,
		Code: bot.ErrCode, Config: cfg}
	s.NoticeDesk = &notices.Service{Store: s.Store, Content: s.Content, Now: s.now, Kick: s.Notices.Kick,
		PublicURL: s.Config.PublicURL, TemplateKeys: cfg.TemplateKeys}
	s.Engine.AddNotices(dialogs.Notices{Board: s.Store, Desk: s.NoticeDesk, PublicURL: s.Config.PublicURL})
	s.Console.AddNotices(s.NoticeDesk)
}

// mountNotices serves the public pages and the CAP feed, and hands WeChat's
// send reports to the dispatcher.
func (s *Server) mountNotices() {
	web := &notices.Web{Store: s.Store, Content: s.Content, Now: s.now, Log: s.Log, PublicURL: s.Config.PublicURL}
	web.Register(s.mux)
	s.Webhook.JobFinished = func(ctx context.Context, ev bot.JobFinish) error {
		switch ev.Event {
		case "TEMPLATESENDJOBFINISH":
			return s.Notices.TemplateFinished(ctx, ev.OpenID, ev.MsgID, ev.Status)
		case "MASSSENDJOBFINISH":
			return s.Notices.MassFinished(ctx, ev.MsgID, ev.Status, ev.Total, ev.Filter, ev.Sent, ev.Errors)
		}
		return nil
	}
}

// runNotices runs the dispatcher until ctx ends; the returned channel
// closes once it has stopped and recorded what was under way.
func (s *Server) runNotices(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Notices.Run(ctx, time.Second)
	}()
	return done
}
