package notices_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// massSends returns the mass messages openid received.
func (w *world) massSends(openid string) int {
	k := 0
	for _, s := range w.api.Sent(openid) {
		if s.Kind == "mass" {
			k++
		}
	}
	return k
}

func (w *world) mute(openid string) {
	w.t.Helper()
	storagetest.Must(w.t, w.st.SetNoticesMuted(w.ctx, openid, true, w.clock.Now()))
}

// TestMassSendByListWithinMonthlyQuota: all-followers notices go out by
// mass send to the followers still under four this month, with a
// clientmsgid each; muted residents are left out of ordinary notices; once
// the allowance is used up the rest get one message each, and a mass send
// with a single addressee (WeChat wants two) does too.
func TestMassSendByListWithinMonthlyQuota(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st, func(c *notices.Config) { c.Mass = notices.MassList })
		fs := ids("o-f", 6)
		for _, id := range fs {
			w.follower(id, 72*time.Hour)
		}
		w.mute(fs[5])
		var sent []notices.Notice
		for i := range 5 {
			n := w.publish(notice(fmt.Sprintf("第%d期安全提示", i+1), notices.Audience{Kind: notices.AudienceAll}))
			w.run()
			sent = append(sent, n)
			w.clock.Advance(time.Hour)
		}
		jobs := w.api.MassJobs()
		if len(jobs) != 4 {
			t.Fatalf("%d mass sends, want 4 (the monthly allowance)", len(jobs))
		}
		for _, j := range jobs {
			if j.Total != 5 || j.Filtered != 0 || j.SentCount != 5 {
				t.Fatalf("mass job %+v: want 5 addressed, none filtered by WeChat", j)
			}
		}
		ids := map[string]bool{}
		for _, c := range w.api.CallsTo("/cgi-bin/message/mass/send") {
			var body struct {
				ClientMsgID string `json:"clientmsgid"`
			}
			storagetest.Must(t, json.Unmarshal(c.Body, &body))
			if body.ClientMsgID == "" || ids[body.ClientMsgID] {
				t.Fatalf("clientmsgid %q missing or repeated", body.ClientMsgID)
			}
			ids[body.ClientMsgID] = true
		}
		for _, id := range fs[:5] {
			if w.massSends(id) != 4 || w.api.MassCount(id) != 4 {
				t.Fatalf("%s got %d mass messages", id, w.massSends(id))
			}
			got := w.received(id, sent[4])
			if len(got) != 1 || got[0].Kind != "template" {
				t.Fatalf("%s, fifth notice of the month: %+v", id, got)
			}
		}
		if got := w.api.Sent(fs[5]); len(got) != 0 {
			t.Fatalf("the muted resident got ordinary notices: %+v", got)
		}
		p := w.progress(sent[0].ID)
		if p.Delivered != 5 || p.ByChannel[notices.ChannelMass] != 5 || len(p.Mass) != 1 || p.Mass[0].State != "sent" {
			t.Fatalf("progress %+v", p)
		}
		storagetest.Must(t, w.d.MassFinished(w.ctx, p.Mass[0].MsgID, "send success", 5, 0, 5, 0))
		if p = w.progress(sent[0].ID); p.Mass[0].Total != 5 || p.Mass[0].Sent != 5 {
			t.Fatalf("MASSSENDJOBFINISH not recorded: %+v", p.Mass)
		}

		// A red warning reaches the muted resident too. Only they are
		// still under the allowance: a mass send needs two addressees, so
		// they get a message of their own like everyone else.
		red := w.publish(warning(notices.LevelRed, "暴雨红色预警"))
		w.run()
		for _, id := range fs {
			got := w.received(id, red)
			if len(got) != 1 || got[0].Kind != "template" {
				t.Fatalf("%s, red warning: %+v", id, got)
			}
		}
		if len(w.api.MassJobs()) != 4 {
			t.Fatal("a mass send went out over the allowance")
		}
	})
}

// TestMassSendToAllAndByTag: with mass send to all configured, a notice
// goes to all followers in one call when that reaches nobody who muted
// notices (or it is an orange or red warning); otherwise by list. A notice
// for a WeChat tag goes to the tag's members, by mass send to the tag.
func TestMassSendToAllAndByTag(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st, func(c *notices.Config) { c.Mass = notices.MassAll })
		fs := ids("o-a", 4)
		for _, id := range fs {
			w.follower(id, 72*time.Hour)
		}
		first := w.publish(notice("社区停水通知", notices.Audience{Kind: notices.AudienceAll}))
		w.run()
		w.mute(fs[3])
		second := w.publish(notice("社区停电通知", notices.Audience{Kind: notices.AudienceAll}))
		w.run()
		red := w.publish(warning(notices.LevelRed, "雷电红色预警"))
		w.run()
		if n := len(w.api.CallsTo("/cgi-bin/message/mass/sendall")); n != 2 {
			t.Fatalf("%d sends to all, want 2 (the first notice and the red warning)", n)
		}
		if n := len(w.api.CallsTo("/cgi-bin/message/mass/send")); n != 1 {
			t.Fatalf("%d sends by list, want 1 (the notice a resident muted)", n)
		}
		for i, id := range fs {
			want := map[int64]int{first.ID: 1, second.ID: 1, red.ID: 1}
			if i == 3 {
				want[second.ID] = 0
			}
			for nid, k := range want {
				got := 0
				for _, s := range w.api.Sent(id) {
					if s.Kind == "mass" && bytes.Contains(s.Body, []byte(fmt.Sprintf("/notices/%d", nid))) {
						got++
					}
				}
				if got != k {
					t.Fatalf("%s got notice %d %d times, want %d", id, nid, got, k)
				}
			}
		}

		// A tag: its members only.
		tag := w.createTag("网格员")
		w.tagUsers(tag, fs[0], fs[2])
		n := w.publish(notice("网格员集合通知", notices.Audience{Kind: notices.AudienceTag, TagID: tag, TagName: "网格员"}))
		w.run()
		p := w.progress(n.ID)
		if p.Recipients != 2 || p.Delivered != 2 || len(p.Mass) != 1 || p.Mass[0].Mode != notices.MassTag {
			t.Fatalf("tag notice progress %+v", p)
		}
	})
}

func (w *world) postAPI(path string, body any, out any) {
	w.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(w.apiURL+path+"?access_token="+w.api.AccessToken(), "application/json", bytes.NewReader(b))
	storagetest.Must(w.t, err)
	defer resp.Body.Close()
	var res map[string]any
	storagetest.Must(w.t, json.NewDecoder(resp.Body).Decode(&res))
	if code, _ := res["errcode"].(float64); code != 0 {
		w.t.Fatalf("%s: %v", path, res)
	}
	if out != nil {
		b, _ := json.Marshal(res)
		storagetest.Must(w.t, json.Unmarshal(b, out))
	}
}

func (w *world) createTag(name string) int {
	var res struct {
		Tag struct {
			ID int `json:"id"`
		} `json:"tag"`
	}
	w.postAPI("/cgi-bin/tags/create", map[string]any{"tag": map[string]string{"name": name}}, &res)
	return res.Tag.ID
}

func (w *world) tagUsers(tag int, openids ...string) {
	w.postAPI("/cgi-bin/tags/members/batchtagging", map[string]any{"tagid": tag, "openid_list": openids}, nil)
}
