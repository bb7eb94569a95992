package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/storage"
)

// Overdue supervision runs as jobs in the outbox, so that it runs once
// however many instances there are: every instance's RunSweeps queues the
// sweep of the current time slot (deduplicated by the slot), the sweep marks
// cases past their deadline and, from DigestAt on, queues one digest per
// staff member and day (deduplicated by the day).
const (
	JobOverdueSweep = "case.overdue_sweep"
	JobDigest       = "case.digest"
	SweepEvery      = 15 * time.Minute
	// serviceWindow is how long after a user's last message WeChat allows
	// customer-service messages (as for residents).
	serviceWindow = 48 * time.Hour
	digestMax     = 10 // cases listed in one message; the rest are counted
)

// Digest outcomes, as recorded.
const (
	DigestSent          = "sent"
	DigestUndeliverable = "undeliverable"
)

type digestJob struct {
	StaffID int64  `json:"staff_id"`
	Day     string `json:"day"`
}

// StartSweeps queues the sweep of the current slot and wakes the worker. A
// sweep already queued for the slot, by this instance or another, makes it
// a no-op.
func (c *Console) StartSweeps(ctx context.Context) error {
	at := c.Now().UTC().Truncate(SweepEvery)
	if err := c.Store.Enqueue(ctx, JobOverdueSweep, "overdue-sweep:"+strconv.FormatInt(at.Unix(), 10), struct{}{}, at); err != nil {
		return err
	}
	c.Kick()
	return nil
}

// RunSweeps queues a sweep at once and then every SweepEvery until ctx
// ends; the server runs it beside the job worker.
func (c *Console) RunSweeps(ctx context.Context) {
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		if err := c.StartSweeps(ctx); err != nil && ctx.Err() == nil {
			c.Log.Error("console: cannot queue the overdue sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// HandleSweep is the job handler for JobOverdueSweep.
func (c *Console) HandleSweep(ctx context.Context, _ storage.Job) error {
	now := c.Now().UTC()
	// Sessions idle past the timeout can never be used again.
	if _, err := c.Store.PruneSessions(ctx, now.Add(-IdleTimeout)); err != nil {
		return err
	}
	marked, err := c.Store.MarkOverdue(ctx, now)
	if err != nil {
		return err
	}
	if len(marked) > 0 {
		c.Log.Info("console: cases became overdue", "count", len(marked))
	}
	if now.Sub(hazardbot.StartOfDay(now)) < c.DigestAt {
		return nil
	}
	staff, err := c.Store.DigestRecipients(ctx)
	if err != nil {
		return err
	}
	day := hazardbot.Day(now)
	for _, st := range staff {
		if err := c.Store.Enqueue(ctx, JobDigest, fmt.Sprintf("digest:%d:%s", st.ID, day),
			digestJob{StaffID: st.ID, Day: day}, now); err != nil {
			return err
		}
	}
	c.Kick()
	return nil
}

// HandleDigest is the job handler for JobDigest: it tells one staff member
// of the overdue cases they are responsible for — community staff their
// community's, street staff all — and records how it went.
func (c *Console) HandleDigest(ctx context.Context, job storage.Job) error {
	var p digestJob
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return fmt.Errorf("console: digest payload: %w", err)
	}
	st, err := c.Store.StaffByID(ctx, p.StaffID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.OpenID == "" || st.Disabled {
		return nil // unbound since the sweep
	}
	q := storage.CaseQuery{Overdue: true, Sort: "deadline", Asc: true, Limit: 200,
		Statuses: []hazardbot.Status{hazardbot.StatusAssigned, hazardbot.StatusFixing}}
	if st.Role == hazardbot.RoleCommunity {
		q.Scope = st.CommunityID
	}
	cases, total, err := c.Store.Cases(ctx, q)
	if err != nil {
		return err
	}
	if total == 0 {
		return nil // nothing overdue: no message
	}
	now := c.Now()
	record := func(channel, outcome, detail string) error {
		return c.Store.RecordDigest(ctx, storage.Digest{StaffID: st.ID, Day: p.Day, Cases: total, Channel: channel,
			Outcome: outcome, Detail: detail}, now)
	}
	u, err := c.Store.GetUser(ctx, st.OpenID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err == nil && now.Sub(u.LastInteraction) < serviceWindow && c.WeChat != nil {
		err := c.WeChat.SendText(ctx, st.OpenID, c.digestText(p.Day, cases, total))
		if err == nil {
			return record("custom", DigestSent, "")
		}
		if !c.Undeliverable(err) {
			return err // WeChat busy or unreachable: the job retries
		}
	}
	if c.DigestTemplate == "" || c.WeChat == nil {
		return record("template", DigestUndeliverable, "outside the 48-hour window and WECHAT_TEMPLATE_DIGEST is not set")
	}
	keys := c.DigestFields
	if keys == nil {
		keys = DefaultDigestFields
	}
	fields := map[string]string{
		keys["count"]: fmt.Sprintf("%d件", total),
		keys["time"]:  now.In(hazardbot.Shanghai).Format("2006-01-02 15:04"),
		keys["note"]:  templateField(c.Content().Staff.DigestTemplateNote),
	}
	link := ""
	if c.PublicURL != "" {
		link = c.PublicURL + "/console/cases?overdue=1"
	}
	_, err = c.WeChat.SendTemplate(ctx, st.OpenID, c.DigestTemplate, link, fields)
	switch {
	case err == nil:
		return record("template", DigestSent, "")
	case c.Undeliverable(err):
		return record("template", DigestUndeliverable, err.Error())
	}
	return err
}

// DefaultDigestFields are the keys of the digest template we suggest
// (逾期数量, 时间, 备注).
var DefaultDigestFields = map[string]string{"count": "character_string1", "time": "time2", "note": "thing3"}

func templateField(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= 20 {
		return s
	}
	return string([]rune(s)[:19]) + "…"
}

func (c *Console) digestText(day string, cases []hazardbot.Case, total int) string {
	t := c.Content().Staff
	var items []string
	for i, cs := range cases {
		if i == digestMax {
			break
		}
		items = append(items, content.Fill(t.DigestItem, "ticket", cs.Ticket, "category", c.categoryName(cs.Category),
			"risk", cs.Risk().Name(), "deadline", shanghai(cs.Deadline), "assignee", cs.AssigneeName))
	}
	if total > digestMax {
		items = append(items, content.Fill(t.DigestMore, "n", strconv.Itoa(total-digestMax)))
	}
	text := content.Fill(t.Digest, "date", day, "count", strconv.Itoa(total), "items", strings.Join(items, "\n"))
	if c.PublicURL != "" {
		text += "\n" + content.Fill(t.DigestLink, "url", c.PublicURL+"/console/cases?overdue=1")
	}
	return text
}
