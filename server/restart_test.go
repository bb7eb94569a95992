package server

import (
	"context"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// restart builds a second server on the same database and session store, as
// after a deploy or a crash, and points the resident's pushes at it.
func (e *env) restart(st *storage.Store, ss storage.Sessions) *env {
	e.t.Helper()
	e.http.Close()
	e.srv.Webhook.Wait()
	srv, err := New(context.Background(), e.srv.Config, Options{Now: e.clock.Now, Store: st, Sessions: ss})
	if err != nil {
		e.t.Fatal(err)
	}
	next := *e
	next.srv = srv
	next.http = newHTTP(e.t, srv)
	return &next
}

func TestRestartMidReportWithRedisSessions(t *testing.T) {
	redis := storagetest.NewRedis(t) // skips without HAZARDBOT_TEST_REDIS
	st := storagetest.OpenSQLite(t)
	e := newEnv(t, st, func(*storagetest.Clock) storage.Sessions { return redis })
	r := e.resident("o-restart", false)
	r.transcript(t, []step{{"上报", nil}, {"1", nil}, {"消防通道被杂物堵塞", []string{"请拍照"}}, {"<photo>", []string{"已收到第1张"}}})

	// A worker claims the photo download and dies before finishing it.
	if _, err := st.ClaimJobs(context.Background(), e.clock.Now(), 10, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	e2 := e.restart(st, redis)
	r2 := e2.resident(r.id, false)
	r2.transcript(t, []step{
		{"<photo>", []string{"已收到第2张"}}, // the draft survived the restart
		{"完成", []string{"请发送隐患位置"}},
		{"<inside>", []string{"留个手机号"}},
		{"匿名", []string{"照片：2张"}},
		{"确认", []string{"已提交"}},
	})
	// No report yet has the first photo stored; its job's lease runs out
	// and the new worker takes it over.
	e2.clock.Advance(3 * time.Minute)
	e2.drain()
	reps, _ := st.ReportsFor(context.Background(), r.id, 1)
	full, _ := st.Report(context.Background(), reps[0].ID)
	for _, p := range full.Photos {
		if p.Status != hazardbot.PhotoStored {
			t.Fatalf("photo %d after restart: %s", p.Seq, p.Status)
		}
	}
	if calls := len(e.api.CallsTo("/cgi-bin/media/get")); calls != 2 {
		t.Fatalf("media downloaded %d times, want 2", calls)
	}
}

func TestRestartWithInProcessSessionsLosesOnlyTheDraft(t *testing.T) {
	st := storagetest.OpenSQLite(t)
	e := newEnv(t, st, memSessions)
	r := e.resident("o-restart-mem", false)
	fileReport(t, r, 3)
	r.transcript(t, []step{{"上报", nil}, {"1", []string{"请用一两句话描述"}}})
	e2 := e.restart(st, storage.NewMemorySessions(e.clock.Now))
	r2 := e2.resident(r.id, false)
	// Documented behaviour: in-process sessions hold drafts in memory, so a
	// restart forgets an unfinished draft — the resident is told so, once;
	// submitted reports are in the database and stay.
	r2.transcript(t, []step{{"我的上报", []string{"YH-"}}, {"楼道堆满了杂物", []string{"没能保存下来", "需要重新开始"}},
		{"嗯嗯", []string{"没太明白"}}})
}
