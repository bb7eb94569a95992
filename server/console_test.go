package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// staffPassword is every test staff member's password.
const staffPassword = "Tianshui2025x"

// addStaff creates a console user with a cheap hash, as tests need speed
// and not strength.
func addStaff(t *testing.T, st *storage.Store, s storage.Staff) storage.Staff {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(staffPassword), bcrypt.MinCost)
	storagetest.Must(t, err)
	s.PasswordHash = hash
	s.ID, err = st.CreateStaff(context.Background(), s, time.Now())
	storagetest.Must(t, err)
	return s
}

func TestStaffBindWeChatAndGetTheOverdueDigest(t *testing.T) {
	backends(t, func(t *testing.T, st *storage.Store, ss func(*storagetest.Clock) storage.Sessions) {
		ctx := context.Background()
		e := newEnv(t, st, ss, func(c *Config, o *Options) { c.TemplateStatus = "TPL-STATUS"; c.TemplateDigest = "TPL-DIGEST" })
		// 08:00 in Shanghai: before the digest's hour.
		e.clock.Set(time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC))
		storagetest.Must(t, e.srv.Console.StartSweeps(ctx)) // what Serve's ticker does
		donghu := addStaff(t, st, storage.Staff{Username: "donghu", Role: hazardbot.RoleCommunity, CommunityID: "c1"})
		jiedao := addStaff(t, st, storage.Staff{Username: "jiedao", Role: hazardbot.RoleStreet})
		storagetest.Must(t, st.SetBindCode(ctx, donghu.ID, "246810", e.clock.Now().Add(10*time.Minute), e.clock.Now()))

		staff := e.resident("o-staff-donghu", false)
		contains(t, staff.say("绑定 135790"), "绑定码不正确或已过期")
		contains(t, staff.say("绑定２４６８１０"), "绑定成功", "donghu", "社区工作人员") // full-width digits too
		contains(t, staff.say("绑定 246810"), "绑定码不正确")
		for range 3 {
			staff.say("绑定 000000")
		}
		contains(t, staff.say("绑定 246810"), "尝试次数太多")
		if got, err := st.StaffByOpenID(ctx, "o-staff-donghu"); err != nil || got.ID != donghu.ID {
			t.Fatalf("bound staff %+v %v", got, err)
		}
		if u, _ := st.GetUser(ctx, "o-staff-donghu"); u.Role != storage.RoleStaff {
			t.Fatalf("the bound account's role is %q", u.Role)
		}

		// A red hazard assigned to 东湖社区 runs past its 24 hours.
		r := e.resident("o-digest-reporter", false)
		ticket := fileReport(t, r, 3)
		c, err := st.CaseByTicket(ctx, ticket)
		storagetest.Must(t, err)
		var lc hazardbot.Lifecycle
		for _, step := range []struct {
			who hazardbot.Actor
			in  hazardbot.ActionInput
		}{
			{hazardbot.Actor{Username: "donghu", Role: hazardbot.RoleCommunity, CommunityID: "c1"},
				hazardbot.ActionInput{Action: hazardbot.ActVerify, Risk: hazardbot.RiskRed, Category: "fire"}},
			{hazardbot.Actor{Username: "jiedao", Role: hazardbot.RoleStreet},
				hazardbot.ActionInput{Action: hazardbot.ActAssign, AssigneeType: hazardbot.AssignCommunity, AssigneeID: "c1",
					AssigneeName: "东湖社区", AssigneeCommunity: "c1"}},
		} {
			tr, err := lc.Plan(c, step.who, step.in, e.clock.Now())
			storagetest.Must(t, err)
			_, err = st.ApplyTransition(ctx, tr, nil)
			storagetest.Must(t, err)
			c, _ = st.Case(ctx, c.ID)
		}
		e.drain()
		if sent := e.api.Sent("o-staff-donghu"); len(sent) != 0 {
			t.Fatalf("a digest before anything is overdue: %+v", sent)
		}

		// The next day at 09:00 the sweep marks it overdue and donghu, who
		// wrote within 48 hours, gets the digest as a customer-service text.
		e.clock.Set(time.Date(2025, 3, 15, 1, 0, 0, 0, time.UTC))
		storagetest.Must(t, e.srv.Console.StartSweeps(ctx)) // what Serve's ticker does
		e.drain()
		c, _ = st.Case(ctx, c.ID)
		if !c.Overdue {
			t.Fatalf("case not overdue: deadline %v", c.Deadline)
		}
		sent := e.api.Sent("o-staff-donghu")
		if len(sent) != 1 || sent[0].Kind != "custom" || !strings.Contains(sent[0].Text, "逾期隐患提醒") ||
			!strings.Contains(sent[0].Text, ticket) || !strings.Contains(sent[0].Text, "东湖社区") {
			t.Fatalf("digest %+v", sent)
		}
		e.clock.Advance(2 * time.Hour)
		storagetest.Must(t, e.srv.Console.StartSweeps(ctx))
		e.drain()
		if n := len(e.api.Sent("o-staff-donghu")); n != 1 {
			t.Fatalf("%d digests on one day", n)
		}
		digests, _ := st.Digests(ctx, "2025-03-15")
		if len(digests) != 1 || digests[0].StaffID != donghu.ID || digests[0].Outcome != "sent" || digests[0].Channel != "custom" || digests[0].Cases != 1 {
			t.Fatalf("digest records %+v (street staff %d is unbound)", digests, jiedao.ID)
		}

		// Three days on, the window has closed: the template goes out.
		e.clock.Set(time.Date(2025, 3, 18, 1, 0, 0, 0, time.UTC))
		storagetest.Must(t, e.srv.Console.StartSweeps(ctx))
		e.drain()
		sent = e.api.Sent("o-staff-donghu")
		last := sent[len(sent)-1]
		if len(sent) != 2 || last.Kind != "template" || last.TemplateID != "TPL-DIGEST" || last.Data["character_string1"] != "1件" {
			t.Fatalf("template digest %+v", sent)
		}
	})
}
