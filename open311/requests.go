package open311

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"math"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/storage"
)

// Limits of the requests resources.
const (
	maxBody        = 64 << 10
	maxDescription = 4000 // characters, as the specification says
	maxSpan        = 90 * 24 * time.Hour
	maxResults     = 1000
	maxPhone       = 20 // reports.phone
	// coordDecimals rounds returned coordinates to about ten metres: enough
	// to find a hazard, too coarse to pick out a flat.
	coordDecimals = 4
)

// Source is what reports filed through Open311 carry as their source.
const Source = "open311"

// OpenIDPrefix begins the openid of a report filed through Open311: the
// channel (the API client), since there is no WeChat resident behind it.
const OpenIDPrefix = "open311:"

type postedRequestDoc struct {
	ID     string `xml:"service_request_id,omitempty" json:"service_request_id,omitempty"`
	Token  string `xml:"token,omitempty" json:"token,omitempty"`
	Notice string `xml:"service_notice,omitempty" json:"service_notice,omitempty"`
}

type postedDoc struct {
	XMLName  xml.Name           `xml:"service_requests" json:"-"`
	Requests []postedRequestDoc `xml:"request"`
}

func (d postedDoc) jsonDoc() any { return nonNil(d.Requests) }

type requestDoc struct {
	ID                string   `xml:"service_request_id" json:"service_request_id"`
	Status            string   `xml:"status" json:"status"`
	StatusNotes       string   `xml:"status_notes" json:"status_notes"`
	ServiceName       string   `xml:"service_name" json:"service_name"`
	ServiceCode       string   `xml:"service_code" json:"service_code"`
	Description       string   `xml:"description" json:"description"`
	AgencyResponsible string   `xml:"agency_responsible,omitempty" json:"agency_responsible,omitempty"`
	RequestedDatetime string   `xml:"requested_datetime" json:"requested_datetime"`
	UpdatedDatetime   string   `xml:"updated_datetime" json:"updated_datetime"`
	Address           string   `xml:"address" json:"address"`
	Lat               *float64 `xml:"lat,omitempty" json:"lat,omitempty"`
	Long              *float64 `xml:"long,omitempty" json:"long,omitempty"`
	MediaURL          string   `xml:"media_url,omitempty" json:"media_url,omitempty"`
}

type requestsDoc struct {
	XMLName  xml.Name     `xml:"service_requests" json:"-"`
	Requests []requestDoc `xml:"request"`
}

func (d requestsDoc) jsonDoc() any { return nonNil(d.Requests) }

type tokenDoc struct {
	ID    string `xml:"service_request_id" json:"service_request_id"`
	Token string `xml:"token" json:"token"`
}

type tokensDoc struct {
	XMLName  xml.Name   `xml:"service_requests" json:"-"`
	Requests []tokenDoc `xml:"request"`
}

func (d tokensDoc) jsonDoc() any { return nonNil(d.Requests) }

// postRequest files a request: a report like one made in the chat, from
// the API client's channel, with a token and the reporter's contact kept
// beside it for staff.
func (a *API) postRequest(r *http.Request, _ string) (any, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return nil, errorf(http.StatusBadRequest, "cannot read the form (application/x-www-form-urlencoded, at most %d bytes)", maxBody)
	}
	f := r.Form
	client, err := a.authorise(f.Get("api_key"))
	if err != nil {
		return nil, err
	}
	cat, err := a.category(strings.TrimSpace(f.Get("service_code")))
	if err != nil {
		return nil, err
	}
	rep := &hazardbot.Report{OpenID: OpenIDPrefix + client, Source: Source, Category: cat.ID, Urgent: cat.Urgent}

	desc := strings.TrimSpace(f.Get("description"))
	if desc == "" {
		return nil, errorf(http.StatusBadRequest, "description is required: say what the hazard is and where")
	}
	if n := utf8.RuneCountInString(desc); n > maxDescription {
		return nil, errorf(http.StatusBadRequest, "description has %d characters, at most %d", n, maxDescription)
	}
	answers, err := attributeAnswers(f)
	if err != nil {
		return nil, err
	}
	for _, at := range attributes(cat) {
		vals := answers[at.Code]
		if len(vals) == 0 && at.Required {
			return nil, errorf(http.StatusBadRequest, "attribute[%s] is required (%s)", at.Code, at.DatatypeDescription)
		}
		if len(vals) > 1 || (len(vals) == 1 && !slices.ContainsFunc(at.Values, func(v valueDoc) bool { return v.Key == vals[0] })) {
			return nil, errorf(http.StatusBadRequest, "attribute[%s] must be one of %s", at.Code, at.DatatypeDescription)
		}
		if at.Code == attrDangerNow && len(vals) == 1 && vals[0] == valueYes {
			// The first thing staff read in the console and the list.
			desc = "【来电称险情正在发生】" + desc
			rep.Urgent = true
		}
	}
	rep.Description = desc

	if err := a.locate(rep, f); err != nil {
		return nil, err
	}
	phone, err := normalisePhone(f.Get("phone"))
	if err != nil {
		return nil, err
	}
	rep.Phone, rep.Anonymous = phone, phone == ""
	rec := storage.Open311Request{Client: client, FirstName: strings.TrimSpace(f.Get("first_name")),
		LastName: strings.TrimSpace(f.Get("last_name")), DeviceID: strings.TrimSpace(f.Get("device_id")),
		AccountID: strings.TrimSpace(f.Get("account_id"))}
	if email := strings.TrimSpace(f.Get("email")); email != "" {
		addr, err := mail.ParseAddress(email)
		if err != nil || len(addr.Address) > 255 {
			return nil, errorf(http.StatusBadRequest, "email is not an e-mail address")
		}
		rec.Email = addr.Address
	}
	if media := strings.TrimSpace(f.Get("media_url")); media != "" {
		u, err := url.Parse(media)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(media) > 1024 {
			return nil, errorf(http.StatusBadRequest, "media_url must be an http(s) URL of at most 1024 bytes")
		}
		rec.MediaURL = media
	}

	ctx, now := r.Context(), a.now()
	if err := a.Store.SubmitReport(ctx, rep, submitKey(client, f, now), now); err != nil {
		return nil, err
	}
	rec.ReportID, rec.Token, rec.CreatedAt = rep.ID, newToken(), now
	if _, err := a.Store.SaveOpen311Request(ctx, rec); err != nil {
		return nil, err
	}
	a.log().Info("open311 request filed", "client", client, "ticket", rep.Ticket, "service_code", cat.ID)
	notice := "已登记为工单 " + rep.Ticket + "，街道将在24小时内核实处理。"
	if rep.Urgent {
		notice = "已登记为紧急工单 " + rep.Ticket + "，街道将在2小时内核实处置；险情正在发生时请立即拨打 119。"
	}
	// realtime: the id comes back at once, so no token (the specification
	// returns one or the other).
	return postedDoc{Requests: []postedRequestDoc{{ID: rep.Ticket, Notice: notice}}}, nil
}

// attributeAnswers collects attribute[CODE]=v and, for lists,
// attribute[CODE][]=v.
func attributeAnswers(f url.Values) (map[string][]string, error) {
	out := map[string][]string{}
	for k, vs := range f {
		rest, ok := strings.CutPrefix(k, "attribute[")
		if !ok {
			continue
		}
		code, tail, ok := strings.Cut(rest, "]")
		if !ok || code == "" || (tail != "" && tail != "[]") {
			return nil, errorf(http.StatusBadRequest, "%q is not attribute[CODE] or attribute[CODE][]", k)
		}
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" {
				out[code] = append(out[code], v)
			}
		}
	}
	return out, nil
}

// locate takes the location from lat & long (WGS84) or address_string; one
// of them is required.
func (a *API) locate(rep *hazardbot.Report, f url.Values) error {
	latText, lngText := strings.TrimSpace(f.Get("lat")), strings.TrimSpace(f.Get("long"))
	rep.Address = strings.TrimSpace(f.Get("address_string"))
	switch {
	case latText != "" || lngText != "":
		lat, err1 := strconv.ParseFloat(latText, 64)
		lng, err2 := strconv.ParseFloat(lngText, 64)
		if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lng) || math.Abs(lat) > 90 || math.Abs(lng) > 180 {
			return errorf(http.StatusBadRequest, "lat and long must both be given, as WGS84 degrees")
		}
		rep.HasLocation = true
		rep.Lat, rep.Lng = hazardbot.WGS84ToGCJ02(lat, lng)
		if g, ok := a.Content().Grids.Locate(rep.Lat, rep.Lng); ok {
			rep.CommunityID, rep.GridID = g.CommunityID, g.ID
		}
	case rep.Address != "":
		// Staff place it on the map when they verify it.
	case strings.TrimSpace(f.Get("address_id")) != "":
		return errorf(http.StatusBadRequest, "address_id is not supported here; send lat and long, or address_string")
	default:
		return errorf(http.StatusBadRequest, "a location is required: lat and long, or address_string")
	}
	return nil
}

func normalisePhone(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '+' && b.Len() == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return "", errorf(http.StatusBadRequest, "phone is not a phone number")
		}
	}
	if b.Len() > maxPhone {
		return "", errorf(http.StatusBadRequest, "phone has more than %d digits", maxPhone)
	}
	return b.String(), nil
}

// submitKey makes filing idempotent for a client that retries a POST whose
// answer it lost: the same client sending the same form on the same day
// gets the same ticket.
func submitKey(client string, f url.Values, now time.Time) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		if k != "api_key" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	h.Write([]byte(client + "\x00" + hazardbot.Day(now)))
	for _, k := range keys {
		for _, v := range f[k] {
			h.Write([]byte("\x00" + k + "=" + v))
		}
	}
	return "open311:" + hex.EncodeToString(h.Sum(nil))[:40]
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	openStatuses   = []hazardbot.Status{hazardbot.StatusPending, hazardbot.StatusVerified, hazardbot.StatusAssigned, hazardbot.StatusFixing, hazardbot.StatusReview}
	closedStatuses = []hazardbot.Status{hazardbot.StatusClosed, hazardbot.StatusRejected, hazardbot.StatusDuplicate}
)

// getRequests lists requests: by service_request_id (which overrides the
// rest), or by service_code, status and a date range of at most 90 days —
// the last 90 days when none is given — newest first, at most 1000.
func (a *API) getRequests(r *http.Request, _ string) (any, error) {
	q := r.URL.Query()
	if ids := list(q, "service_request_id"); len(ids) > 0 {
		if len(ids) > maxResults {
			return nil, errorf(http.StatusBadRequest, "at most %d service_request_id at once", maxResults)
		}
		return a.requestsDoc(r, storage.ReportQuery{Tickets: ids, Limit: len(ids)})
	}
	rq := storage.ReportQuery{Categories: list(q, "service_code"), Limit: maxResults}
	for _, s := range list(q, "status") {
		switch s {
		case "open":
			rq.Statuses = append(rq.Statuses, openStatuses...)
		case "closed":
			rq.Statuses = append(rq.Statuses, closedStatuses...)
		default:
			return nil, errorf(http.StatusBadRequest, "status %q is neither open nor closed", s)
		}
	}
	start, err := w3cTime(q.Get("start_date"), "start_date")
	if err != nil {
		return nil, err
	}
	end, err := w3cTime(q.Get("end_date"), "end_date")
	if err != nil {
		return nil, err
	}
	switch {
	case start.IsZero() && end.IsZero():
		end = a.now()
		start = end.Add(-maxSpan)
	case end.IsZero():
		end = start.Add(maxSpan)
	case start.IsZero():
		start = end.Add(-maxSpan)
	}
	if end.Before(start) {
		return nil, errorf(http.StatusBadRequest, "end_date is before start_date")
	}
	if end.Sub(start) > maxSpan {
		return nil, errorf(http.StatusBadRequest, "start_date to end_date spans more than 90 days")
	}
	rq.From, rq.To = start, end
	return a.requestsDoc(r, rq)
}

// list reads a parameter that may be comma-separated and given several
// times.
func list(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// w3cTime parses the W3C subset of ISO 8601 the specification names; a
// date alone is midnight in Asia/Shanghai. A "+" in an unencoded query
// arrives as a space and is put back.
func w3cTime(s, name string) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	if len(s) > 10 {
		s = s[:10] + strings.ReplaceAll(s[10:], " ", "+")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", s, hazardbot.Shanghai); err == nil {
		return t, nil
	}
	return time.Time{}, errorf(http.StatusBadRequest, "%s %q is not a W3C date-time such as 2010-01-01T00:00:00Z", name, s)
}

func (a *API) getRequest(r *http.Request, id string) (any, error) {
	doc, err := a.requestsDoc(r, storage.ReportQuery{Tickets: []string{id}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(doc.(requestsDoc).Requests) == 0 {
		return nil, errorf(http.StatusNotFound, "service_request_id %q was not found", id)
	}
	return doc, nil
}

func (a *API) getToken(r *http.Request, token string) (any, error) {
	id, err := a.Store.ReportIDByOpen311Token(r.Context(), token)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "token %q was not found", token)
	}
	if err != nil {
		return nil, err
	}
	rep, err := a.Store.Report(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return tokensDoc{Requests: []tokenDoc{{ID: rep.Ticket, Token: token}}}, nil
}

func (a *API) requestsDoc(r *http.Request, rq storage.ReportQuery) (any, error) {
	ctx := r.Context()
	reports, err := a.Store.QueryReports(ctx, rq)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(reports))
	for i, rep := range reports {
		ids[i] = rep.ID
	}
	events, err := a.Store.LatestPublicEvents(ctx, ids)
	if err != nil {
		return nil, err
	}
	media, err := a.Store.Open311MediaURLs(ctx, ids)
	if err != nil {
		return nil, err
	}
	c := a.Content()
	communities := map[string]string{}
	for _, cm := range c.Grids.Communities() {
		communities[cm.ID] = cm.Name
	}
	doc := requestsDoc{Requests: make([]requestDoc, 0, len(reports))}
	for _, rep := range reports {
		cat, _ := c.CategoryByID(rep.Category)
		d := requestDoc{
			ID: rep.Ticket, Status: "closed", StatusNotes: statusNotes(rep, events[rep.ID]),
			ServiceName: cat.Name, ServiceCode: rep.Category, Description: publicText(rep.Description, maxDescription),
			AgencyResponsible: communities[rep.CommunityID],
			RequestedDatetime: w3c(rep.CreatedAt), UpdatedDatetime: w3c(rep.UpdatedAt),
			Address: publicText(rep.Address, 255), MediaURL: media[rep.ID],
		}
		if rep.Status.Open() {
			d.Status = "open"
		}
		if rep.HasLocation {
			lat, lng := hazardbot.GCJ02ToWGS84(rep.Lat, rep.Lng)
			lat, lng = round(lat, coordDecimals), round(lng, coordDecimals)
			d.Lat, d.Long = &lat, &lng
		}
		doc.Requests = append(doc.Requests, d)
	}
	return doc, nil
}

// statusNotes is the status as residents read it (已销号, 不予受理, …), with
// the note of the public timeline entry that brought it.
func statusNotes(rep hazardbot.Report, last hazardbot.Event) string {
	notes := rep.Status.Name()
	if last.ReportID == rep.ID && last.To == rep.Status && strings.TrimSpace(last.Note) != "" {
		notes += "：" + publicText(last.Note, 500)
	}
	return notes
}

// publicText is free text as it may leave: contact details masked, cut to
// n characters.
func publicText(s string, n int) string {
	s = hazardbot.MaskContacts(s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return s
}

func w3c(t time.Time) string { return t.In(hazardbot.Shanghai).Format(time.RFC3339) }

func round(f float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(f*p) / p
}
