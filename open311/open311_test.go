package open311_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/open311"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// A point inside the demo grids (东湖社区), in WGS84 as a hotline's map
// would give it: the GCJ-02 point the chat tests use, converted back.
var wgsLat, wgsLng = hazardbot.GCJ02ToWGS84(36.0650, 103.8480)

const apiKey = "xyz-hotline-key-0123456789"

type fixture struct {
	t     *testing.T
	st    *storage.Store
	clock *storagetest.Clock
	url   string
}

func newFixture(t *testing.T, st *storage.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, st: st, clock: storagetest.NewClock(time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC))}
	c := content.MustLoadEmbedded()
	api := &open311.API{Store: st, Content: func() *content.Content { return c }, Now: f.clock.Now,
		Keys: map[string]string{"hotline12345": apiKey}, Changeset: f.clock.Now()}
	mux := http.NewServeMux()
	mux.Handle(open311.Prefix, api.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/open311/v2/"
	return f
}

func (f *fixture) do(method, path string, form url.Values) (int, http.Header, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// get fetches path and decodes it, checking the status and the content type
// that goes with the suffix.
func (f *fixture) get(path string, status int, into any) string {
	f.t.Helper()
	code, h, body := f.do(http.MethodGet, path, nil)
	f.check(path, code, h, body, status, into)
	return body
}

func (f *fixture) post(path string, form url.Values, status int, into any) string {
	f.t.Helper()
	code, h, body := f.do(http.MethodPost, path, form)
	f.check(path, code, h, body, status, into)
	return body
}

func (f *fixture) check(path string, code int, h http.Header, body string, status int, into any) {
	f.t.Helper()
	if code != status {
		f.t.Fatalf("%s: status %d, want %d: %s", path, code, status, body)
	}
	p, _, _ := strings.Cut(path, "?")
	if strings.HasSuffix(p, ".json") {
		if h.Get("Content-Type") != "application/json; charset=utf-8" {
			f.t.Fatalf("%s: content type %q", path, h.Get("Content-Type"))
		}
		if into != nil {
			if err := json.Unmarshal([]byte(body), into); err != nil {
				f.t.Fatalf("%s: %v\n%s", path, err, body)
			}
		}
		return
	}
	if h.Get("Content-Type") != "text/xml; charset=utf-8" || !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`) {
		f.t.Fatalf("%s: not an XML document with its declaration: %q %q", path, h.Get("Content-Type"), body)
	}
	if into != nil {
		if err := xml.Unmarshal([]byte(body), into); err != nil {
			f.t.Fatalf("%s: %v\n%s", path, err, body)
		}
	}
}

// The documents as the specification's examples show them.
type xmlErrors struct {
	XMLName xml.Name `xml:"errors"`
	Errors  []struct {
		Code        int    `xml:"code"`
		Description string `xml:"description"`
	} `xml:"error"`
}

type jsonError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

type xmlService struct {
	Code        string `xml:"service_code" json:"service_code"`
	Name        string `xml:"service_name" json:"service_name"`
	Description string `xml:"description" json:"description"`
	Metadata    bool   `xml:"metadata" json:"metadata"`
	Type        string `xml:"type" json:"type"`
	Keywords    string `xml:"keywords" json:"keywords"`
	Group       string `xml:"group" json:"group"`
}

type xmlRequest struct {
	ID                string   `xml:"service_request_id" json:"service_request_id"`
	Token             string   `xml:"token" json:"token"`
	Notice            string   `xml:"service_notice" json:"service_notice"`
	Status            string   `xml:"status" json:"status"`
	StatusNotes       string   `xml:"status_notes" json:"status_notes"`
	ServiceName       string   `xml:"service_name" json:"service_name"`
	ServiceCode       string   `xml:"service_code" json:"service_code"`
	Description       string   `xml:"description" json:"description"`
	AgencyResponsible string   `xml:"agency_responsible" json:"agency_responsible"`
	RequestedDatetime string   `xml:"requested_datetime" json:"requested_datetime"`
	UpdatedDatetime   string   `xml:"updated_datetime" json:"updated_datetime"`
	Address           string   `xml:"address" json:"address"`
	Lat               *float64 `xml:"lat" json:"lat"`
	Long              *float64 `xml:"long" json:"long"`
	MediaURL          string   `xml:"media_url" json:"media_url"`
}

type xmlRequests struct {
	XMLName  xml.Name     `xml:"service_requests"`
	Requests []xmlRequest `xml:"request"`
}

// exampleForm is the specification's POST example, with our service code, a
// place in the demo grids and Chinese contact details.
func exampleForm() url.Values {
	return url.Values{
		"api_key": {apiKey}, "jurisdiction_id": {"city.gov"}, "service_code": {"fire"},
		"lat": {fmtFloat(wgsLat)}, "long": {fmtFloat(wgsLng)}, "address_string": {"东湖路18号3号楼"},
		"email": {"smit333@sfgov.edu"}, "device_id": {"tt222111"}, "account_id": {"123456"},
		"first_name": {"john"}, "last_name": {"smith"}, "phone": {"139 1111 2222"},
		"description": {"3号楼楼道堆满纸箱，堵住了消防通道。联系我 13911112222"},
		"media_url":   {"http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"},
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func TestDiscovery(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t))
	var x struct {
		Changeset  string `xml:"changeset"`
		Contact    string `xml:"contact"`
		KeyService string `xml:"key_service"`
		Endpoints  []struct {
			Specification string   `xml:"specification"`
			URL           string   `xml:"url"`
			Type          string   `xml:"type"`
			Formats       []string `xml:"formats>format"`
		} `xml:"endpoints>endpoint"`
	}
	f.get("discovery.xml", 200, &x)
	if len(x.Endpoints) != 1 || x.Endpoints[0].Specification != open311.Specification ||
		!strings.HasSuffix(x.Endpoints[0].URL, "/open311/v2") || x.Endpoints[0].Type != "production" ||
		strings.Join(x.Endpoints[0].Formats, ",") != "text/xml,application/json" || x.Changeset == "" || x.Contact == "" || x.KeyService == "" {
		t.Fatalf("discovery %+v", x)
	}
	var j struct {
		Endpoints []struct {
			Formats []string `json:"formats"`
		} `json:"endpoints"`
	}
	f.get("discovery.json", 200, &j)
	if len(j.Endpoints) != 1 || len(j.Endpoints[0].Formats) != 2 {
		t.Fatalf("discovery.json %+v", j)
	}
}

func TestServicesAndDefinitions(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t))
	var x struct {
		Services []xmlService `xml:"service"`
	}
	f.get("services.xml?jurisdiction_id=city.gov", 200, &x)
	var j []xmlService
	f.get("services.json", 200, &j)
	cats := content.MustLoadEmbedded().Categories
	if len(x.Services) != len(cats) || len(j) != len(cats) {
		t.Fatalf("%d services in XML, %d in JSON, want %d", len(x.Services), len(j), len(cats))
	}
	for i, cat := range cats {
		s := x.Services[i]
		if s.Code != cat.ID || s.Name != cat.Name || s.Description != cat.Hint || s.Type != "realtime" ||
			s.Metadata != cat.Urgent || s.Group == "" || j[i] != s {
			t.Fatalf("service %d: %+v (JSON %+v) for %+v", i, s, j[i], cat)
		}
	}

	var def struct {
		XMLName    xml.Name `xml:"service_definition"`
		Code       string   `xml:"service_code"`
		Attributes []struct {
			Variable bool   `xml:"variable"`
			Code     string `xml:"code"`
			Datatype string `xml:"datatype"`
			Required bool   `xml:"required"`
			Order    int    `xml:"order"`
			Values   []struct {
				Key  string `xml:"key"`
				Name string `xml:"name"`
			} `xml:"values>value"`
		} `xml:"attributes>attribute"`
	}
	f.get("services/gas.xml", 200, &def)
	if def.Code != "gas" || len(def.Attributes) != 1 {
		t.Fatalf("gas definition %+v", def)
	}
	a := def.Attributes[0]
	if !a.Variable || a.Code != "DANGER_NOW" || a.Datatype != "singlevaluelist" || !a.Required || a.Order != 1 ||
		len(a.Values) != 2 || a.Values[0].Key != "yes" {
		t.Fatalf("attribute %+v", a)
	}
	body := f.get("services/fire.json", 200, nil)
	if body != `{"service_code":"fire","attributes":[]}` {
		t.Fatalf("fire definition %s", body)
	}
	var e xmlErrors
	f.get("services/potholes.xml", 404, &e)
	if len(e.Errors) != 1 || e.Errors[0].Code != 404 || !strings.Contains(e.Errors[0].Description, "potholes") {
		t.Fatalf("errors %+v", e)
	}
}

func TestFileAndFollowARequest(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		f := newFixture(t, st)
		ctx := context.Background()

		var posted xmlRequests
		f.post("requests.xml", exampleForm(), 200, &posted)
		if len(posted.Requests) != 1 || !hazardbot.TicketPattern.MatchString(posted.Requests[0].ID) ||
			posted.Requests[0].Token != "" || !strings.Contains(posted.Requests[0].Notice, "24小时") {
			t.Fatalf("posted %+v", posted)
		}
		ticket := posted.Requests[0].ID

		// Stored like a chat report, from the hotline's channel, in GCJ-02.
		rep, err := st.ReportByTicket(ctx, ticket)
		storagetest.Must(t, err)
		if rep.Source != "open311" || rep.OpenID != "open311:hotline12345" || rep.Category != "fire" ||
			rep.CommunityID != "c1" || rep.Phone != "13911112222" || rep.Status != hazardbot.StatusPending ||
			math.Abs(rep.Lat-36.0650) > 1e-7 || math.Abs(rep.Lng-103.8480) > 1e-7 || rep.CoordSys != "gcj02" {
			t.Fatalf("stored %+v", rep)
		}
		tl, err := st.Timeline(ctx, rep.ID, true)
		storagetest.Must(t, err)
		if len(tl) != 1 {
			t.Fatalf("timeline %+v", tl)
		}

		// A retried POST (the answer was lost) gets the same ticket.
		var again []xmlRequest
		f.post("requests.json", exampleForm(), 200, &again)
		if len(again) != 1 || again[0].ID != ticket {
			t.Fatalf("retry got %+v, want %s", again, ticket)
		}

		// Reading it back: open, its status, and nobody's identity.
		var got xmlRequests
		body := f.get("requests/"+strings.ToLower(ticket)+".xml?jurisdiction_id=city.gov", 200, &got)
		for _, secret := range []string{"smit333", "sfgov", "tt222111", "123456", "john", "smith", "13911112222", "1111", "open311:", "hotline"} {
			if strings.Contains(body, secret) {
				t.Fatalf("the answer gives away %q:\n%s", secret, body)
			}
		}
		r := got.Requests[0]
		if r.ID != ticket || r.Status != "open" || r.StatusNotes != "待核实" || r.ServiceCode != "fire" ||
			r.ServiceName != "消防安全（含消防通道）" || r.AgencyResponsible != "东湖社区" || r.Address != "东湖路18号3号楼" ||
			!strings.Contains(r.Description, "[电话已隐去]") || r.MediaURL == "" ||
			r.RequestedDatetime != "2026-11-28T10:00:00+08:00" {
			t.Fatalf("request %+v", r)
		}
		if r.Lat == nil || math.Abs(*r.Lat-wgsLat) > 1e-4 || math.Abs(*r.Long-wgsLng) > 1e-4 || *r.Lat != math.Round(*r.Lat*1e4)/1e4 {
			t.Fatalf("location %v,%v; want about %v,%v", *r.Lat, *r.Long, wgsLat, wgsLng)
		}

		// Staff close it; the list shows it closed with the note.
		f.clock.Advance(26 * time.Hour)
		for _, to := range []hazardbot.Status{hazardbot.StatusVerified, hazardbot.StatusClosed} {
			_, err = st.ChangeStatus(ctx, storage.StatusChange{ReportID: rep.ID, From: rep.Status, To: to, Actor: "staff:li",
				Note: "纸箱已清走，通道畅通", Public: true, At: f.clock.Now()})
			storagetest.Must(t, err)
			rep.Status = to
		}
		var list []xmlRequest
		f.get("requests.json?status=closed", 200, &list)
		if len(list) != 1 || list[0].Status != "closed" || list[0].StatusNotes != "已销号：纸箱已清走，通道畅通" ||
			list[0].UpdatedDatetime != "2026-11-29T12:00:00+08:00" {
			t.Fatalf("closed list %+v", list)
		}
		f.get("requests.json?status=open", 200, &list)
		if len(list) != 0 {
			t.Fatalf("open list %+v", list)
		}

		// The token recorded with the request resolves to it.
		var token string
		storagetest.Must(t, st.DB.GetContext(ctx, &token, "SELECT token FROM open311_requests WHERE report_id = ?", rep.ID))
		var tok xmlRequests
		f.get("tokens/"+token+".xml", 200, &tok)
		if len(tok.Requests) != 1 || tok.Requests[0].ID != ticket || tok.Requests[0].Token != token {
			t.Fatalf("token %+v", tok)
		}
		var e []jsonError
		f.get("tokens/12345.json", 404, &e)
		if len(e) != 1 || e[0].Code != 404 {
			t.Fatalf("unknown token %+v", e)
		}
		f.get("requests/YH-20000101-0001.json", 404, &e)
	})
}

func TestPostErrors(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t))
	with := func(change func(url.Values)) url.Values {
		form := exampleForm()
		change(form)
		return form
	}
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		says   string
	}{
		{"no key", "requests.xml", with(func(v url.Values) { v.Del("api_key") }), 403, "api_key"},
		{"wrong key", "requests.json", with(func(v url.Values) { v.Set("api_key", "guess") }), 403, "invalid api_key"},
		{"no service", "requests.xml", with(func(v url.Values) { v.Del("service_code") }), 400, "service_code"},
		{"unknown service", "requests.xml", with(func(v url.Values) { v.Set("service_code", "001") }), 404, "001"},
		{"no location", "requests.xml", with(func(v url.Values) { v.Del("lat"); v.Del("long"); v.Del("address_string") }), 400, "location"},
		{"half a location", "requests.xml", with(func(v url.Values) { v.Del("long") }), 400, "lat and long"},
		{"address id", "requests.xml", with(func(v url.Values) {
			v.Del("lat")
			v.Del("long")
			v.Del("address_string")
			v.Set("address_id", "545483")
		}), 400, "address_id"},
		{"no description", "requests.xml", with(func(v url.Values) { v.Del("description") }), 400, "description"},
		{"long description", "requests.xml", with(func(v url.Values) { v.Set("description", strings.Repeat("堵", 4001)) }), 400, "4000"},
		{"bad phone", "requests.xml", with(func(v url.Values) { v.Set("phone", "call me") }), 400, "phone"},
		{"bad email", "requests.xml", with(func(v url.Values) { v.Set("email", "nobody") }), 400, "email"},
		{"bad media", "requests.xml", with(func(v url.Values) { v.Set("media_url", "javascript:alert(1)") }), 400, "media_url"},
		{"required attribute", "requests.xml", with(func(v url.Values) { v.Set("service_code", "gas") }), 400, "attribute[DANGER_NOW]"},
		{"bad attribute value", "requests.xml", with(func(v url.Values) { v.Set("service_code", "gas"); v.Set("attribute[DANGER_NOW]", "maybe") }), 400, "DANGER_NOW"},
		{"no format", "requests", exampleForm(), 400, "requests.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := f.do(http.MethodPost, tc.path, tc.form)
			if code != tc.status || !strings.Contains(body, tc.says) {
				t.Fatalf("status %d, want %d; body %s", code, tc.status, body)
			}
			if strings.HasSuffix(tc.path, ".json") {
				var e []jsonError
				if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 1 || e[0].Code != tc.status {
					t.Fatalf("not a JSON error list: %s", body)
				}
				return
			}
			var e xmlErrors
			if err := xml.Unmarshal([]byte(body), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Code != tc.status {
				t.Fatalf("not an XML errors document: %s", body)
			}
		})
	}
	var n int
	storagetest.Must(t, f.st.DB.Get(&n, "SELECT COUNT(*) FROM reports"))
	if n != 0 {
		t.Fatalf("refused requests stored %d reports", n)
	}
}

func TestUrgentRequestWithAttribute(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t))
	form := exampleForm()
	form.Set("service_code", "gas")
	form.Set("attribute[DANGER_NOW]", "yes")
	form.Del("lat")
	form.Del("long")
	var posted xmlRequests
	f.post("requests.xml", form, 200, &posted)
	if !strings.Contains(posted.Requests[0].Notice, "119") {
		t.Fatalf("notice %q", posted.Requests[0].Notice)
	}
	rep, err := f.st.ReportByTicket(context.Background(), posted.Requests[0].ID)
	storagetest.Must(t, err)
	if !rep.Urgent || !strings.HasPrefix(rep.Description, "【来电称险情正在发生】") || rep.HasLocation || rep.Address != "东湖路18号3号楼" {
		t.Fatalf("stored %+v", rep)
	}
	var got xmlRequests
	f.get("requests/"+rep.Ticket+".xml", 200, &got)
	if got.Requests[0].Lat != nil {
		t.Fatalf("a request without coordinates got some: %+v", got.Requests[0])
	}
}

func TestListingFilters(t *testing.T) {
	st := storagetest.OpenSQLite(t)
	f := newFixture(t, st)
	ctx := context.Background()
	now := f.clock.Now()
	file := func(openid, cat string, at time.Time) string {
		r := &hazardbot.Report{OpenID: openid, Category: cat, Description: "隐患描述，电话 13800001111", Phone: "13800001111",
			HasLocation: true, Lat: 36.0650, Lng: 103.8480}
		storagetest.Must(t, st.SubmitReport(ctx, r, openid+cat+at.String(), at))
		return r.Ticket
	}
	recentFire := file("o-resident-a", "fire", now.Add(-time.Hour))
	recentGas := file("o-resident-b", "gas", now.Add(-48*time.Hour))
	oldFire := file("o-resident-c", "fire", now.AddDate(0, 0, -100))

	ids := func(path string) string {
		t.Helper()
		var list []xmlRequest
		body := f.get(path, 200, &list)
		if strings.Contains(body, "o-resident") || strings.Contains(body, "13800001111") {
			t.Fatalf("%s gives away a resident: %s", path, body)
		}
		var out []string
		for _, r := range list {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ path, want string }{
		{"requests.json", recentFire + "," + recentGas}, // the last 90 days, newest first
		{"requests.json?service_code=gas", recentGas},
		{"requests.json?service_code=fire,gas&status=open", recentFire + "," + recentGas},
		{"requests.json?service_code=fire&service_code=gas", recentFire + "," + recentGas},
		{"requests.json?status=closed", ""},
		{"requests.json?start_date=" + url.QueryEscape(now.AddDate(0, 0, -120).Format(time.RFC3339)), oldFire},
		{"requests.json?end_date=" + now.Add(-24*time.Hour).Format(time.RFC3339), recentGas},
		// An unencoded "+" arrives as a space.
		{"requests.json?start_date=2026-11-26T00:00:00+08:00&end_date=2026-11-27T00:00:00+08:00", recentGas},
		{"requests.json?start_date=2026-11-26&end_date=2026-11-27", recentGas},
		// service_request_id overrides the rest, the date window included.
		{"requests.json?service_request_id=" + oldFire + "," + recentGas + "&status=closed", recentGas + "," + oldFire},
	} {
		if got := ids(tc.path); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.path, got, tc.want)
		}
	}
	var e []jsonError
	for _, path := range []string{
		"requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
		"requests.json?start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
		"requests.json?start_date=yesterday",
		"requests.json?status=pending",
	} {
		f.get(path, 400, &e)
		if len(e) != 1 || e[0].Code != 400 {
			t.Fatalf("%s: %+v", path, e)
		}
	}
}

func TestRoutesAndFormats(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t))
	for _, tc := range []struct {
		method, path string
		status       int
		xml          bool
	}{
		{"GET", "services", 400, true},
		{"GET", "services.html", 400, true},
		{"GET", "nothing.json", 404, false},
		{"GET", "requests/a/b.xml", 404, true},
		{"DELETE", "requests.json", 405, false},
		{"POST", "services.xml", 405, true},
	} {
		code, h, body := f.do(tc.method, tc.path, nil)
		wantType := "application/json; charset=utf-8"
		if tc.xml {
			wantType = "text/xml; charset=utf-8"
		}
		if code != tc.status || h.Get("Content-Type") != wantType {
			t.Errorf("%s %s: %d %s, want %d %s: %s", tc.method, tc.path, code, h.Get("Content-Type"), tc.status, wantType, body)
		}
	}
}
