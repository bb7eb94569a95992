package benchkit

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"hazardbot/bot/wechattest"
)

// BareReply is the fixed answer of variant (a): a valid passive text reply.
const BareReply = "<xml><ToUserName><![CDATA[oBenchResident]]></ToUserName>" +
	"<FromUserName><![CDATA[" + wechattest.DefaultAccount + "]]></FromUserName>" +
	"<CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>" +
	"<Content><![CDATA[ok]]></Content></xml>"

// Signature is WeChat's push signature with crypto/sha1 alone.
func Signature(token, timestamp, nonce string) string {
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// BareHandler is bench/webhook's ceiling: read the body, check the signature
// and the timestamp's freshness, answer fixed XML.
func BareHandler(token string) http.Handler {
	reply := []byte(BareReply)
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
		if subtle.ConstantTimeCompare([]byte(Signature(token, ts, nonce)), []byte(q.Get("signature"))) != 1 {
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

// ServeBare runs the bare handler in this (child) process with hazardbot's
// server timeouts until SIGTERM, logging its address as hazardbot does.
func ServeBare(addr, token string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "level=INFO msg=\"bare listening\" addr=%s\n", ln.Addr())
	srv := &http.Server{
		Handler:           BareHandler(token),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
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
}
