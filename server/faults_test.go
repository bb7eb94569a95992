package server

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/bot"
	"hazardbot/bot/wechattest"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// proxy stands between hazardbot and MariaDB or Redis so a test can take
// the service away: cut (connections refused and dropped, as when the
// server is down) or hang (bytes stop flowing, as when a network drops
// packets).
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   bool
	hang   chan struct{} // closed while flowing
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, hang: make(chan struct{})}
	close(p.hang)
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	down := p.down
	if !down {
		p.conns = append(p.conns, c)
	}
	p.mu.Unlock()
	if down {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			p.mu.Lock()
			gate := p.hang
			p.mu.Unlock()
			<-gate
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(up, c)
	go pipe(c, up)
}

// cut drops every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// stall stops bytes flowing on every connection until restore.
func (p *proxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hang = make(chan struct{})
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
	select {
	case <-p.hang:
	default:
		close(p.hang)
	}
}

// timed pushes a text and fails the test unless the answer came within
// WeChat's deadline.
func (r *resident) timed(t *testing.T, text string) string {
	t.Helper()
	start := time.Now()
	got := r.say(text)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("%q answered after %v", text, d)
	}
	return got
}

// mysqlThrough opens a fresh MariaDB database reached through a proxy.
func mysqlThrough(t *testing.T) (*storage.Store, *proxy) {
	t.Helper()
	_, dsn := storagetest.OpenMySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	storagetest.Must(t, err)
	p := newProxy(t, cfg.Addr)
	cfg.Addr = p.addr()
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 3*time.Second, 3*time.Second
	st, err := storage.Open(context.Background(), cfg.FormatDSN(), "")
	storagetest.Must(t, err)
	t.Cleanup(func() { st.Close() })
	return st, p
}

func TestMariaDBUnreachable(t *testing.T) {
	st, db := mysqlThrough(t)
	redisSessions := storagetest.NewRedis(t)
	e := newEnv(t, st, func(*storagetest.Clock) storage.Sessions { return redisSessions })
	r := e.resident("o-dbdown", false)
	r.transcript(t, []step{{"上报", nil}, {"1", nil}})

	for _, fault := range []struct {
		name  string
		apply func()
	}{{"refused", db.cut}, {"hanging", db.stall}} {
		t.Run(fault.name, func(t *testing.T) {
			fault.apply()
			// Steps that need no database go on from the session store.
			contains(t, r.timed(t, "消防通道被三轮车堵住了"), "请拍照")
			contains(t, r.timed(t, "跳过"), "请发送隐患位置")
			// The duplicate check needs the database: a friendly busy answer
			// in time, and the draft stays where it was.
			got := r.push(wechattest.Location(r.id, insideLat, insideLng, "东湖路18号"))
			contains(t, got, "系统有点忙")
			db.restore()
			contains(t, r.push(wechattest.Location(r.id, insideLat, insideLng, "东湖路18号")), "留个手机号")
			contains(t, r.timed(t, "匿名"), "请核对")
			contains(t, r.say("取消"), "已取消")
			r.transcript(t, []step{{"上报", nil}, {"1", nil}})
		})
	}
	// Queued work resumes when the database is back.
	db.cut()
	if _, err := e.srv.Worker.RunOnce(context.Background()); err == nil {
		t.Log("worker found nothing to do while the database was down")
	}
	db.restore()
	contains(t, r.say("楼道杂物堆积"), "请拍照")
	contains(t, r.push(r.photo(1)), "已收到第1张")
	r.transcript(t, []step{{"完成", nil}, {"<inside>", nil}, {"匿名", nil}, {"确认", []string{"已提交"}}})
	e.drain()
	reps, _ := st.ReportsFor(context.Background(), r.id, 1)
	full, _ := st.Report(context.Background(), reps[0].ID)
	if full.Photos[0].Status != hazardbot.PhotoStored {
		t.Fatalf("photo %+v", full.Photos[0])
	}
}

func TestRedisRestartedMidConversation(t *testing.T) {
	u, err := url.Parse(envOr(storagetest.EnvRedis))
	if err != nil || u.Host == "" {
		t.Skip("HAZARDBOT_TEST_REDIS not set")
	}
	p := newProxy(t, u.Host)
	opts, _ := redis.ParseURL(envOr(storagetest.EnvRedis))
	opts.Addr = p.addr()
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries = time.Second, time.Second, time.Second, 0
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	prefix := "hbfault:" + strings.ReplaceAll(t.Name(), "/", ":") + ":" + time.Now().Format("150405.000000") + ":"
	ss := storage.NewRedisSessions(client, prefix)
	wipe := func() {
		direct := redis.NewClient(&redis.Options{Addr: u.Host})
		defer direct.Close()
		keys, _ := direct.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			direct.Del(context.Background(), keys...)
		}
	}
	t.Cleanup(wipe)
	st := storagetest.OpenSQLite(t)
	e := newEnv(t, st, func(*storagetest.Clock) storage.Sessions { return ss })
	r := e.resident("o-redis-restart", false)
	ticket := fileReport(t, r, 3)
	r.transcript(t, []step{{"上报", nil}, {"1", nil}, {"电动车在楼道里充电", []string{"请拍照"}}})

	p.cut() // Redis goes down: the resident is told plainly, in time
	contains(t, r.timed(t, "跳过"), "系统有点忙")
	wipe() // it comes back empty, as Redis without persistence does
	p.restore()
	r.transcript(t, []step{
		{"跳过", []string{"没能保存下来", "需要重新开始"}},
		{"我的上报", []string{ticket}}, // nothing submitted is lost
		{"上报", []string{"请选择隐患类别"}},
	})
}

func envOr(k string) string { return strings.TrimSpace(os.Getenv(k)) }

func TestWeChatAPIDownJobsBackOffAndResume(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), memSessions)
	r := e.resident("o-apidown", false)
	ticket := fileReport(t, r, 3)
	e.api.Fail("/cgi-bin/media/get", bot.ErrBusy, 3)
	e.api.Fail("/cgi-bin/message/custom/send", bot.ErrFrequency, 2)
	rep, _ := e.srv.Store.ReportByTicket(context.Background(), ticket)
	_, err := e.srv.Store.ChangeStatus(context.Background(), storage.StatusChange{ReportID: rep.ID, From: hazardbot.StatusPending,
		To: hazardbot.StatusVerified, Actor: "staff:test", Public: true, At: e.clock.Now()})
	storagetest.Must(t, err)
	e.drain() // the failures are retried later, not now
	if n := len(e.api.Sent(r.id)); n != 0 {
		t.Fatalf("sent %d while WeChat was failing", n)
	}
	for range 6 {
		e.clock.Advance(10 * time.Minute)
		e.drain()
	}
	if sent := e.api.Sent(r.id); len(sent) != 1 || !strings.Contains(sent[0].Text, "已核实") {
		t.Fatalf("after WeChat recovered: %+v", sent)
	}
	full, _ := e.srv.Store.Report(context.Background(), rep.ID)
	for _, p := range full.Photos {
		if p.Status != hazardbot.PhotoStored {
			t.Fatalf("photo %+v", p)
		}
	}
}
