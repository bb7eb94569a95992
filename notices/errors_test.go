package notices_test

import (
	"testing"
	"time"

	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

const (
	customPath   = "/cgi-bin/message/custom/send"
	templatePath = "/cgi-bin/message/template/send"
)

// TestErrorClasses drives one resident's delivery through every class of
// WeChat answer: retried with backoff (-1, 45009, timeouts), token refreshed
// once (40001, 42001), fallen back from customer service to a template
// (45015, 45047), recorded undeliverable with its reason (43004, 40003, user
// block), refused for good (47003), and given up after MaxAttempts.
func TestErrorClasses(t *testing.T) {
	type want struct {
		state    string // the row's end state: sent or failed
		channel  string
		reason   string
		messages int // what the resident got
		runs     int // dispatcher rounds needed, a minute apart
	}
	cases := []struct {
		name   string
		window bool // resident wrote within 48 hours
		noTpl  bool
		setup  func(w *world)
		after  func(w *world, n notices.Notice) // once the first round is done
		want   want
	}{
		{name: "busy -1 is retried", window: true,
			setup: func(w *world) { w.api.Fail(customPath, -1, 1) },
			want:  want{notices.RowSent, notices.ChannelCustom, "", 1, 2}},
		{name: "frequency 45009 is retried", setup: func(w *world) { w.api.Fail(templatePath, 45009, 2) },
			want: want{notices.RowSent, notices.ChannelTemplate, "", 1, 3}},
		{name: "a timeout is retried", setup: func(w *world) { w.api.Delay(templatePath, 10*time.Second) },
			after: func(w *world, n notices.Notice) { w.api.Reset() },
			want:  want{notices.RowSent, notices.ChannelTemplate, "", 1, 2}},
		{name: "40001 refreshes the token once", window: true, setup: func(w *world) { w.api.Fail(customPath, 40001, 1) },
			want: want{notices.RowSent, notices.ChannelCustom, "", 1, 1}},
		{name: "42001 refreshes the token once", setup: func(w *world) { w.api.Fail(templatePath, 42001, 1) },
			want: want{notices.RowSent, notices.ChannelTemplate, "", 1, 1}},
		{name: "45015 falls back to a template", window: true, setup: func(w *world) { w.api.Fail(customPath, 45015, 1) },
			want: want{notices.RowSent, notices.ChannelTemplate, "", 1, 1}},
		{name: "45047 falls back to a template", window: true, setup: func(w *world) { w.api.Fail(customPath, 45047, 1) },
			want: want{notices.RowSent, notices.ChannelTemplate, "", 1, 1}},
		{name: "45015 without a template is undeliverable", window: true, noTpl: true,
			setup: func(w *world) { w.api.Fail(customPath, 45015, 1) },
			want:  want{notices.RowFailed, notices.ChannelCustom, notices.ReasonOutOfWindow, 0, 1}},
		{name: "45047 without a template is undeliverable", window: true, noTpl: true,
			setup: func(w *world) { w.api.Fail(customPath, 45047, 1) },
			want:  want{notices.RowFailed, notices.ChannelCustom, notices.ReasonTooMany, 0, 1}},
		{name: "outside the window without a template", noTpl: true,
			want: want{notices.RowFailed, notices.ChannelTemplate, notices.ReasonNoTemplate, 0, 1}},
		{name: "43004 is undeliverable", setup: func(w *world) { w.api.Fail(templatePath, 43004, 1) },
			want: want{notices.RowFailed, notices.ChannelTemplate, notices.ReasonNotFollowing, 0, 1}},
		{name: "40003 is undeliverable", setup: func(w *world) { w.api.Fail(templatePath, 40003, 1) },
			want: want{notices.RowFailed, notices.ChannelTemplate, notices.ReasonInvalidOpenID, 0, 1}},
		{name: "47003 is refused for good", setup: func(w *world) { w.api.Fail(templatePath, 47003, 1) },
			want: want{notices.RowFailed, notices.ChannelTemplate, notices.ReasonRejected, 0, 1}},
		{name: "user block reported by TEMPLATESENDJOBFINISH",
			after: func(w *world, n notices.Notice) {
				s := w.received("o-1", n)[0]
				storagetest.Must(w.t, w.d.TemplateFinished(w.ctx, "o-1", s.MsgID, "failed:user block"))
			},
			want: want{notices.RowFailed, notices.ChannelTemplate, notices.ReasonUserBlock, 1, 1}},
		{name: "system failure reported by TEMPLATESENDJOBFINISH is sent again",
			after: func(w *world, n notices.Notice) {
				s := w.received("o-1", n)[0]
				storagetest.Must(w.t, w.d.TemplateFinished(w.ctx, "o-1", s.MsgID, "failed: system failed"))
			},
			want: want{notices.RowSent, notices.ChannelTemplate, "", 2, 2}},
		{name: "busy every time: given up after MaxAttempts", setup: func(w *world) { w.api.Fail(templatePath, -1, -1) },
			want: want{notices.RowFailed, notices.ChannelTemplate, notices.ReasonGaveUp, 0, 4}},
	}
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w := newWorld(t, st, func(c *notices.Config) {
					// The call timeout must outlast a slow answer from the fake on a loaded
					// machine (the race detector, two cores), or a healthy call "times out".
					c.MaxAttempts, c.FrequencyPause, c.CallTimeout = 3, time.Nanosecond, time.Second
					if tc.noTpl {
						c.TemplateID = ""
					}
				})
				w.clock.Advance(time.Duration(i) * time.Hour)
				// Each case has the store to itself: one resident, one notice.
				_, err := st.DB.Exec("DELETE FROM users")
				storagetest.Must(t, err)
				ago := 72 * time.Hour
				if tc.window {
					ago = time.Hour
				}
				w.follower("o-1", ago)
				if tc.setup != nil {
					tc.setup(w)
				}
				n := w.publish(notice("社区消防演练通知", notices.Audience{Kind: notices.AudienceAll}))
				w.run()
				if tc.after != nil {
					tc.after(w, n)
				}
				for range tc.want.runs - 1 {
					w.clock.Advance(time.Minute)
					w.run()
				}
				rows := deliveries(t, st, n.ID)
				if len(rows) != 1 {
					t.Fatalf("%d rows", len(rows))
				}
				r := rows[0]
				if r.State != tc.want.state || r.Channel != tc.want.channel || r.Reason != tc.want.reason {
					t.Fatalf("row %+v, want %+v", r, tc.want)
				}
				if got := len(w.received("o-1", n)); got != tc.want.messages {
					t.Fatalf("resident got %d messages, want %d", got, tc.want.messages)
				}
				// Nothing more happens later: failures are not retried forever.
				w.clock.Advance(time.Hour)
				if w.run() != 0 {
					t.Fatal("work left after the outcome was recorded")
				}
				got, _ := w.svc.Get(w.ctx, n.ID)
				if got.State != notices.StateSent {
					t.Fatalf("notice %s, want sent", got.State)
				}
			})
		}
	})
}

type deliveryRow struct {
	OpenID   string `db:"openid"`
	State    string `db:"state"`
	Channel  string `db:"channel"`
	Reason   string `db:"reason"`
	Attempts int    `db:"attempts"`
	Doubt    bool   `db:"doubt"`
}

// deliveries reads a notice's rows straight from the table, as an auditor would.
func deliveries(t *testing.T, st *storage.Store, id int64) []deliveryRow {
	t.Helper()
	var rows []deliveryRow
	err := st.DB.Select(&rows, "SELECT openid, state, channel, reason, attempts, doubt FROM notice_deliveries WHERE notice_id = ? ORDER BY openid", id)
	storagetest.Must(t, err)
	return rows
}
