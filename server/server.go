// Package server assembles hazardbot from its Config: storage, sessions,
// content, the dialog engine, the WeChat webhook and client, the background
// worker and the HTTP routes. cmd/hazardbot and the end-to-end tests both
// build the product through it, so the tests run what ships.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"hazardbot"
	"hazardbot/bot"
	"hazardbot/bot/wechattest"
	"hazardbot/console"
	"hazardbot/content"
	"hazardbot/dialogs"
	"hazardbot/jobs"
	"hazardbot/metrics"
	"hazardbot/notices"
	"hazardbot/rewards"
	"hazardbot/storage"
)

// Server is a running hazardbot's parts.
type Server struct {
	Config   Config
	Log      *slog.Logger
	Store    *storage.Store
	Sessions storage.Sessions
	Engine   *dialogs.Engine
	Webhook  *bot.Webhook
	WeChat   *bot.Client
	Worker   *jobs.Worker
	Metrics  *metrics.Metrics
	Console  *console.Console
	// Notices delivers notices and warnings; NoticeDesk is what staff do with them.
	Notices    *notices.Dispatcher
	NoticeDesk *notices.Service
	// FakeAPI is the built-in fake WeChat API in demo mode, else nil.
	FakeAPI *wechattest.API

	now     func() time.Time
	content atomic.Pointer[content.Content]
	redis   *redis.Client
	mux     *http.ServeMux
}

// Options are what tests inject.
type Options struct {
	Now      func() time.Time // the clock; default time.Now
	Sessions storage.Sessions // overrides the store chosen by Config
	Store    *storage.Store   // overrides the database chosen by Config
	Log      *slog.Logger     // default: discard
	Timeout  time.Duration    // passive-reply deadline; default 4.5 s
}

// New builds a server. Close releases what it opened.
func New(ctx context.Context, cfg Config, opt Options) (*Server, error) {
	s := &Server{Config: cfg, Log: opt.Log, now: opt.Now}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	c, err := content.Load(cfg.ContentDir)
	if err != nil {
		return nil, fmt.Errorf("content (HAZARDBOT_CONTENT_DIR=%q):\n%w", cfg.ContentDir, err)
	}
	s.content.Store(c)

	s.Store = opt.Store
	if s.Store == nil {
		if s.Store, err = storage.Open(ctx, cfg.DB, cfg.DataDir); err != nil {
			return nil, err
		}
		if err := s.Store.Migrate(ctx); err != nil {
			s.Store.Close()
			return nil, err
		}
	}
	s.Sessions = opt.Sessions
	if s.Sessions == nil {
		if cfg.RedisURL != "" {
			ro, err := redis.ParseURL(cfg.RedisURL)
			if err != nil {
				return nil, err
			}
			s.redis = redis.NewClient(ro)
			s.Sessions = storage.NewRedisSessions(s.redis, "hb:")
		} else {
			s.Sessions = storage.NewMemorySessions(s.now)
		}
	}

	s.WeChat = bot.NewClient(cfg.AppID, cfg.AppSecret, cfg.APIBase, s.Sessions, s.Log)
	s.Engine = &dialogs.Engine{
		Sessions: s.Sessions,
		Content:  s.Content,
		Now:      s.now,
		Log:      s.Log,
		Idle:     cfg.IdleTimeout,
		Drafts:   s.Store,
	}
	s.Engine.AddBasics()
	if s.Console, err = console.New(console.Options{Store: s.Store, Sessions: s.Sessions, Content: s.Content,
		Lifecycle: hazardbot.Lifecycle{Deadlines: cfg.Deadlines}, DataDir: cfg.DataDir, Now: s.now, Log: s.Log,
		Kick: func() { s.Worker.Kick() }, PublicURL: cfg.PublicURL, WeChat: s.WeChat, Undeliverable: bot.Undeliverable,
		DigestTemplate: cfg.TemplateDigest}); err != nil {
		return nil, err
	}
	s.Console.AddEducation(s.Store, s.ReloadContent)
	s.Console.AddChatRoutes(s.Engine) // 绑定 <code> before any other free-text route
	// Before the reports: a question about a danger gets its article.
	s.Engine.AddEducation(dialogs.Education{Store: s.Store, Awards: s.Store, BaseURL: cfg.PublicURL, Community: s.residentCommunity})
	s.Engine.AddVolunteers(s.Store)
	s.Engine.AddPoints(s.Store)
	s.wireNotices()
	s.Engine.AddReports(s.Store, cfg.DailyCap)

	s.Webhook = &bot.Webhook{
		Token: cfg.Token, AppID: cfg.AppID, AESKey: cfg.AESKey,
		Dialogs: s.Engine, Users: s.Store, Outbox: kickingOutbox{s}, KV: s.Sessions,
		Now: s.now, Log: s.Log, Timeout: opt.Timeout, Busy: c.Messages.Busy,
	}
	photos := &bot.Photos{Client: s.WeChat, Store: s.Store, DataDir: cfg.DataDir, Content: s.Content, Now: s.now}
	notifier := &bot.Notifier{Client: s.WeChat, Store: s.Store, Content: s.Content, Now: s.now,
		TemplateID: cfg.TemplateStatus, Fields: cfg.TemplateFields, PublicURL: cfg.PublicURL}
	// The points rules: a verified report's points, holds that expire.
	points := &rewards.Service{Store: s.Store, Content: s.Content, Now: s.now, Log: s.Log, TextJob: bot.KindCustomText}
	s.Worker = &jobs.Worker{
		Store: s.Store,
		Now:   s.now,
		Log:   s.Log,
		Handlers: map[string]jobs.Handler{
			bot.KindCustomText:             s.WeChat.HandleCustomText,
			hazardbot.JobFetchPhoto:        photos.Handle,
			hazardbot.JobFetchCheckInPhoto: photos.HandleCheckIn(s.Store),
			hazardbot.JobNotifyStatus:      notifier.Handle,
			console.JobOverdueSweep:        s.Console.HandleSweep,
			console.JobDigest:              s.Console.HandleDigest,

			hazardbot.JobReportVerified: points.HandleReportVerified,
			hazardbot.JobExpireHold:     points.HandleExpireHold,
		},
		OnDead: func(ctx context.Context, job storage.Job, cause error) {
			if job.Kind == hazardbot.JobFetchPhoto {
				if err := photos.Lost(ctx, job); err != nil {
					s.Log.Error("cannot record a lost photo", "job", job.ID, "err", err)
				}
			}
		},
	}

	s.Console.Rewards = points // its points pages tell residents too
	s.mux = http.NewServeMux()
	s.mux.Handle("/console/", s.Console)
	s.mux.Handle("/wechat", s.Webhook)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /k/{id}", s.knowledgePage)
	s.mountNotices()
	if cfg.Demo {
		s.FakeAPI = wechattest.NewAPI(cfg.AppID, cfg.AppSecret)
		s.FakeAPI.NoWindow = true
		s.mux.Handle(FakePrefix+"/", http.StripPrefix(FakePrefix, s.FakeAPI))
	}
	if err := s.wireEcosystem(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ReloadContent reads the content files again and puts them in force; on
// any problem the content in force stays and the problems are returned.
func (s *Server) ReloadContent() error {
	c, err := content.Load(s.Config.ContentDir)
	if err != nil {
		return err
	}
	s.content.Store(c)
	s.Log.Info("content reloaded", "questions", len(c.Quiz), "articles", len(c.Knowledge))
	return nil
}

// Content is the content in force.
func (s *Server) Content() *content.Content { return s.content.Load() }

// Handler is every HTTP route.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if err := s.Sessions.Ping(ctx); err != nil {
		http.Error(w, "session store unreachable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Serve listens until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight pushes and their background work finish, and
// stops the worker.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	s.Webhook.BaseContext = base
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	workerCtx, stopWorker := context.WithCancel(base)
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		s.Worker.Run(workerCtx, time.Second)
	}()
	go s.Console.RunSweeps(workerCtx) // overdue marking and the daily digest to staff
	noticesDone := s.runNotices(workerCtx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopWorker()
		<-workerDone
		<-noticesDone
		return err
	case <-ctx.Done():
	}
	s.Log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(base, 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	s.Webhook.Wait()
	stopWorker()
	<-workerDone
	<-noticesDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the database and Redis connections.
func (s *Server) Close() error {
	var errs []error
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	return errors.Join(errs...)
}

// kickingOutbox wakes the worker after each enqueue so replies leave at once
// instead of at the next poll.
type kickingOutbox struct{ s *Server }

func (o kickingOutbox) Enqueue(ctx context.Context, kind, key string, payload any, runAt time.Time) error {
	err := o.s.Store.Enqueue(ctx, kind, key, payload, runAt)
	if err == nil {
		o.s.Worker.Kick()
	}
	return err
}
