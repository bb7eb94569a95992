package wechattest

import (
	"encoding/json"
)

type menuButton struct {
	Type      string       `json:"type"`
	Name      string       `json:"name"`
	Key       string       `json:"key"`
	URL       string       `json:"url"`
	MediaID   string       `json:"media_id"`
	AppID     string       `json:"appid"`
	PagePath  string       `json:"pagepath"`
	ArticleID string       `json:"article_id"`
	SubButton []menuButton `json:"sub_button"`
}

// Menu limits.
const (
	MenuTopButtons = 3
	MenuSubButtons = 5
	MenuTopNameMax = 16 // bytes
	MenuSubNameMax = 60 // bytes
	MenuKeyMax     = 128
	MenuURLMax     = 1024
)

// menuCodes are the error codes for a top-level button and a sub-button.
type menuCodes struct{ typ, name, key, url int }

var (
	topCodes = menuCodes{40017, 40018, 40019, 40020}
	subCodes = menuCodes{40024, 40025, 40026, 40027}
)

func (a *API) handleMenuCreate(c *apiCall) any {
	var req struct {
		Button []menuButton `json:"button"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	if len(req.Button) < 1 || len(req.Button) > MenuTopButtons {
		return errc(40016)
	}
	for _, b := range req.Button {
		if b.Type == "" && len(b.SubButton) > 0 {
			if len(b.Name) < 1 || len(b.Name) > MenuTopNameMax {
				return errc(40018)
			}
			if len(b.SubButton) > MenuSubButtons {
				return errc(40023)
			}
			for _, s := range b.SubButton {
				if len(s.SubButton) > 0 {
					return errc(40024) // only two levels
				}
				if code := checkButton(s, MenuSubNameMax, subCodes); code != 0 {
					return errc(code)
				}
			}
			continue
		}
		if code := checkButton(b, MenuTopNameMax, topCodes); code != 0 {
			return errc(code)
		}
	}
	var raw struct {
		Button []any `json:"button"`
	}
	_ = json.Unmarshal(c.body, &raw)
	a.menu = raw.Button
	return ok()
}

// checkButton validates a leaf button; it returns 0 when it is fine.
func checkButton(b menuButton, nameMax int, codes menuCodes) int {
	if len(b.Name) < 1 || len(b.Name) > nameMax {
		return codes.name
	}
	key := func() int {
		if len(b.Key) < 1 || len(b.Key) > MenuKeyMax {
			return codes.key
		}
		return 0
	}
	url := func() int {
		if len(b.URL) < 1 || len(b.URL) > MenuURLMax {
			return codes.url
		}
		return 0
	}
	switch b.Type {
	case "click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select":
		return key()
	case "view":
		return url()
	case "miniprogram":
		if b.AppID == "" || b.PagePath == "" {
			return codes.typ
		}
		return url()
	case "media_id", "view_limited":
		if b.MediaID == "" {
			return codes.typ
		}
	case "article_id", "article_view_limited":
		if b.ArticleID == "" {
			return codes.typ
		}
	default:
		return codes.typ
	}
	return 0
}

func (a *API) handleMenuGet(c *apiCall) any {
	if a.menu == nil {
		return errc(46003)
	}
	return map[string]any{"menu": map[string]any{"button": a.menu}}
}

func (a *API) handleMenuDelete(c *apiCall) any {
	a.menu = nil
	return ok()
}

// handleSelfMenuInfo renders the menu in get_current_selfmenu_info's shape,
// where sub-buttons sit under sub_button.list.
func (a *API) handleSelfMenuInfo(c *apiCall) any {
	buttons := []any{}
	for _, b := range a.menu {
		m, ok := b.(map[string]any)
		if !ok {
			continue
		}
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		if subs, ok := m["sub_button"].([]any); ok && len(subs) > 0 {
			out["sub_button"] = map[string]any{"list": subs}
		}
		buttons = append(buttons, out)
	}
	open := 0
	if a.menu != nil {
		open = 1
	}
	return map[string]any{"is_menu_open": open, "selfmenu_info": map[string]any{"button": buttons}}
}

// Menu returns the menu as last created (its "button" list), or nil.
func (a *API) Menu() json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.menu == nil {
		return nil
	}
	b, _ := json.Marshal(a.menu)
	return b
}
