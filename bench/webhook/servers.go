package main

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"hazardbot/bot/wechattest"
	"hazardbot/server"
)

// bareReply is the fixed answer of variant (a): a valid passive text reply.
const bareReply = "<xml><ToUserName><![CDATA[oBenchResident]]></ToUserName>" +
	"<FromUserName><![CDATA[" + wechattest.DefaultAccount + "]]></FromUserName>" +
	"<CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>" +
	"<Content><![CDATA[ok]]></Content></xml>"

// signature is WeChat's push signature, written out with crypto/sha1 so the
// bare handler depends on nothing of the project's.
func signature(token, timestamp, nonce string) string {
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// bareHandler is the ceiling: what any WeChat webhook must do at least —
// read the body, check the signature and the timestamp's freshness — and a
// fixed XML answer.
func bareHandler(token string) http.Handler {
	reply := []byte(bareReply)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		q := r.URL.Query()
		ts, nonce := q.Get("timestamp"), q.Get("nonce")
		if subtle.ConstantTimeCompare([]byte(signature(token, ts, nonce)), []byte(q.Get("signature"))) != 1 {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if d := time.Since(time.Unix(sec, 0)); err != nil || d > 5*time.Minute || d < -5*time.Minute {
			http.Error(w, "stale timestamp", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		_, _ = w.Write(reply)
	})
}

// serveLabelled runs serve in a goroutine whose labels every goroutine it
// starts inherits, so `go tool pprof -tagfocus side=server` separates the
// server's CPU from the generator's.
func serveLabelled(name string, serve func(ctx context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go pprof.Do(ctx, pprof.Labels("side", "server", "variant", name), func(ctx context.Context) {
		errc <- serve(ctx)
	})
	return func() error {
		cancel()
		return <-errc
	}
}

// startBare starts variant (a) with the same server timeouts as hazardbot.
func startBare(token string) (host string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           bareHandler(token),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	stop = serveLabelled("a", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return ln.Addr().String(), stop, nil
}

// hazardbot is variant (b) or (c): the product as cmd/hazardbot builds it.
type hazardbot struct {
	srv  *server.Server
	host string
	stop func() error
	dir  string
}

// startHazardbot builds hazardbot through server.New with SQLite in a fresh
// temporary directory, sessions in-process (redisURL "") or on Redis, demo
// credentials in plaintext mode, a silent logger, and apiBase as the WeChat
// API so that nothing leaves the machine.
func startHazardbot(ctx context.Context, name, redisURL, apiBase string) (*hazardbot, error) {
	dir, err := os.MkdirTemp("", "hazardbot-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	cfg := server.Config{
		Addr:        "127.0.0.1:0",
		DataDir:     dir,
		RedisURL:    redisURL,
		LogFormat:   "text",
		AppID:       server.DemoAppID,
		AppSecret:   server.DemoSecret,
		Token:       server.DemoToken,
		AESKey:      server.DemoAESKey, // set as in demo mode; the pushes are plaintext
		APIBase:     apiBase,
		IdleTimeout: 30 * time.Minute,
	}
	srv, err := server.New(ctx, cfg, server.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = srv.Sessions.Ping(pctx)
	cancel()
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("session store: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	h := &hazardbot{srv: srv, host: ln.Addr().String(), dir: dir}
	h.stop = serveLabelled(name, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	return h, nil
}

func (h *hazardbot) close() error {
	err := h.stop()
	err = errors.Join(err, h.srv.Close())
	return errors.Join(err, os.RemoveAll(h.dir))
}

// runtimeDelta is what the Go runtime did during a round.
type runtimeDelta struct {
	allocBytes, allocObjects uint64
	gcCPU                    float64 // seconds, the runtime's estimate
}

var runtimeSamples = []metrics.Sample{
	{Name: "/gc/heap/allocs:bytes"},
	{Name: "/gc/heap/allocs:objects"},
	{Name: "/cpu/classes/gc/total:cpu-seconds"},
}

func readRuntime() runtimeDelta {
	s := slices.Clone(runtimeSamples)
	metrics.Read(s)
	var d runtimeDelta
	if s[0].Value.Kind() == metrics.KindUint64 {
		d.allocBytes = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		d.allocObjects = s[1].Value.Uint64()
	}
	if s[2].Value.Kind() == metrics.KindFloat64 {
		d.gcCPU = s[2].Value.Float64()
	}
	return d
}

func (d runtimeDelta) sub(o runtimeDelta) runtimeDelta {
	return runtimeDelta{d.allocBytes - o.allocBytes, d.allocObjects - o.allocObjects, d.gcCPU - o.gcCPU}
}

// redisCPU returns a reader of the Redis server's used_cpu_sys + used_cpu_user
// (the whole server: other clients of the same Redis count too).
func redisCPU(c *redis.Client) func() time.Duration {
	return func() time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return 0
		}
		var total float64
		for _, line := range strings.Split(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
			}
		}
		return time.Duration(total * float64(time.Second))
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
