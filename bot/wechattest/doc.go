// Package wechattest is a fake WeChat for hazardbot: the one party the
// project cannot reach from its own machines.
//
// Like net/http/httptest it is importable by the tests of any package, and the
// server also mounts it in demo mode, so it must never import "testing".
//
// It has three parts, each written from WeChat's documentation (see
// shared/WECHAT.md) and never from the SDK the server uses, so that the fake
// checks the server independently:
//
//   - crypto.go: the signature and the safe-mode (AES) envelope.
//   - client.go: a push Client that signs, encrypts and posts messages and
//     events exactly as WeChat does, and judges the answer as WeChat would.
//   - api*.go: an http.Handler that serves WeChat's HTTP API (access_token,
//     customer-service, template and mass messages, media, menu, users and
//     tags) with WeChat's limits, records every call, and can inject failures
//     and delays. In demo mode the server mounts it under a prefix with
//     http.StripPrefix, sets NoWindow, and the terminal simulator long-polls
//     GET /_sim/sent for what residents received.
//
// A test usually wires the two together so that the fake learns of
// residents' actions as WeChat would:
//
//	api := wechattest.NewAPI(appID, secret)
//	api.SetNow(clock.Now)
//	wx := httptest.NewServer(api) // the server under test calls wx.URL instead of api.weixin.qq.com
//	c := &wechattest.Client{URL: bot.URL + "/wechat", Token: token, AESKey: key, AppID: appID, API: api, Now: clock.Now}
//	r, err := c.Send(wechattest.Text("oResident", "路灯坏了"))
//	... api.Sent("oResident") ...
package wechattest
