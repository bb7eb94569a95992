package console

import (
	"errors"
	"regexp"
	"strconv"
	"time"

	"hazardbot/content"
	"hazardbot/dialogs"
	"hazardbot/storage"
)

// bindPattern is what a staff member sends in the chat: 绑定 123456.
var bindPattern = regexp.MustCompile(`^绑定\s*(\d{6})$`)

// Tries per WeChat account and hour: a six-digit code that lives ten
// minutes cannot be guessed in five.
const (
	bindTries      = 5
	bindTryWindow  = time.Hour
	bindTryCounter = "bindtry:"
)

// AddChatRoutes teaches the dialog engine the staff words: 绑定 <code>.
func (c *Console) AddChatRoutes(e *dialogs.Engine) {
	e.AddRoute(dialogs.Route{
		Match:  func(_ *dialogs.Ctx, text string) bool { return bindPattern.MatchString(dialogs.Normalize(text)) },
		Answer: c.bindAnswer,
	})
}

func (c *Console) bindAnswer(ctx *dialogs.Ctx, in dialogs.Input) ([]string, error) {
	t := ctx.Content.Staff
	m := bindPattern.FindStringSubmatch(dialogs.Normalize(in.Text))
	if m == nil {
		return []string{t.BindBadCode}, nil
	}
	if c.Sessions != nil {
		n, err := c.Sessions.Incr(ctx, bindTryCounter+ctx.OpenID, bindTryWindow)
		if err != nil {
			return nil, err
		}
		if n > bindTries {
			return []string{t.BindTooMany}, nil
		}
	}
	st, err := c.Store.BindWeChat(ctx, m[1], ctx.OpenID, ctx.Now)
	switch {
	case errors.Is(err, storage.ErrBindCode):
		return []string{t.BindBadCode}, nil
	case errors.Is(err, storage.ErrExists):
		return []string{t.BindTaken}, nil
	case err != nil:
		return nil, err
	}
	if err := c.Store.SetRole(ctx, ctx.OpenID, storage.RoleStaff); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if err := c.Store.AppendAudit(ctx, storage.AuditEntry{At: ctx.Now, Actor: "staff:" + st.Username, Action: "staff.bind_wechat",
		SubjectType: "staff", SubjectID: strconv.FormatInt(st.ID, 10)}); err != nil {
		return nil, err
	}
	return []string{content.Fill(t.BindOK, "username", st.Username, "role", st.Role.Name())}, nil
}
