package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Mass sends (群发) and tag membership, for broadcasting notices. A
// service account may mass-send 100 times a day, 60 a minute, and each
// follower receives at most 4 mass messages a month; clientmsgid makes
// WeChat refuse (45065) a repeat of a send it already took within 24 hours,
// so a call whose answer was lost can be made again safely.

// ErrMassRepeat is WeChat's answer to a clientmsgid it has already sent.
const ErrMassRepeat = 45065

// MaxMassList is the most openids a mass send by list takes (at least 2).
const MaxMassList = 10000

type massText struct {
	Content string `json:"content"`
}

type massAnswer struct {
	MsgID     int64 `json:"msg_id"`
	MsgDataID int64 `json:"msg_data_id"`
}

// MassSendText mass-sends a text message to 2 to 10,000 followers by openid
// and returns WeChat's msg_id.
func (c *Client) MassSendText(ctx context.Context, openids []string, text, clientMsgID string) (int64, error) {
	if len(openids) < 2 || len(openids) > MaxMassList {
		return 0, fmt.Errorf("wechat mass send: %d openids, want 2 to %d", len(openids), MaxMassList)
	}
	body := map[string]any{"touser": openids, "msgtype": "text", "text": massText{text}, "send_ignore_reprint": 0}
	if clientMsgID != "" {
		body["clientmsgid"] = clientMsgID
	}
	var out massAnswer
	err := c.call(ctx, http.MethodPost, "/cgi-bin/message/mass/send", body, &out)
	return out.MsgID, err
}

// MassSendAllText mass-sends a text message to every follower (tagID 0) or
// to the followers with a tag, and returns WeChat's msg_id.
func (c *Client) MassSendAllText(ctx context.Context, tagID int, text, clientMsgID string) (int64, error) {
	filter := map[string]any{"is_to_all": tagID == 0}
	if tagID != 0 {
		filter["tag_id"] = tagID
	}
	body := map[string]any{"filter": filter, "msgtype": "text", "text": massText{text}, "send_ignore_reprint": 0}
	if clientMsgID != "" {
		body["clientmsgid"] = clientMsgID
	}
	var out massAnswer
	err := c.call(ctx, http.MethodPost, "/cgi-bin/message/mass/sendall", body, &out)
	return out.MsgID, err
}

// TagMembers lists every follower with a tag, page by page.
func (c *Client) TagMembers(ctx context.Context, tagID int) ([]string, error) {
	var all []string
	next := ""
	for range 10000 { // 10,000 a page: enough for 100 million followers
		var page struct {
			Count int `json:"count"`
			Data  struct {
				OpenID []string `json:"openid"`
			} `json:"data"`
			Next string `json:"next_openid"`
		}
		err := c.call(ctx, http.MethodPost, "/cgi-bin/user/tag/get", map[string]any{"tagid": tagID, "next_openid": next}, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Data.OpenID...)
		if page.Count == 0 || page.Next == "" || page.Next == next {
			return all, nil
		}
		next = page.Next
	}
	return nil, errors.New("wechat tag members: too many pages")
}
