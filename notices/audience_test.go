package notices_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// inside returns a point inside a grid.
func (w *world) inside(grid string) (lat, lng float64) {
	w.t.Helper()
	for _, g := range w.c.Grids.List {
		if g.ID == grid {
			c := g.Bound.Center()
			if got, ok := w.c.Grids.Locate(c[1], c[0]); ok && got.ID == grid {
				return c[1], c[0]
			}
		}
	}
	w.t.Fatalf("no inner point for grid %s", grid)
	return 0, 0
}

func (w *world) recipients(id int64) []string {
	var out []string
	for _, r := range deliveries(w.t, w.st, id) {
		out = append(out, r.OpenID)
	}
	return out
}

// TestAudiences resolves each kind of audience: communities and grids by
// last known location or reports filed there, a radius around a point,
// volunteers; muted residents get orange and red warnings only.
func TestAudiences(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st)
		for _, id := range []string{"r-g1", "r-g3", "r-rep", "r-vol", "r-far", "r-muted", "r-c2"} {
			w.follower(id, 72*time.Hour)
		}
		w.located("r-g1", g1Lat, g1Lng)
		w.located("r-g3", g3Lat, g3Lng)
		w.located("r-muted", g1Lat+0.0005, g1Lng)
		w.located("r-far", 39.9087, 116.3975)
		lat, lng := w.inside("c2-g1")
		w.located("r-c2", lat, lng)
		w.mute("r-muted")
		storagetest.Must(t, st.SetRole(w.ctx, "r-vol", storage.RoleVolunteer))
		rep := &hazardbot.Report{OpenID: "r-rep", Category: "fire", Description: "楼道堆放杂物", CommunityID: "c1", GridID: "c1-g2"}
		storagetest.Must(t, st.SubmitReport(w.ctx, rep, "k-rep", w.clock.Now()))

		cases := []struct {
			name string
			n    notices.Notice
			want []string
		}{
			{"community", notice("东湖社区通知", notices.Audience{Kind: notices.AudienceCommunities, Communities: []string{"c1"}}),
				[]string{"r-g1", "r-g3", "r-rep"}},
			{"two communities", notice("两社区通知", notices.Audience{Kind: notices.AudienceCommunities, Communities: []string{"c1", "c2"}}),
				[]string{"r-c2", "r-g1", "r-g3", "r-rep"}},
			{"grid", notice("第1网格通知", notices.Audience{Kind: notices.AudienceGrids, Grids: []string{"c1-g1"}}),
				[]string{"r-g1"}},
			{"near a point", notice("附近通知", notices.Audience{Kind: notices.AudienceNear, Lat: g3Lat, Lng: g3Lng, Radius: 300, Place: "东湖公园"}),
				[]string{"r-g3"}},
			{"volunteers", notice("志愿者通知", notices.Audience{Kind: notices.AudienceVolunteers}), []string{"r-vol"}},
			{"all followers", notice("全体通知", notices.Audience{Kind: notices.AudienceAll}),
				[]string{"r-c2", "r-far", "r-g1", "r-g3", "r-rep", "r-vol"}},
			{"a blue warning spares the muted", func() notices.Notice {
				n := warning(notices.LevelBlue, "大风蓝色预警")
				n.Audience = notices.Audience{Kind: notices.AudienceGrids, Grids: []string{"c1-g1"}}
				return n
			}(), []string{"r-g1"}},
			{"an orange warning reaches the muted", func() notices.Notice {
				n := warning(notices.LevelOrange, "大风橙色预警")
				n.Audience = notices.Audience{Kind: notices.AudienceGrids, Grids: []string{"c1-g1"}}
				return n
			}(), []string{"r-g1", "r-muted"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				w.t = t
				n := w.publish(tc.n)
				w.run()
				got := w.recipients(n.ID)
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("recipients %v, want %v", got, tc.want)
				}
				for _, id := range tc.want {
					if len(w.received(id, n)) != 1 {
						t.Fatalf("%s did not get it", id)
					}
				}
			})
		}
	})
}

// TestApprovalAndStates walks the state machine and its rules: orange and
// red warnings wait for a second staff member; the author cannot approve
// their own; only street staff approve; community staff reach only their
// community; a withdrawn notice sends nothing more.
func TestApprovalAndStates(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st)
		w.follower("o-1", 72*time.Hour)
		w.follower("o-2", 72*time.Hour)
		community := notices.Staff{ID: "staff:wang", Name: "王五", Role: hazardbot.RoleCommunity, CommunityID: "c1"}
		viewer := notices.Staff{ID: "staff:zhao", Name: "赵六", Role: hazardbot.RoleViewer}

		if _, err := w.svc.Create(w.ctx, viewer, notice("只读用户的通知", notices.Audience{Kind: notices.AudienceAll})); !errors.Is(err, notices.ErrForbidden) {
			t.Fatalf("a viewer composed: %v", err)
		}
		if _, err := w.svc.Create(w.ctx, community, notice("越权通知", notices.Audience{Kind: notices.AudienceAll})); !errors.Is(err, notices.ErrForbidden) {
			t.Fatalf("community staff reached everyone: %v", err)
		}
		bad := warning(notices.LevelRed, "缺少灾害类型")
		bad.Hazard = ""
		if _, err := w.svc.Create(w.ctx, author, bad); !errors.Is(err, notices.ErrInvalid) {
			t.Fatalf("a warning without a hazard type: %v", err)
		}

		red, err := w.svc.Create(w.ctx, author, warning(notices.LevelRed, "暴雨红色预警"))
		storagetest.Must(t, err)
		red, err = w.svc.Submit(w.ctx, author, red.ID)
		storagetest.Must(t, err)
		if red.State != notices.StateApproval {
			t.Fatalf("red warning went to %s, want awaiting approval", red.State)
		}
		if w.run() != 0 || len(w.api.Sent("o-1")) != 0 {
			t.Fatal("an unapproved red warning went out")
		}
		if _, err := w.svc.Approve(w.ctx, author, red.ID); !errors.Is(err, notices.ErrForbidden) {
			t.Fatalf("the author approved their own red warning: %v", err)
		}
		if _, err := w.svc.Approve(w.ctx, community, red.ID); !errors.Is(err, notices.ErrForbidden) {
			t.Fatalf("community staff approved: %v", err)
		}
		red, err = w.svc.Reject(w.ctx, approver, red.ID, "请写明影响时段")
		storagetest.Must(t, err)
		if red.State != notices.StateDraft || red.RejectNote != "请写明影响时段" {
			t.Fatalf("after rejection: %+v", red)
		}
		red.Body += "影响时段为今晚20时至明早8时。"
		red, err = w.svc.Edit(w.ctx, author, red)
		storagetest.Must(t, err)
		red, err = w.svc.Submit(w.ctx, author, red.ID)
		storagetest.Must(t, err)
		red, err = w.svc.Approve(w.ctx, approver, red.ID)
		storagetest.Must(t, err)
		if red.State != notices.StateSched || red.ApprovedBy != approver.ID {
			t.Fatalf("after approval: %+v", red)
		}
		if _, err := w.svc.Approve(w.ctx, approver, red.ID); !errors.Is(err, notices.ErrState) {
			t.Fatalf("approved twice: %v", err)
		}
		w.run()
		if len(w.received("o-1", red)) != 1 {
			t.Fatal("approved red warning not delivered")
		}

		// A yellow warning needs no approval; community staff may send to
		// their own community.
		own, err := w.svc.Create(w.ctx, community, notice("东湖社区通知", notices.Audience{Kind: notices.AudienceCommunities, Communities: []string{"c1"}}))
		storagetest.Must(t, err)
		own, err = w.svc.Submit(w.ctx, community, own.ID)
		storagetest.Must(t, err)
		if own.State != notices.StateSched {
			t.Fatalf("community notice: %s", own.State)
		}

		// Scheduled for later, then withdrawn: nothing goes out.
		later, err := w.svc.Create(w.ctx, author, notice("明天的通知", notices.Audience{Kind: notices.AudienceAll}))
		storagetest.Must(t, err)
		later, err = w.svc.Schedule(w.ctx, author, later.ID, w.clock.Now().Add(2*time.Hour))
		storagetest.Must(t, err)
		later, err = w.svc.Submit(w.ctx, author, later.ID)
		storagetest.Must(t, err)
		w.run()
		if len(w.received("o-1", later)) != 0 {
			t.Fatal("a notice went out before its time")
		}
		w.clock.Advance(time.Hour)
		later, err = w.svc.Cancel(w.ctx, approver, later.ID, "活动取消")
		storagetest.Must(t, err)
		w.clock.Advance(2 * time.Hour)
		w.run()
		if len(w.received("o-1", later)) != 0 || later.State != notices.StateCanceled {
			t.Fatalf("a withdrawn notice went out, state %s", later.State)
		}

		// Withdrawn while it is going out: the rest is not sent.
		mid, err := w.svc.Create(w.ctx, author, notice("撤回测试", notices.Audience{Kind: notices.AudienceAll}))
		storagetest.Must(t, err)
		_, err = w.svc.Submit(w.ctx, author, mid.ID)
		storagetest.Must(t, err)
		w.d.Batch = 1
		w.d.Sender = &cancellingSender{Sender: w.wx, cancel: func() {
			_, err := w.svc.Cancel(w.ctx, author, mid.ID, "发错了")
			storagetest.Must(t, err)
		}}
		w.run()
		p := w.progress(mid.ID)
		if p.Delivered != 1 || p.Cancelled != 1 || len(w.received("o-1", mid))+len(w.received("o-2", mid)) != 1 {
			t.Fatalf("withdrawn mid-send: %+v", p)
		}
		if mid, _ = w.svc.Get(w.ctx, mid.ID); mid.State != notices.StateCanceled {
			t.Fatalf("state %s", mid.State)
		}
	})
}

// cancellingSender withdraws the notice during its first send.
type cancellingSender struct {
	notices.Sender
	cancel func()
	done   bool
}

func (s *cancellingSender) SendTemplate(ctx context.Context, openid, tpl, link string, f map[string]string) (int64, error) {
	if !s.done {
		s.done = true
		s.cancel()
	}
	return s.Sender.SendTemplate(ctx, openid, tpl, link, f)
}

// TestApprovedTooLateIsNotSent: a warning whose validity ended while it
// waited for approval is withdrawn, not sent out stale.
func TestApprovedTooLateIsNotSent(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st)
		w.follower("o-1", 72*time.Hour)
		n := warning(notices.LevelRed, "今夜暴雨")
		n.ValidUntil = w.clock.Now().Add(time.Hour)
		n, err := w.svc.Create(w.ctx, author, n)
		storagetest.Must(t, err)
		_, err = w.svc.Submit(w.ctx, author, n.ID)
		storagetest.Must(t, err)
		w.clock.Advance(2 * time.Hour)
		_, err = w.svc.Approve(w.ctx, approver, n.ID)
		storagetest.Must(t, err)
		w.run()
		got, err := w.svc.Get(w.ctx, n.ID)
		storagetest.Must(t, err)
		if got.State != notices.StateCanceled || got.CancelReason == "" || len(w.api.Sent("o-1")) != 0 {
			t.Fatalf("stale warning: state %s, reason %q, sent %d", got.State, got.CancelReason, len(w.api.Sent("o-1")))
		}
	})
}
