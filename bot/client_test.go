package bot_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"hazardbot/bot"
	"hazardbot/bot/wechattest"
	"hazardbot/jobs"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func fakeWeChat(t *testing.T, clock *storagetest.Clock) (*wechattest.API, string) {
	t.Helper()
	api := wechattest.NewAPI("wxapp", "secret")
	api.SetNow(clock.Now)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, srv.URL
}

func TestInstancesShareOneAccessToken(t *testing.T) {
	storagetest.Sessions(t, func(t *testing.T, ss storage.Sessions, clock *storagetest.Clock) {
		api, base := fakeWeChat(t, clock)
		api.Interacted("o1", clock.Now())
		// Three instances on one session store, sending at once.
		var wg sync.WaitGroup
		for range 3 {
			c := bot.NewClient("wxapp", "secret", base, ss, slog.New(slog.DiscardHandler))
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c.Token(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		if n := api.TokenFetches(); n != 1 {
			t.Fatalf("token fetched %d times, want once", n)
		}
	})
}

func TestInvalidTokenIsRefreshedOnceAndRetried(t *testing.T) {
	clock := storagetest.NewClock(time.Now())
	api, base := fakeWeChat(t, clock)
	ss := storage.NewMemorySessions(clock.Now)
	c := bot.NewClient("wxapp", "secret", base, ss, slog.New(slog.DiscardHandler))
	api.Interacted("o1", clock.Now())
	if err := c.SendText(context.Background(), "o1", "第一条"); err != nil {
		t.Fatal(err)
	}
	api.ExpireTokens() // 42001 on the next call
	if err := c.SendText(context.Background(), "o1", "第二条"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := api.TokenFetches(); n != 2 {
		t.Fatalf("token fetched %d times, want 2", n)
	}
	api.Fail("/cgi-bin/message/custom/send", bot.ErrInvalidToken, 2) // refreshed once only
	err := c.SendText(context.Background(), "o1", "第三条")
	if bot.ErrCode(err) != bot.ErrInvalidToken {
		t.Fatalf("want 40001 after one retry, got %v", err)
	}
	if got := api.Sent("o1"); len(got) != 2 {
		t.Fatalf("delivered %d", len(got))
	}
}

func TestCustomTextJobRetriesBusyAndGivesUpOnTheWindow(t *testing.T) {
	clock := storagetest.NewClock(time.Now())
	api, base := fakeWeChat(t, clock)
	c := bot.NewClient("wxapp", "secret", base, storage.NewMemorySessions(clock.Now), slog.New(slog.DiscardHandler))
	payload := []byte(`{"openid":"o2","text":"您好"}`)
	api.Interacted("o2", clock.Now())
	api.Fail("/cgi-bin/message/custom/send", bot.ErrBusy, 1)
	err := c.HandleCustomText(context.Background(), storage.Job{Payload: payload})
	if err == nil || jobs.IsPermanent(err) {
		t.Fatalf("busy must be retried: %v", err)
	}
	if err := c.HandleCustomText(context.Background(), storage.Job{Payload: payload}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(49 * time.Hour) // outside the 48-hour window: 45015
	err = c.HandleCustomText(context.Background(), storage.Job{Payload: payload})
	if !jobs.IsPermanent(err) || bot.ErrCode(err) != bot.ErrOutOfWindow {
		t.Fatalf("45015 must not be retried: %v", err)
	}
	if err := c.HandleCustomText(context.Background(), storage.Job{Payload: []byte("{")}); !jobs.IsPermanent(err) {
		t.Fatalf("bad payload: %v", err)
	}
}

func TestTemplateField(t *testing.T) {
	for in, want := range map[string]string{
		"已交办":      "已交办",
		"第一行\n第二行": "第一行 第二行",
		"一二三四五六七八九十一二三四五六七八九十":  "一二三四五六七八九十一二三四五六七八九十",
		"一二三四五六七八九十一二三四五六七八九十多": "一二三四五六七八九十一二三四五六七八九…",
	} {
		if got := bot.TemplateField(in); got != want {
			t.Errorf("TemplateField(%q) = %q, want %q", in, got, want)
		}
	}
}
