package notices_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func TestChannelPerResident(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st)
		w.follower("o-recent", 2*time.Hour) // inside the 48-hour window
		w.follower("o-old", 72*time.Hour)   // outside it
		w.follower("o-gone", 72*time.Hour)  // unfollowed since
		w.follower("o-edge", 47*time.Hour+59*time.Minute)
		w.api.Unfollow("o-gone")
		n := w.publish(warning(notices.LevelYellow, "今夜有大暴雨，请做好防范准备工作并注意出行安全"))
		if n.State != notices.StateSched {
			t.Fatalf("a yellow warning needs no approval, state %s", n.State)
		}
		w.run()

		recent := w.received("o-recent", n)
		if len(recent) != 1 || recent[0].Kind != "custom" || !strings.Contains(recent[0].Text, "暴雨黄色预警") ||
			!strings.Contains(recent[0].Text, n.Body) {
			t.Fatalf("inside the window: %+v", recent)
		}
		for _, id := range []string{"o-old", "o-edge"} {
			got := w.received(id, n)
			if id == "o-edge" {
				if len(got) != 1 || got[0].Kind != "custom" {
					t.Fatalf("%s, one minute before the window closes: %+v", id, got)
				}
				continue
			}
			if len(got) != 1 || got[0].Kind != "template" || got[0].TemplateID != tplID || got[0].URL != notices.Link(publicURL, n.ID) {
				t.Fatalf("%s outside the window: %+v", id, got)
			}
			for k, v := range got[0].Data {
				if utf8.RuneCountInString(v) > 20 || strings.ContainsAny(v, "\r\n") || v == "" {
					t.Fatalf("template field %s = %q", k, v)
				}
			}
			if got[0].Data["thing1"] != "今夜有大暴雨，请做好防范准备工作并注意…" && !strings.HasSuffix(got[0].Data["thing1"], "…") {
				t.Fatalf("title not shortened cleanly: %q", got[0].Data["thing1"])
			}
		}
		if len(w.received("o-gone", n)) != 0 {
			t.Fatal("an unfollower got the notice")
		}
		p := w.progress(n.ID)
		if p.Recipients != 4 || p.Delivered != 3 || p.Failed != 1 || p.ByReason[notices.ReasonNotFollowing] != 1 ||
			p.ByChannel[notices.ChannelCustom] != 2 || p.ByChannel[notices.ChannelTemplate] != 1 {
			t.Fatalf("progress %+v", p)
		}
		got, err := w.svc.Get(w.ctx, n.ID)
		storagetest.Must(t, err)
		if got.State != notices.StateSent || got.PublishedAt.IsZero() || got.Recipients != 4 {
			t.Fatalf("notice after sending: %+v", got)
		}
	})
}
