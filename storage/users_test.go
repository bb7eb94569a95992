package storage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

var t0 = storagetest.Epoch

func TestTouchUser(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		// Pushes handled out of order: the latest interaction and the
		// earliest sighting win.
		for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(3 * time.Hour), t0, t0.Add(2 * time.Hour)} {
			storagetest.Must(t, s.TouchUser(ctx, "oUser1", at))
		}
		u, err := s.GetUser(ctx, "oUser1")
		if err != nil {
			t.Fatal(err)
		}
		if !u.FirstSeen.Equal(t0) || !u.LastInteraction.Equal(t0.Add(3*time.Hour)) {
			t.Errorf("first_seen %v last_interaction %v, want %v and %v", u.FirstSeen, u.LastInteraction, t0, t0.Add(3*time.Hour))
		}
		if u.Role != storage.RoleResident || u.Blocked || u.Subscribed || u.LastLat != nil || u.LastLocationAt != nil {
			t.Errorf("defaults wrong: %+v", u)
		}
	})
}

func TestUserUpdates(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		if _, err := s.GetUser(ctx, "oNobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUser(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.SetRole(ctx, "oNobody", storage.RoleStaff); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SetRole(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.SetBlocked(ctx, "oNobody", true); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SetBlocked(unknown) = %v, want ErrNotFound", err)
		}

		// Subscribing creates the user.
		storagetest.Must(t, s.SetSubscribed(ctx, "oSub", true, t0))
		storagetest.Must(t, s.SetLastLocation(ctx, "oSub", 31.2304, 121.4737, t0.Add(time.Minute)))
		storagetest.Must(t, s.SetRole(ctx, "oSub", storage.RoleVolunteer))
		storagetest.Must(t, s.SetBlocked(ctx, "oSub", true))
		// Setting the same value again still finds the row (matched, not changed).
		storagetest.Must(t, s.SetBlocked(ctx, "oSub", true))
		u, err := s.GetUser(ctx, "oSub")
		if err != nil {
			t.Fatal(err)
		}
		if !u.Subscribed || u.Role != storage.RoleVolunteer || !u.Blocked {
			t.Errorf("got %+v", u)
		}
		if u.LastLat == nil || *u.LastLat != 31.2304 || *u.LastLng != 121.4737 || !u.LastLocationAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("location %v,%v at %v", u.LastLat, u.LastLng, u.LastLocationAt)
		}
		// A location does not extend the customer-service window.
		if !u.LastInteraction.Equal(t0) {
			t.Errorf("last_interaction %v, want %v", u.LastInteraction, t0)
		}

		storagetest.Must(t, s.SetSubscribed(ctx, "oSub", false, t0.Add(time.Hour)))
		if u, _ := s.GetUser(ctx, "oSub"); u.Subscribed || !u.Blocked || u.Role != storage.RoleVolunteer {
			t.Errorf("after unsubscribe: %+v", u)
		}

		// A location from an unknown user creates them too.
		storagetest.Must(t, s.SetLastLocation(ctx, "oLoc", 22.5, 114.1, t0))
		if u, err := s.GetUser(ctx, "oLoc"); err != nil || u.LastLat == nil {
			t.Errorf("GetUser(oLoc) = %+v, %v", u, err)
		}

		if err := s.SetRole(ctx, "oSub", "admin"); err == nil {
			t.Error("SetRole(admin) succeeded")
		}
		if err := s.TouchUser(ctx, "", t0); err == nil {
			t.Error("TouchUser(\"\") succeeded")
		}
	})
}

// Openids are case-sensitive on both backends (utf8mb4_bin on MySQL).
func TestOpenIDCaseSensitive(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		storagetest.Must(t, s.TouchUser(ctx, "oAbC", t0))
		storagetest.Must(t, s.TouchUser(ctx, "oabc", t0.Add(time.Hour)))
		storagetest.Must(t, s.SetRole(ctx, "oabc", storage.RoleStaff))
		u, err := s.GetUser(ctx, "oAbC")
		if err != nil {
			t.Fatal(err)
		}
		if u.Role != storage.RoleResident || !u.LastInteraction.Equal(t0) {
			t.Errorf("oAbC was changed through oabc: %+v", u)
		}
	})
}

func TestMarkSeen(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		first, err := s.MarkSeen(ctx, "msg:123", t0)
		if err != nil || !first {
			t.Fatalf("first MarkSeen = %v, %v", first, err)
		}
		first, err = s.MarkSeen(ctx, "msg:123", t0.Add(time.Second))
		if err != nil || first {
			t.Fatalf("second MarkSeen = %v, %v", first, err)
		}
		if first, _ := s.MarkSeen(ctx, "MSG:123", t0); !first {
			t.Error("keys differing in case collided")
		}

		// Concurrent retries of one push: exactly one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				first, err := s.MarkSeen(ctx, "event:race", t0)
				if err != nil {
					t.Error(err)
				}
				if first {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d callers saw the key first, want 1", wins.Load())
		}

		n, err := s.PruneSeen(ctx, t0.Add(time.Millisecond))
		if err != nil || n != 3 {
			t.Errorf("PruneSeen = %d, %v; want 3", n, err)
		}
		if first, _ := s.MarkSeen(ctx, "msg:123", t0); !first {
			t.Error("pruned key still seen")
		}
		if _, err := s.MarkSeen(ctx, string(make([]byte, 129)), t0); err == nil {
			t.Error("over-long key accepted")
		}
	})
}

func TestAudit(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		storagetest.Must(t, s.AppendAudit(ctx, storage.AuditEntry{At: t0, Actor: "staff:li", Action: "view_reporter",
			SubjectType: "report", SubjectID: "42", Detail: "核实"}))
		storagetest.Must(t, s.AppendAudit(ctx, storage.AuditEntry{At: t0.Add(time.Second), Actor: "system", Action: "close",
			SubjectType: "report", SubjectID: "42"}))
		got, err := s.AuditFor(ctx, "report", "42")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Actor != "staff:li" || got[0].Detail != "核实" || got[1].Action != "close" {
			t.Errorf("got %+v", got)
		}
		if err := s.AppendAudit(ctx, storage.AuditEntry{Action: "x"}); err == nil {
			t.Error("entry without actor accepted")
		}
	})
}
