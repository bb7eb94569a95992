package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func TestStaffAccountsSessionsAndBinding(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		now := caseNow
		hash := []byte("$2a$04$abcdefghijklmnopqrstuv")
		id, err := s.CreateStaff(ctx, storage.Staff{Username: "donghu", Name: "东湖社区 李四", PasswordHash: hash,
			Role: hazardbot.RoleCommunity, CommunityID: "c1"}, now)
		storagetest.Must(t, err)
		if _, err := s.CreateStaff(ctx, storage.Staff{Username: "donghu", PasswordHash: hash, Role: hazardbot.RoleViewer}, now); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("same username again: %v", err)
		}
		if _, err := s.CreateStaff(ctx, storage.Staff{Username: "x", PasswordHash: hash, Role: hazardbot.RoleStreet, CommunityID: "c1"}, now); err == nil {
			t.Fatal("street staff with a community accepted")
		}
		st, err := s.StaffByUsername(ctx, "donghu")
		storagetest.Must(t, err)
		if st.ID != id || st.Role != hazardbot.RoleCommunity || string(st.PasswordHash) != string(hash) || !st.LockedUntil.IsZero() || st.OpenID != "" {
			t.Fatalf("staff %+v", st)
		}

		// Five failures in a row lock the account; a success clears the count.
		for i := 1; i <= 5; i++ {
			locked, err := s.RecordLoginFailure(ctx, id, now, 5, 15*time.Minute)
			storagetest.Must(t, err)
			if locked != (i == 5) {
				t.Fatalf("failure %d: locked %v", i, locked)
			}
		}
		st, _ = s.StaffByID(ctx, id)
		if !st.LockedUntil.Equal(now.Add(15*time.Minute)) || st.FailedLogins != 0 {
			t.Fatalf("after 5 failures %+v", st)
		}
		storagetest.Must(t, s.RecordLogin(ctx, id, now.Add(time.Hour)))
		st, _ = s.StaffByID(ctx, id)
		if !st.LockedUntil.IsZero() || !st.LastLoginAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("after login %+v", st)
		}

		storagetest.Must(t, s.CreateSession(ctx, "hash-1", id, "csrf-1", now))
		sess, who, err := s.Session(ctx, "hash-1")
		storagetest.Must(t, err)
		if who.ID != id || sess.CSRF != "csrf-1" || !sess.LastSeen.Equal(now) {
			t.Fatalf("session %+v %+v", sess, who)
		}
		storagetest.Must(t, s.TouchSession(ctx, "hash-1", now.Add(time.Hour)))
		if sess, _, _ = s.Session(ctx, "hash-1"); !sess.LastSeen.Equal(now.Add(time.Hour)) {
			t.Fatalf("touched %+v", sess)
		}
		// A new password ends every session.
		storagetest.Must(t, s.SetStaffPassword(ctx, id, []byte("$2a$04$new")))
		if _, _, err := s.Session(ctx, "hash-1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("session after password change: %v", err)
		}
		storagetest.Must(t, s.CreateSession(ctx, "hash-2", id, "csrf-2", now))
		if n, err := s.PruneSessions(ctx, now.Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v", n, err)
		}

		// Binding: the code works once, within its time, for one account.
		other, err := s.CreateStaff(ctx, storage.Staff{Username: "jiedao", PasswordHash: hash, Role: hazardbot.RoleStreet}, now)
		storagetest.Must(t, err)
		storagetest.Must(t, s.SetBindCode(ctx, id, "111111", now.Add(10*time.Minute), now))
		if err := s.SetBindCode(ctx, other, "111111", now.Add(10*time.Minute), now); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("a code held twice: %v", err)
		}
		if _, err := s.BindWeChat(ctx, "111111", "o-lisi", now.Add(11*time.Minute)); !errors.Is(err, storage.ErrBindCode) {
			t.Fatalf("expired code: %v", err)
		}
		bound, err := s.BindWeChat(ctx, "111111", "o-lisi", now.Add(time.Minute))
		storagetest.Must(t, err)
		if bound.ID != id || bound.OpenID != "o-lisi" {
			t.Fatalf("bound %+v", bound)
		}
		if _, err := s.BindWeChat(ctx, "111111", "o-lisi", now.Add(time.Minute)); !errors.Is(err, storage.ErrBindCode) {
			t.Fatalf("code used twice: %v", err)
		}
		storagetest.Must(t, s.SetBindCode(ctx, other, "222222", now.Add(10*time.Minute), now))
		if _, err := s.BindWeChat(ctx, "222222", "o-lisi", now); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("one WeChat account for two staff: %v", err)
		}
		if st, err := s.StaffByOpenID(ctx, "o-lisi"); err != nil || st.ID != id {
			t.Fatalf("by openid %+v %v", st, err)
		}
		storagetest.Must(t, s.UnbindWeChat(ctx, id))
		if _, err := s.StaffByOpenID(ctx, "o-lisi"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after unbinding: %v", err)
		}
		storagetest.Must(t, s.UpdateStaff(ctx, id, "李四", hazardbot.RoleViewer, ""))
		storagetest.Must(t, s.SetStaffDisabled(ctx, id, true))
		st, _ = s.StaffByID(ctx, id)
		if !st.Disabled || st.Role != hazardbot.RoleViewer || st.Name != "李四" {
			t.Fatalf("updated %+v", st)
		}
		if err := s.UnlockStaff(ctx, 999); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown staff: %v", err)
		}
		all, err := s.ListStaff(ctx)
		storagetest.Must(t, err)
		if len(all) != 2 || all[0].Username != "donghu" {
			t.Fatalf("list %+v", all)
		}
	})
}
