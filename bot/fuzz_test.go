package bot

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"hazardbot/dialogs"
)

// echoDialogs answers every input with its kind, so the parser's output is
// exercised end to end.
type echoDialogs struct{}

func (echoDialogs) Handle(_ context.Context, in dialogs.Input) ([]dialogs.Reply, error) {
	return []dialogs.Reply{{Text: string(in.Kind) + ":" + in.Text}}, nil
}

type nopUsers struct{}

func (nopUsers) TouchUser(context.Context, string, time.Time) error           { return nil }
func (nopUsers) SetSubscribed(context.Context, string, bool, time.Time) error { return nil }
func (nopUsers) SetLastLocation(context.Context, string, float64, float64, time.Time) error {
	return nil
}

type nopOutbox struct{}

func (nopOutbox) Enqueue(context.Context, string, string, any, time.Time) error { return nil }

type mapKV struct{ m map[string][]byte }

func (k *mapKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := k.m[key]
	return v, ok, nil
}
func (k *mapKV) Set(_ context.Context, key string, val []byte, _ time.Duration) error {
	k.m[key] = val
	return nil
}
func (k *mapKV) SetNX(_ context.Context, key string, val []byte, _ time.Duration) (bool, error) {
	if _, ok := k.m[key]; ok {
		return false, nil
	}
	k.m[key] = val
	return true, nil
}

// FuzzPush sends arbitrary bodies, correctly signed, in both modes: the
// webhook must never panic and must answer 200, 400 or 413.
func FuzzPush(f *testing.F) {
	for _, seed := range []string{
		`<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[上报]]></Content><MsgId>1</MsgId></xml>`,
		`<xml><FromUserName>o1</FromUserName><MsgType>event</MsgType><Event>location_select</Event><SendLocationInfo><Location_X>abc</Location_X></SendLocationInfo></xml>`,
		`<xml><FromUserName>o1</FromUserName><MsgType>image</MsgType><PicUrl>` + string(bytes.Repeat([]byte("a"), 5000)) + `</PicUrl></xml>`,
		`<xml><Encrypt>not base64</Encrypt></xml>`,
		"<xml><FromUserName>\xff\xfe</FromUserName><MsgType>text</MsgType><Content>\x00\x01</Content></xml>",
		`<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml>&a;</xml>`,
		``, `{"json":true}`, `<xml>`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	const aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	f.Fuzz(func(t *testing.T, body []byte, safe bool) {
		now := time.Unix(1795858303, 0)
		h := &Webhook{Token: "tok", AppID: "wxapp", AESKey: aesKey, Dialogs: echoDialogs{}, Users: nopUsers{},
			Outbox: nopOutbox{}, KV: &mapKV{m: map[string][]byte{}}, Now: func() time.Time { return now },
			Log: slog.New(slog.DiscardHandler), Timeout: time.Second}
		ts, nonce := strconv.FormatInt(now.Unix(), 10), "n1"
		q := "?signature=" + util.Signature("tok", ts, nonce) + "&timestamp=" + ts + "&nonce=" + nonce
		if safe {
			enc, err := util.EncryptMsg([]byte("0123456789abcdef"), body, "wxapp", aesKey)
			if err != nil {
				t.Skip()
			}
			q += "&encrypt_type=aes&msg_signature=" + util.Signature("tok", ts, nonce, string(enc))
			body = []byte("<xml><ToUserName>gh</ToUserName><Encrypt>" + string(enc) + "</Encrypt></xml>")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wechat"+q, bytes.NewReader(body)))
		h.Wait()
		switch rec.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
