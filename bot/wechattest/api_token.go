package wechattest

import (
	"time"
)

func (a *API) handleToken(c *apiCall) any {
	return a.grant(c.q.Get("grant_type"), c.q.Get("appid"), c.q.Get("secret"), "token", true, c.now)
}

// handleStableToken serves stable_token, whose tokens WeChat keeps apart from
// /cgi-bin/token's: a plain call returns the current token while it is valid,
// and only force_refresh issues a new one.
func (a *API) handleStableToken(c *apiCall) any {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	return a.grant(req.GrantType, req.AppID, req.Secret, "stable", req.ForceRefresh, c.now)
}

func (a *API) grant(grantType, appID, secret, pool string, fresh bool, now time.Time) any {
	if grantType != "client_credential" {
		return errc(40002)
	}
	if appID != a.appID {
		return errc(40013)
	}
	if secret != a.appSecret {
		return errc(40125)
	}
	day := now.In(shanghai).Format(time.DateOnly)
	if day != a.tokenDay {
		a.tokenDay, a.tokenDayN = day, 0
	}
	if a.tokenDayN >= TokenDailyQuota {
		return errc(45009)
	}
	a.tokenDayN++
	a.tokenFetches++

	if cur := a.tokens[a.current[pool]]; !fresh && cur != nil && now.Before(cur.expires) {
		return map[string]any{"access_token": a.current[pool], "expires_in": int64(cur.expires.Sub(now) / time.Second)}
	}
	// A new token leaves the older ones of its pool TokenGrace to live.
	for _, t := range a.tokens {
		if t.pool == pool && t.expires.After(now.Add(TokenGrace)) {
			t.expires, t.superseded = now.Add(TokenGrace), true
		}
	}
	s := "90_" + randomHex(40)
	a.tokens[s] = &token{pool: pool, expires: now.Add(TokenTTL)}
	a.current[pool] = s
	return map[string]any{"access_token": s, "expires_in": int64(TokenTTL / time.Second)}
}

// checkToken reports the error for a bad access_token. A token past its
// 7200 s answers 42001; one pushed out by a newer fetch answers 40001, as
// WeChat's "invalid or not latest" says.
func (a *API) checkToken(s string, now time.Time) (apiError, bool) {
	if s == "" {
		return errc(41001), true
	}
	t := a.tokens[s]
	if t == nil {
		return errc(40001), true
	}
	if !now.Before(t.expires) {
		if t.superseded {
			return errc(40001), true
		}
		return errc(42001), true
	}
	return apiError{}, false
}

// TokenFetches counts calls that handed out an access_token (both
// endpoints), to check that the server caches and shares it.
func (a *API) TokenFetches() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokenFetches
}

// ExpireTokens makes every token issued so far expired (42001) now.
func (a *API) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, t := range a.tokens {
		if t.expires.After(now) {
			t.expires, t.superseded = now, false
		}
	}
}

// AccessToken fetches a token as /cgi-bin/token does (it counts as a fetch
// and supersedes the previous one), for tests that call the API directly.
func (a *API) AccessToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	res, _ := a.grant("client_credential", a.appID, a.appSecret, "token", true, a.now()).(map[string]any)
	s, _ := res["access_token"].(string)
	return s
}
