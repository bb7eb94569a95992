package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// noticeSending stores an all-followers notice already sending, with
// followers f000… resolved into delivery rows.
func noticeSending(t *testing.T, s *storage.Store, followers int) notices.Notice {
	t.Helper()
	ctx := context.Background()
	for i := range followers {
		storagetest.Must(t, s.SetSubscribed(ctx, fmt.Sprintf("f%03d", i), true, t0))
	}
	n := notices.Notice{Kind: notices.KindNotice, MsgType: notices.MsgAlert, Title: "通知", Body: "通知正文内容",
		State: notices.StateSched, Audience: notices.Audience{Kind: notices.AudienceAll}, CreatedBy: "staff:t"}
	storagetest.Must(t, s.CreateNotice(ctx, &n, t0))
	started, err := s.StartSending(ctx, n.ID, t0, t0.Add(time.Hour), "", t0)
	storagetest.Must(t, err)
	if !started {
		t.Fatal("notice not started")
	}
	return n
}

func noticeEveryone(notices.Candidate) string { return notices.RowPending }

// TestExpandNoticeResumes resolves an audience in chunks: a second
// expander (after a crash, or on another instance) goes on from the cursor,
// and every follower gets exactly one row.
func TestExpandNoticeResumes(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		n := noticeSending(t, s, 10)
		done, err := s.ExpandNotice(ctx, n.ID, "2025-03", 4, noticeEveryone, t0)
		storagetest.Must(t, err)
		if done {
			t.Fatal("done after one chunk of 4 out of 10")
		}
		for range 5 {
			if done, err = s.ExpandNotice(ctx, n.ID, "2025-03", 4, noticeEveryone, t0); err != nil || done {
				break
			}
		}
		storagetest.Must(t, err)
		got, err := s.GetNotice(ctx, n.ID)
		storagetest.Must(t, err)
		if !done || got.Recipients != 10 {
			t.Fatalf("done %v, %d recipients, want 10", done, got.Recipients)
		}
		if again, err := s.ExpandNotice(ctx, n.ID, "2025-03", 4, noticeEveryone, t0); err != nil || !again {
			t.Fatalf("expanding a resolved notice: %v %v", again, err)
		}
	})
}

// TestClaimDeliveriesConcurrent: claimers racing for one notice's rows
// never get the same row (SKIP LOCKED through the primary key on MariaDB),
// and together they get them noticeEveryone.
func TestClaimDeliveriesConcurrent(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		const total = 300
		n := noticeSending(t, s, total)
		if done, err := s.ExpandNotice(ctx, n.ID, "2025-03", 1000, noticeEveryone, t0); err != nil || !done {
			t.Fatalf("expand: %v %v", done, err)
		}
		var (
			mu    sync.Mutex
			owner = map[int64]int{}
			wg    sync.WaitGroup
		)
		for w := range 8 {
			wg.Go(func() {
				for empty := 0; empty < 3; {
					got, err := s.ClaimDeliveries(ctx, t0, 7, 8*7+32, lease)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						empty++
						continue
					}
					mu.Lock()
					for _, d := range got {
						if prev, dup := owner[d.ID]; dup {
							t.Errorf("row %d claimed by %d and %d", d.ID, prev, w)
						}
						owner[d.ID] = w
						if d.Doubt || d.Attempts != 1 || d.LastInteraction.IsZero() {
							t.Errorf("fresh claim %+v", d)
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(owner) != total {
			t.Fatalf("claimed %d distinct rows, want %d", len(owner), total)
		}
		// Their leases run out: they come back, in doubt.
		got, err := s.ClaimDeliveries(ctx, t0.Add(lease+time.Second), 500, 600, lease)
		storagetest.Must(t, err)
		if len(got) != total || !got[0].Doubt || got[0].Attempts != 2 || !got[0].AttemptAt.Equal(t0) {
			t.Fatalf("expired leases: %d rows, first %+v", len(got), got[0])
		}
	})
}

// TestSendReports: a report for a recorded template confirms its row; one
// that arrives first waits and applies when the row is recorded; one for
// an attempt whose sender died is adopted once by the row in doubt.
func TestSendReports(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		n := noticeSending(t, s, 3)
		_, err := s.ExpandNotice(ctx, n.ID, "2025-03", 10, noticeEveryone, t0)
		storagetest.Must(t, err)
		rows, err := s.ClaimDeliveries(ctx, t0, 3, 40, lease)
		storagetest.Must(t, err)
		if len(rows) != 3 {
			t.Fatalf("%d rows", len(rows))
		}
		// f001's report overtakes our record of it.
		storagetest.Must(t, s.TemplateReport(ctx, 502, "f001", "failed:user block", t0, t0))
		storagetest.Must(t, s.RecordDeliveries(ctx, []notices.Outcome{
			{ID: rows[0].ID, State: notices.RowSent, Channel: notices.ChannelTemplate, MsgID: 501},
			{ID: rows[1].ID, State: notices.RowSent, Channel: notices.ChannelTemplate, MsgID: 502},
		}, t0))
		storagetest.Must(t, s.TemplateReport(ctx, 501, "f000", "success", t0, t0))
		// f002's sender died after WeChat took its template (msgid 503).
		storagetest.Must(t, s.TemplateReport(ctx, 503, "f002", "success", t0.Add(time.Second), t0.Add(time.Second)))
		doubt, err := s.ClaimDeliveries(ctx, t0.Add(lease+time.Second), 3, 40, lease)
		storagetest.Must(t, err)
		if len(doubt) != 1 || !doubt[0].Doubt || doubt[0].OpenID != "f002" {
			t.Fatalf("in doubt: %+v", doubt)
		}
		found, err := s.AdoptReceipt(ctx, doubt[0], time.Minute, t0.Add(lease+time.Second))
		storagetest.Must(t, err)
		if !found {
			t.Fatal("the dead attempt's report was not adopted")
		}
		if again, _ := s.AdoptReceipt(ctx, doubt[0], time.Minute, t0.Add(lease+time.Second)); again {
			t.Fatal("a report adopted twice")
		}
		p, err := s.NoticeProgress(ctx, n.ID)
		storagetest.Must(t, err)
		if p.Delivered != 2 || p.Failed != 1 || p.ByReason[notices.ReasonUserBlock] != 1 || p.Pending != 0 {
			t.Fatalf("progress %+v", p)
		}
		var confirmed int
		storagetest.Must(t, s.DB.Get(&confirmed, "SELECT COUNT(*) FROM notice_deliveries WHERE confirmed = ?", true))
		if confirmed != 2 {
			t.Fatalf("%d confirmed, want 2 (f000 and f002)", confirmed)
		}
		pruned, err := s.PruneNoticeReceipts(ctx, t0.Add(time.Hour))
		storagetest.Must(t, err)
		if pruned != 0 {
			t.Fatalf("%d reports left over after noticeEveryone were applied", pruned)
		}
	})
}

// TestNoticeSettingsAndStaff: 通知设置 is stored per resident; a WeChat
// account is staff through a bound, enabled console account, or
// users.role = 'staff'.
func TestNoticeSettingsAndStaff(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		if m, err := s.NoticesMuted(ctx, "o-new"); err != nil || m {
			t.Fatalf("default: %v %v", m, err)
		}
		storagetest.Must(t, s.SetNoticesMuted(ctx, "o-new", true, t0))
		storagetest.Must(t, s.SetNoticesMuted(ctx, "o-old", true, t0))
		storagetest.Must(t, s.SetNoticesMuted(ctx, "o-old", false, t0))
		if m, _ := s.NoticesMuted(ctx, "o-new"); !m {
			t.Fatal("mute not kept")
		}
		if m, _ := s.NoticesMuted(ctx, "o-old"); m {
			t.Fatal("unmute not kept")
		}

		storagetest.Must(t, s.SetSubscribed(ctx, "o-staff", true, t0))
		storagetest.Must(t, s.SetRole(ctx, "o-staff", storage.RoleStaff))
		st, ok, err := s.NoticeStaff(ctx, "o-staff")
		if err != nil || !ok || st.ID != "wechat:o-staff" {
			t.Fatalf("users.role staff: %+v %v %v", st, ok, err)
		}
		if _, ok, _ := s.NoticeStaff(ctx, "o-new"); ok {
			t.Fatal("a resident counted as staff")
		}
		id, err := s.CreateStaff(ctx, storage.Staff{Username: "wang", Name: "王五", PasswordHash: []byte("x"), Role: "community", CommunityID: "c1"}, t0)
		storagetest.Must(t, err)
		storagetest.Must(t, s.SetBindCode(ctx, id, "111222", t0.Add(time.Hour), t0))
		_, err = s.BindWeChat(ctx, "111222", "o-staff", t0)
		storagetest.Must(t, err)
		st, ok, err = s.NoticeStaff(ctx, "o-staff")
		if err != nil || !ok || st.ID != "staff:wang" || st.CommunityID != "c1" || st.Name != "王五" {
			t.Fatalf("bound console account: %+v %v %v", st, ok, err)
		}
		storagetest.Must(t, s.SetStaffDisabled(ctx, id, true))
		if _, ok, _ := s.NoticeStaff(ctx, "o-staff"); ok {
			t.Fatal("a disabled console account still counts as staff through users.role")
		}
	})
}
