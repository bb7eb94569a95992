package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/jobs"
	"hazardbot/storage"
)

// ServiceWindow is how long after a resident's last message WeChat allows
// customer-service messages.
const ServiceWindow = 48 * time.Hour

// NotifyStore is what status notifications need from storage.
type NotifyStore interface {
	Event(ctx context.Context, id int64) (hazardbot.Event, error)
	Report(ctx context.Context, id int64) (hazardbot.Report, error)
	GetUser(ctx context.Context, openid string) (storage.User, error)
	RecordNotification(ctx context.Context, eventID int64, openid, channel, outcome, detail string, now time.Time) error
}

// Notifier tells reporters and followers that a report moved: by a
// customer-service message inside the 48-hour window, otherwise by a
// template message, and records each outcome.
type Notifier struct {
	Client     *Client
	Store      NotifyStore
	Content    func() *content.Content
	Now        func() time.Time
	TemplateID string
	Fields     map[string]string // ticket, status, time, note → the template's keys
	PublicURL  string            // links to the report's public page when set
}

// DefaultTemplateFields are the keys of the status template we suggest
// choosing in the WeChat console (工单号, 状态, 时间, 备注).
var DefaultTemplateFields = map[string]string{"ticket": "character_string1", "status": "phrase2", "time": "time3", "note": "thing4"}

// Handle is the job handler for hazardbot.JobNotifyStatus.
func (n *Notifier) Handle(ctx context.Context, job storage.Job) error {
	var p hazardbot.NotifyStatus
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return jobs.Permanent(fmt.Errorf("notify payload: %w", err))
	}
	if !hazardbot.InWeChat(p.OpenID) {
		// A report from another channel (Open311) or anonymised by
		// retention: there is nobody in WeChat to tell.
		return n.Store.RecordNotification(ctx, p.EventID, p.OpenID, "", storage.NotifyUndeliverable, "not a WeChat resident", n.Now())
	}
	ev, err := n.Store.Event(ctx, p.EventID)
	if err != nil {
		return err
	}
	r, err := n.Store.Report(ctx, ev.ReportID)
	if err != nil {
		return err
	}
	now := n.Now()
	u, err := n.Store.GetUser(ctx, p.OpenID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err == nil && now.Sub(u.LastInteraction) < ServiceWindow {
		t := n.Content().Report
		text := content.Fill(t.StatusChanged, "ticket", r.Ticket, "status", ev.To.Name(), "note", ev.Note)
		text = strings.ReplaceAll(text, "\n\n", "\n")
		err := n.Client.SendText(ctx, p.OpenID, text)
		if err == nil {
			return n.Store.RecordNotification(ctx, ev.ID, p.OpenID, "custom", storage.NotifySent, "", now)
		}
		if !Undeliverable(err) {
			return err // busy, rate-limited or unreachable: the job retries
		}
		// The window closed or its allowance ran out: a template still gets through.
	}
	return n.sendTemplate(ctx, ev, r, p.OpenID, now)
}

func (n *Notifier) sendTemplate(ctx context.Context, ev hazardbot.Event, r hazardbot.Report, openid string, now time.Time) error {
	if n.TemplateID == "" {
		return n.Store.RecordNotification(ctx, ev.ID, openid, "template", storage.NotifyUndeliverable,
			"outside the 48-hour window and WECHAT_TEMPLATE_STATUS is not set", now)
	}
	keys := n.Fields
	if keys == nil {
		keys = DefaultTemplateFields
	}
	note := ev.Note
	if note == "" {
		note = n.Content().Report.TemplateLinkNote
	}
	fields := map[string]string{
		keys["ticket"]: TemplateField(r.Ticket),
		keys["status"]: TemplateField(ev.To.Name()),
		keys["time"]:   ev.At.In(hazardbot.Shanghai).Format("2006-01-02 15:04"),
		keys["note"]:   TemplateField(note),
	}
	link := ""
	if n.PublicURL != "" {
		link = n.PublicURL + "/r/" + r.Ticket
	}
	_, err := n.Client.SendTemplate(ctx, openid, n.TemplateID, link, fields)
	switch {
	case err == nil:
		return n.Store.RecordNotification(ctx, ev.ID, openid, "template", storage.NotifySent, "", now)
	case Undeliverable(err):
		return n.Store.RecordNotification(ctx, ev.ID, openid, "template", storage.NotifyUndeliverable, err.Error(), now)
	}
	return err
}

// TemplateField fits a value into a template field: WeChat takes at most 20
// characters and no line breaks, so it is cut cleanly with an ellipsis.
func TemplateField(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= 20 {
		return s
	}
	return string([]rune(s)[:19]) + "…"
}
