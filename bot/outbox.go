package bot

import (
	"context"
	"encoding/json"
	"fmt"

	"hazardbot/jobs"
	"hazardbot/storage"
)

// KindCustomText is the job that sends a customer-service text message.
const KindCustomText = "wechat.custom_text"

// CustomText is the payload of a KindCustomText job.
type CustomText struct {
	OpenID string `json:"openid"`
	Text   string `json:"text"`
}

// Undeliverable reports whether WeChat refused a message for a reason that no
// retry will change: the resident left the window, used up its allowance,
// unfollowed, or is unknown.
func Undeliverable(err error) bool {
	switch ErrCode(err) {
	case ErrOutOfWindow, ErrTooMany, ErrNotFollowing, ErrInvalidOpenID:
		return true
	}
	return false
}

// HandleCustomText is the job handler for KindCustomText.
func (c *Client) HandleCustomText(ctx context.Context, job storage.Job) error {
	var p CustomText
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return jobs.Permanent(fmt.Errorf("custom text payload: %w", err))
	}
	err := c.SendText(ctx, p.OpenID, p.Text)
	if Undeliverable(err) {
		return jobs.Permanent(err)
	}
	return err
}
