package notices

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
)

// This file words a notice for residents: the headline, the message sent by
// customer-service or mass send, the template message's fields, the line
// under 最新通知, and the audience in words. It does no I/O, so the preview
// staff see is exactly what goes out.

// MaxTextBytes bounds a text message: WeChat cuts customer-service and mass
// texts at 2048 bytes, and the link to the full text must survive.
const MaxTextBytes = 2000

// Headline names the notice: 暴雨红色预警, or 通知.
func Headline(n *Notice, c *content.Content) string {
	t := &c.Notices
	if n.Kind != KindWarning {
		return t.KindNotice
	}
	h, _ := t.Hazard(n.Hazard)
	l, _ := t.Level(string(n.Level))
	return content.Fill(t.WarningHeadline, "hazard", h.Name, "level", l.Name)
}

// Badge is the emoji before the headline.
func Badge(n *Notice, c *content.Content) string {
	if n.Kind == KindWarning {
		if l, ok := c.Notices.Level(string(n.Level)); ok {
			return l.Badge
		}
	}
	return c.Notices.NoticeBadge
}

// Guide is the 防御指南 a warning carries: what staff wrote, else the hazard
// type's default. Notices carry only what staff wrote.
func Guide(n *Notice, c *content.Content) string {
	if n.Instruction != "" || n.Kind != KindWarning {
		return n.Instruction
	}
	h, _ := c.Notices.Hazard(n.Hazard)
	return h.Guide
}

// clock formats a time as residents read it.
func clock(t time.Time) string { return t.In(hazardbot.Shanghai).Format("1月2日 15:04") }

// Link is the public page of the notice, or "" without a public address.
func Link(publicURL string, id int64) string {
	if publicURL == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/notices/" + strconv.FormatInt(id, 10)
}

// Text is the message a resident reads in the chat (customer-service or
// mass send), kept under MaxTextBytes by shortening the body: the link
// carries the full text.
func Text(n *Notice, c *content.Content, link string) string {
	t := &c.Notices
	guide := ""
	if g := Guide(n, c); g != "" {
		guide = content.Fill(t.MessageGuide, "guide", g)
	}
	linkLine := ""
	if link != "" {
		linkLine = content.Fill(t.MessageLink, "link", link)
	}
	fill := func(body string) string {
		return content.Fill(t.Message, "badge", Badge(n, c), "headline", Headline(n, c), "title", n.Title,
			"body", body, "until", clock(n.Until()), "guide", guide, "link", linkLine)
	}
	out := fill(n.Body)
	if len(out) <= MaxTextBytes {
		return out
	}
	over := len(out) - MaxTextBytes + len("…")
	body := n.Body
	for len(body) > 0 && over > 0 {
		_, size := utf8.DecodeLastRuneInString(body)
		body, over = body[:len(body)-size], over-size
	}
	return fill(strings.TrimRightFunc(body, unicode.IsSpace) + "…")
}

// TemplateKeys maps our four template fields to the keys of the template
// chosen in the WeChat console.
type TemplateKeys struct {
	Title, Kind, Time, Note string
}

// DefaultTemplateKeys fit a template with 标题 (thing), 类型 (thing),
// 发布时间 (time) and 备注 (thing).
var DefaultTemplateKeys = TemplateKeys{Title: "thing1", Kind: "thing2", Time: "time3", Note: "thing4"}

// TemplateField is one field of a template message, in the order WeChat
// shows them.
type TemplateField struct {
	Key, Label, Value string
}

// TemplateFields are the fields of the template message: each at most 20
// characters on one line, as WeChat requires since May 2023; the link
// carries the full text.
func TemplateFields(n *Notice, c *content.Content, keys TemplateKeys) []TemplateField {
	kind := Headline(n, c)
	return []TemplateField{
		{keys.Title, "标题", Shorten(n.Title, 20)},
		{keys.Kind, "类型", Shorten(kind, 20)},
		{keys.Time, "发布时间", n.From().In(hazardbot.Shanghai).Format("2006-01-02 15:04")},
		{keys.Note, "备注", Shorten(content.Fill(c.Notices.TemplateNote, "until", clock(n.Until())), 20)},
	}
}

// Shorten fits s into max characters on one line: line breaks become
// spaces, and a longer text is cut, at a punctuation mark or space near the
// end when there is one, and ends with "…".
func Shorten(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	cut := max - 1
	// A cut right after a clause reads better than one mid-word, but never
	// throw away more than a quarter of the room for it.
	for i := cut; i > max*3/4; i-- {
		if unicode.IsPunct(r[i-1]) || unicode.IsSpace(r[i-1]) {
			cut = i
			break
		}
	}
	out := strings.TrimRightFunc(string(r[:cut]), func(c rune) bool { return unicode.IsPunct(c) || unicode.IsSpace(c) })
	return out + "…"
}

// ListItem is the notice's line under 最新通知.
func ListItem(n *Notice, c *content.Content, link string) string {
	t := &c.Notices
	l := ""
	if link != "" {
		l = content.Fill(t.ListLink, "link", link)
	}
	return content.Fill(t.ListItem, "badge", Badge(n, c), "headline", Headline(n, c), "title", n.Title,
		"until", clock(n.Until()), "link", l)
}

// AreaDesc says who or where the audience is, in words.
func AreaDesc(a Audience, c *content.Content) string {
	t := &c.Notices
	switch a.Kind {
	case AudienceAll:
		return t.AreaAll
	case AudienceVolunteers:
		return t.AreaVolunteers
	case AudienceTag:
		name := a.TagName
		if name == "" {
			name = strconv.Itoa(a.TagID)
		}
		return content.Fill(t.AreaTag, "tag", name)
	case AudienceNear:
		place := a.Place
		if place == "" {
			place = strconv.FormatFloat(a.Lat, 'f', 5, 64) + "," + strconv.FormatFloat(a.Lng, 'f', 5, 64)
		}
		return content.Fill(t.AreaNear, "place", place, "radius", strconv.Itoa(int(a.Radius)))
	case AudienceCommunities:
		var names []string
		for _, cm := range c.Grids.Communities() {
			for _, id := range a.Communities {
				if cm.ID == id {
					names = append(names, cm.Name)
				}
			}
		}
		return strings.Join(names, "、")
	case AudienceGrids:
		var names []string
		for _, g := range c.Grids.List {
			for _, id := range a.Grids {
				if g.ID == id {
					names = append(names, g.Name)
				}
			}
		}
		return strings.Join(names, "、")
	}
	return ""
}

// Preview is the notice as a resident will see it: the chat message, and
// the template message that residents outside the 48-hour window get.
type Preview struct {
	Text     string          // customer-service or mass-send text
	Template []TemplateField // template message, in WeChat's order
	Link     string          // the full text, linked from the template
	Area     string
}

// MakePreview renders both forms. A notice not yet out is shown as if it
// went out at its scheduled time, or now.
func MakePreview(n *Notice, c *content.Content, publicURL string, keys TemplateKeys, now time.Time) Preview {
	if n.PublishedAt.IsZero() {
		cp := *n
		cp.PublishedAt = now
		if !n.SendAt.IsZero() {
			cp.PublishedAt = n.SendAt
		}
		n = &cp
	}
	link := Link(publicURL, n.ID)
	if n.ID == 0 && link != "" {
		link = strings.TrimSuffix(link, "0") + "…" // numbered when saved
	}
	return Preview{Text: Text(n, c, link), Template: TemplateFields(n, c, keys), Link: link, Area: AreaDesc(n.Audience, c)}
}

// ChatPreview is the preview in the chat, for staff composing on WeChat.
func (p Preview) ChatPreview() string {
	var b strings.Builder
	b.WriteString("—— 居民收到的消息 ——\n")
	b.WriteString(p.Text)
	b.WriteString("\n—— 48小时未互动的居民收到的模板消息 ——\n")
	for _, f := range p.Template {
		b.WriteString(f.Label + "：" + f.Value + "\n")
	}
	b.WriteString("范围：" + p.Area + "\n")
	return b.String()
}

// Reasons a delivery failed, as recorded, with what staff read.
const (
	ReasonNotFollowing  = "not_following"  // 43004, or a template to an unfollower
	ReasonOutOfWindow   = "out_of_window"  // 45015 and no template configured
	ReasonTooMany       = "cs_limit"       // 45047 and no template configured
	ReasonUserBlock     = "user_block"     // TEMPLATESENDJOBFINISH failed:user block
	ReasonInvalidOpenID = "invalid_openid" // 40003
	ReasonNoTemplate    = "no_template"    // outside the window and no template configured
	ReasonRejected      = "rejected"       // WeChat refused the message itself (our bug or config)
	ReasonGaveUp        = "gave_up"        // retryable errors until MaxAttempts
	// ReasonUnconfirmed marks a delivered row: a customer-service message
	// whose sender died between calling WeChat and recording the answer.
	ReasonUnconfirmed = "unconfirmed"
)

var reasonNames = map[string]string{
	ReasonNotFollowing: "已取消关注", ReasonOutOfWindow: "超出48小时客服窗口", ReasonTooMany: "客服消息条数已满",
	ReasonUserBlock: "用户拒收", ReasonInvalidOpenID: "用户标识无效", ReasonNoTemplate: "未配置模板消息",
	ReasonRejected: "微信拒绝（格式或配置错误）", ReasonGaveUp: "多次重试失败", ReasonUnconfirmed: "发送中断，按已送达计（未确认）",
}

// ReasonName is a failure reason as staff read it.
func ReasonName(r string) string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return r
}

// Channels a delivery went through.
const (
	ChannelCustom   = "custom"
	ChannelTemplate = "template"
	ChannelMass     = "mass"
)

var channelNames = map[string]string{ChannelCustom: "客服消息", ChannelTemplate: "模板消息", ChannelMass: "群发"}

// ChannelName is a channel as staff read it.
func ChannelName(ch string) string {
	if n, ok := channelNames[ch]; ok {
		return n
	}
	return ch
}
