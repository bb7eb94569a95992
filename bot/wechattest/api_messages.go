package wechattest

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// Customer-service window rules (WECHAT.md): a message from the resident
// allows 5 messages within 48 h; a follow, menu click or scan 3 within a minute.
const (
	MessageWindow      = 48 * time.Hour
	MessageWindowCount = 5
	EventWindow        = time.Minute
	EventWindowCount   = 3
)

// Template rules since May 2023.
const TemplateFieldMax = 20 // characters per field value

// Mass-send limits for a service account.
const (
	MassMonthlyPerResident = 4
	MassDailyCalls         = 100
	MassCallsPerMinute     = 60
	MassDedupWindow        = 24 * time.Hour
)

type customMessage struct {
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Image *mediaRef `json:"image"`
	Voice *mediaRef `json:"voice"`
	Video *mediaRef `json:"video"`
	News  *struct {
		Articles []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			URL         string `json:"url"`
			PicURL      string `json:"picurl"`
		} `json:"articles"`
	} `json:"news"`
	Mpnews  *mediaRef `json:"mpnews"`
	Msgmenu *struct {
		HeadContent string `json:"head_content"`
		List        []struct {
			ID      string `json:"id"`
			Content string `json:"content"`
		} `json:"list"`
		TailContent string `json:"tail_content"`
	} `json:"msgmenu"`
}

type mediaRef struct {
	MediaID string `json:"media_id"`
}

// handleCustomSend enforces the window. WECHAT.md gives 45015 for both
// "outside the window" and "unfollowed", so an unfollowed resident gets
// 45015 here (templates, which need no window, say 43004).
func (a *API) handleCustomSend(c *apiCall) any {
	var m customMessage
	if e, ok := decode(c, &m); !ok {
		return e
	}
	if m.ToUser == "" {
		return errc(40003)
	}
	s := Sent{Kind: "custom", OpenID: m.ToUser, MsgType: m.MsgType, Time: c.now, Body: json.RawMessage(c.body)}
	switch m.MsgType {
	case "text":
		if m.Text == nil || m.Text.Content == "" {
			return errc(44004)
		}
		s.Text = m.Text.Content
	case "image", "voice", "video":
		ref := map[string]*mediaRef{"image": m.Image, "voice": m.Voice, "video": m.Video}[m.MsgType]
		if ref == nil || !a.mediaValid(ref.MediaID, c.now) {
			return errc(40007)
		}
		s.MediaID = ref.MediaID
	case "news":
		if m.News == nil || len(m.News.Articles) == 0 {
			return errc(44003)
		}
		// WeChat allows a single article in a customer-service news message.
		if len(m.News.Articles) > 1 {
			return errc(45008)
		}
		art := m.News.Articles[0]
		s.Text = joinNonEmpty(art.Title, art.Description, art.URL)
		s.URL = art.URL
	case "mpnews":
		if m.Mpnews == nil || m.Mpnews.MediaID == "" {
			return errc(40007)
		}
		s.MediaID = m.Mpnews.MediaID
	case "msgmenu":
		if m.Msgmenu == nil || len(m.Msgmenu.List) == 0 {
			return errc(44004)
		}
		lines := []string{m.Msgmenu.HeadContent}
		for _, it := range m.Msgmenu.List {
			lines = append(lines, it.Content)
		}
		lines = append(lines, m.Msgmenu.TailContent)
		s.Text = joinNonEmpty(lines...)
	case "music", "wxcard", "miniprogrampage", "mpnewsarticle":
	default:
		return errc(40008)
	}

	u := a.userLocked(m.ToUser)
	if !u.subscribed {
		return errc(45015)
	}
	if !a.NoWindow {
		msgOpen := !u.lastMsg.IsZero() && c.now.Sub(u.lastMsg) <= MessageWindow
		evOpen := !u.lastEvent.IsZero() && c.now.Sub(u.lastEvent) <= EventWindow
		switch {
		case msgOpen && u.msgCount < MessageWindowCount:
			u.msgCount++
		case evOpen && u.eventCount < EventWindowCount:
			u.eventCount++
		case msgOpen || evOpen:
			return errc(45047)
		default:
			return errc(45015)
		}
	}
	a.deliver(s)
	return ok()
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n")
}

// handleTyping accepts the "typing…" indicator; it delivers nothing.
func (a *API) handleTyping(c *apiCall) any {
	var req struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	if req.ToUser == "" {
		return errc(40003)
	}
	return ok()
}

// handleTemplateSend checks the post-2023 rules: each shown field at most 20
// characters, no line breaks; first and remark are accepted but not shown.
func (a *API) handleTemplateSend(c *apiCall) any {
	var req struct {
		ToUser     string          `json:"touser"`
		TemplateID string          `json:"template_id"`
		URL        string          `json:"url"`
		Data       json.RawMessage `json:"data"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	if req.ToUser == "" {
		return errc(40003)
	}
	if req.TemplateID == "" {
		return errc(40037)
	}
	var data map[string]struct {
		Value string `json:"value"`
		Color string `json:"color"`
	}
	if len(req.Data) == 0 || json.Unmarshal(req.Data, &data) != nil || data == nil {
		return errf(47001, "data must be an object of {\"value\": ...}")
	}
	keys := objectKeys(req.Data)
	values := map[string]string{}
	var lines []string
	for _, k := range keys {
		v := data[k].Value
		values[k] = v
		if k == "first" || k == "remark" {
			continue
		}
		switch {
		case v == "":
			return errf(47003, "data.%s.value is empty", k)
		case utf8.RuneCountInString(v) > TemplateFieldMax:
			return errf(47003, "data.%s.value exceeds limit", k)
		case strings.ContainsAny(v, "\r\n"):
			return errf(47003, "data.%s.value contains a line break", k)
		}
		lines = append(lines, k+": "+v)
	}
	u := a.userLocked(req.ToUser)
	if !u.subscribed {
		return errc(43004)
	}
	id := a.newMsgID()
	a.deliver(Sent{
		Kind: "template", OpenID: req.ToUser, Text: strings.Join(lines, "\n"),
		TemplateID: req.TemplateID, Data: values, URL: req.URL, MsgID: id, Time: c.now,
		Body: json.RawMessage(c.body),
	})
	return map[string]any{"errcode": 0, "errmsg": "ok", "msgid": id}
}

// objectKeys lists a JSON object's keys in the order written, so templates
// render in the order the server chose.
func objectKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
		keys = append(keys, k)
	}
	return keys
}

type massRequest struct {
	ToUser json.RawMessage `json:"touser"`
	Filter *struct {
		IsToAll bool `json:"is_to_all"`
		TagID   int  `json:"tag_id"`
	} `json:"filter"`
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Mpnews  *mediaRef `json:"mpnews"`
	Voice   *mediaRef `json:"voice"`
	Mpvideo *mediaRef `json:"mpvideo"`
	Image   *mediaRef `json:"image"`
	Images  *struct {
		MediaIDs []string `json:"media_ids"`
	} `json:"images"`
	WxCard *struct {
		CardID string `json:"card_id"`
	} `json:"wxcard"`
	ClientMsgID string `json:"clientmsgid"`
}

func (a *API) handleMassSend(c *apiCall) any {
	var req massRequest
	if e, ok := decode(c, &req); !ok {
		return e
	}
	var openids []string
	if json.Unmarshal(req.ToUser, &openids) != nil || len(openids) < 2 || len(openids) > 10000 {
		return errc(40130)
	}
	for _, id := range openids {
		if id == "" {
			return errc(40003)
		}
	}
	return a.mass(c, &req, openids)
}

func (a *API) handleMassSendAll(c *apiCall) any {
	var req massRequest
	if e, ok := decode(c, &req); !ok {
		return e
	}
	if req.Filter == nil {
		return errf(47001, "filter missing")
	}
	var openids []string
	if req.Filter.IsToAll {
		for _, id := range a.userOrder {
			if a.users[id].subscribed {
				openids = append(openids, id)
			}
		}
	} else {
		if _, ok := a.tags[req.Filter.TagID]; !ok {
			return errc(45159)
		}
		openids = a.taggedLocked(req.Filter.TagID)
	}
	return a.mass(c, &req, openids)
}

// mass checks content, quotas and clientmsgid, then delivers to every
// addressee still following and under four mass messages this month; the
// others are filtered, as WeChat's FilterCount reports.
func (a *API) mass(c *apiCall, req *massRequest, openids []string) any {
	s := Sent{Kind: "mass", MsgType: req.MsgType, Time: c.now, Body: json.RawMessage(c.body)}
	switch req.MsgType {
	case "text":
		if req.Text == nil || req.Text.Content == "" {
			return errc(44004)
		}
		s.Text = req.Text.Content
	case "mpnews", "voice", "mpvideo":
		ref := map[string]*mediaRef{"mpnews": req.Mpnews, "voice": req.Voice, "mpvideo": req.Mpvideo}[req.MsgType]
		if ref == nil || ref.MediaID == "" {
			return errc(40007)
		}
		s.MediaID = ref.MediaID
	case "image":
		switch {
		case req.Images != nil && len(req.Images.MediaIDs) > 0:
			s.MediaID = req.Images.MediaIDs[0]
		case req.Image != nil && req.Image.MediaID != "":
			s.MediaID = req.Image.MediaID
		default:
			return errc(40007)
		}
	case "wxcard":
	default:
		return errc(40008)
	}

	if req.ClientMsgID != "" {
		if at, seen := a.massClientIDs[req.ClientMsgID]; seen && c.now.Sub(at) < MassDedupWindow {
			return errc(45065)
		}
	}
	day := c.now.In(shanghai).Format(time.DateOnly)
	var today, lastMinute int
	for _, t := range a.massCalls {
		if t.In(shanghai).Format(time.DateOnly) == day {
			today++
		}
		if c.now.Sub(t) < time.Minute {
			lastMinute++
		}
	}
	if today >= MassDailyCalls || lastMinute >= MassCallsPerMinute {
		return errc(45009)
	}
	a.massCalls = append(a.massCalls, c.now)
	if req.ClientMsgID != "" {
		a.massClientIDs[req.ClientMsgID] = c.now
	}

	id := a.newMsgID()
	s.MsgID = id
	job := MassJob{MsgID: id, Total: len(openids)}
	month := c.now.In(shanghai).Format("2006-01")
	for _, openid := range openids {
		u := a.userLocked(openid)
		if u.massMonth != month {
			u.massMonth, u.massCount = month, 0
		}
		if !u.subscribed || (!a.NoWindow && u.massCount >= MassMonthlyPerResident) {
			job.Filtered++
			continue
		}
		u.massCount++
		job.SentCount++
		one := s
		one.OpenID = openid
		a.deliver(one)
	}
	a.massJobs = append(a.massJobs, job)
	return map[string]any{"errcode": 0, "errmsg": "send job submission success", "msg_id": id, "msg_data_id": id}
}

// MassJobs returns the accepted mass sends, to build MASSSENDJOBFINISH events.
func (a *API) MassJobs() []MassJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]MassJob(nil), a.massJobs...)
}

// MassCount is how many mass messages openid received this calendar month
// (Beijing time, by the API's clock).
func (a *API) MassCount(openid string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[openid]
	if u == nil || u.massMonth != a.now().In(shanghai).Format("2006-01") {
		return 0
	}
	return u.massCount
}
