package notices

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
)

// Warnings are published as OASIS CAP 1.2 messages, one per notice: the
// first of a warning is an Alert, a change to it an Update and its lifting a
// Cancel, each a notice of its own whose <references> name the earlier
// messages. Only warnings are CAP messages; ordinary notices are not.

// CAPNamespace is CAP 1.2's XML namespace.
const CAPNamespace = "urn:oasis:names:tc:emergency:cap:1.2"

// CAPOptions say who publishes.
type CAPOptions struct {
	// Sender identifies the publisher, e.g. hazardbot@aq.example.gov.cn;
	// with the notice id it makes identifiers unique.
	Sender string
	// Base is the public address pages and feeds link to, without a
	// trailing slash.
	Base string
}

// Identifier is the CAP identifier of a notice's message.
func (o CAPOptions) Identifier(id int64) string {
	return o.Sender + ".notice." + strconv.FormatInt(id, 10)
}

// capTime is a CAP date: the schema wants an explicit offset and refuses
// "Z", so times are written in Asia/Shanghai, which is always +08:00.
func capTime(t time.Time) string {
	return t.In(hazardbot.Shanghai).Truncate(time.Second).Format("2006-01-02T15:04:05-07:00")
}

type capAlert struct {
	XMLName    xml.Name  `xml:"urn:oasis:names:tc:emergency:cap:1.2 alert"`
	Identifier string    `xml:"identifier"`
	Sender     string    `xml:"sender"`
	Sent       string    `xml:"sent"`
	Status     string    `xml:"status"`
	MsgType    string    `xml:"msgType"`
	Scope      string    `xml:"scope"`
	Note       string    `xml:"note,omitempty"`
	References string    `xml:"references,omitempty"`
	Info       []capInfo `xml:"info"`
}

// capInfo's fields are in the order the schema's sequence requires.
type capInfo struct {
	Language     string     `xml:"language"`
	Category     []string   `xml:"category"`
	Event        string     `xml:"event"`
	ResponseType []string   `xml:"responseType,omitempty"`
	Urgency      string     `xml:"urgency"`
	Severity     string     `xml:"severity"`
	Certainty    string     `xml:"certainty"`
	EventCode    []capValue `xml:"eventCode,omitempty"`
	Effective    string     `xml:"effective,omitempty"`
	Onset        string     `xml:"onset,omitempty"`
	Expires      string     `xml:"expires,omitempty"`
	SenderName   string     `xml:"senderName,omitempty"`
	Headline     string     `xml:"headline,omitempty"`
	Description  string     `xml:"description,omitempty"`
	Instruction  string     `xml:"instruction,omitempty"`
	Web          string     `xml:"web,omitempty"`
	Parameter    []capValue `xml:"parameter,omitempty"`
	Area         []capArea  `xml:"area,omitempty"`
}

type capValue struct {
	ValueName string `xml:"valueName"`
	Value     string `xml:"value"`
}

type capArea struct {
	AreaDesc string   `xml:"areaDesc"`
	Polygon  []string `xml:"polygon,omitempty"`
	Circle   []string `xml:"circle,omitempty"`
}

// CAP renders a published warning as a CAP 1.2 message. chain is the
// earlier messages it refers to (for an Update or Cancel: the original
// alert and the updates since), oldest first.
func CAP(n *Notice, chain []Notice, c *content.Content, o CAPOptions) ([]byte, error) {
	if n.Kind != KindWarning {
		return nil, fmt.Errorf("notices: cap: notice %d is not a warning", n.ID)
	}
	if !n.State.Published() {
		return nil, fmt.Errorf("notices: cap: notice %d is not published", n.ID)
	}
	t := &c.Notices
	level, _ := t.Level(string(n.Level))
	hazard, _ := t.Hazard(n.Hazard)
	a := capAlert{
		Identifier: o.Identifier(n.ID),
		Sender:     o.Sender,
		Sent:       capTime(n.PublishedAt),
		Status:     "Actual",
		MsgType:    map[MsgType]string{MsgAlert: "Alert", MsgUpdate: "Update", MsgCancel: "Cancel"}[n.MsgType],
		Scope:      "Public",
	}
	if n.Exercise {
		a.Status, a.Note = "Exercise", "演练"
	}
	var refs []string
	for _, r := range chain {
		refs = append(refs, o.Sender+","+o.Identifier(r.ID)+","+capTime(r.PublishedAt))
	}
	a.References = strings.Join(refs, " ")

	info := capInfo{
		Language:  "zh-CN",
		Category:  []string{hazard.Category},
		Event:     hazard.Name,
		Urgency:   level.Urgency,
		Severity:  level.Severity,
		Certainty: hazard.Certainty,
		EventCode: []capValue{{"hazardbot:hazard", hazard.ID}},
		Effective: capTime(n.From()),
		Onset:     capTime(n.From()),
		Expires:   capTime(n.Until()),

		SenderName:  t.PageSender,
		Headline:    Headline(n, c) + "：" + n.Title,
		Description: n.Body,
		Instruction: Guide(n, c),
		Parameter:   []capValue{{"hazardbot:level", string(n.Level)}, {"hazardbot:level_name", level.Name}},
	}
	info.ResponseType = []string{hazard.Response}
	if n.MsgType == MsgCancel {
		// A lifted warning tells people the danger is over.
		info.ResponseType, info.Urgency = []string{"AllClear"}, "Past"
	}
	if o.Base != "" {
		info.Web = Link(o.Base, n.ID)
	}
	info.Area = []capArea{capAreaOf(n.Audience, c)}
	a.Info = []capInfo{info}

	out, err := xml.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("notices: cap: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// capAreaOf turns the audience into CAP's area: a polygon per grid (the
// whole sub-district for audiences not bound to a place), or a circle.
// CAP wants WGS 84; the grids, like everything WeChat sends, are GCJ-02.
func capAreaOf(a Audience, c *content.Content) capArea {
	area := capArea{AreaDesc: AreaDesc(a, c)}
	if a.Kind == AudienceNear {
		lat, lng := hazardbot.GCJ02ToWGS84(a.Lat, a.Lng)
		area.Circle = []string{fmt.Sprintf("%.6f,%.6f %.3f", lat, lng, a.Radius/1000)}
		return area
	}
	ids := a.GridIDs(c.Grids)
	for _, g := range c.Grids.List {
		if !contains(ids, g.ID) || len(g.Polygon) == 0 {
			continue
		}
		ring := g.Polygon[0] // the outer ring; holes don't narrow an alert area
		pts := make([]string, 0, len(ring)+1)
		for _, p := range ring {
			lat, lng := hazardbot.GCJ02ToWGS84(p[1], p[0])
			pts = append(pts, fmt.Sprintf("%.6f,%.6f", lat, lng))
		}
		if pts[0] != pts[len(pts)-1] {
			pts = append(pts, pts[0]) // CAP polygons must be closed
		}
		area.Polygon = append(area.Polygon, strings.Join(pts, " "))
	}
	return area
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Atom is the index of warnings in force as an Atom 1.0 feed, each entry
// linking to its CAP message, newest first.
func Atom(warnings []Notice, c *content.Content, o CAPOptions, now time.Time) ([]byte, error) {
	type link struct {
		Rel  string `xml:"rel,attr,omitempty"`
		Type string `xml:"type,attr,omitempty"`
		Href string `xml:"href,attr"`
	}
	type entry struct {
		ID       string `xml:"id"`
		Title    string `xml:"title"`
		Updated  string `xml:"updated"`
		Summary  string `xml:"summary,omitempty"`
		Category struct {
			Term string `xml:"term,attr"`
		} `xml:"category"`
		Links []link `xml:"link"`
	}
	type feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		ID      string   `xml:"id"`
		Title   string   `xml:"title"`
		Updated string   `xml:"updated"`
		Author  struct {
			Name string `xml:"name"`
		} `xml:"author"`
		Links   []link  `xml:"link"`
		Entries []entry `xml:"entry"`
	}
	f := feed{ID: o.Base + "/cap/alerts.xml", Title: c.Notices.PageSite + " · 预警（CAP 1.2）"}
	f.Author.Name = c.Notices.PageSender
	f.Links = []link{{Rel: "self", Type: "application/atom+xml", Href: o.Base + "/cap/alerts.xml"}}
	updated := time.Time{}
	for i := range warnings {
		n := &warnings[i]
		if n.PublishedAt.After(updated) {
			updated = n.PublishedAt
		}
		e := entry{
			ID:      "urn:cap:" + o.Identifier(n.ID),
			Title:   Headline(n, c) + "：" + n.Title,
			Updated: capTime(n.PublishedAt),
			Summary: Shorten(n.Body, 140),
			Links: []link{
				{Rel: "alternate", Type: "application/cap+xml", Href: o.Base + "/cap/" + strconv.FormatInt(n.ID, 10) + ".xml"},
				{Rel: "related", Type: "text/html", Href: Link(o.Base, n.ID)},
			},
		}
		e.Category.Term = string(n.Level)
		f.Entries = append(f.Entries, e)
	}
	if updated.IsZero() {
		updated = now
	}
	f.Updated = capTime(updated)
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("notices: atom: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}
