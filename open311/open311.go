// Package open311 serves the Open311 GeoReport v2 API
// (http://wiki.open311.org/GeoReport_v2) under /open311/v2/, so that the
// city's 12345 hotline and other channels can file hazards into hazardbot
// and follow them: discovery, the services (our hazard categories) with
// their definitions, filing a request (stored exactly like a report made in
// the chat), listing and reading requests, and resolving tokens — in XML,
// which the specification requires, and in JSON, chosen by the URL's
// suffix.
//
// Nothing that identifies a reporter ever leaves through it: no openid, no
// phone number or e-mail address, no name; contact details residents typed
// into a description or an address are masked, and coordinates are rounded
// to about ten metres.
package open311

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/storage"
)

// Prefix is where the API is mounted.
const Prefix = "/open311/v2/"

// Specification identifies GeoReport v2 in the discovery document.
const Specification = "http://wiki.open311.org/GeoReport_v2"

// Store is what the API needs from storage.
type Store interface {
	SubmitReport(ctx context.Context, r *hazardbot.Report, key string, now time.Time) error
	SaveOpen311Request(ctx context.Context, r storage.Open311Request) (storage.Open311Request, error)
	ReportByTicket(ctx context.Context, ticket string) (hazardbot.Report, error)
	Report(ctx context.Context, id int64) (hazardbot.Report, error)
	ReportIDByOpen311Token(ctx context.Context, token string) (int64, error)
	QueryReports(ctx context.Context, q storage.ReportQuery) ([]hazardbot.Report, error)
	LatestPublicEvents(ctx context.Context, reportIDs []int64) (map[int64]hazardbot.Event, error)
	Open311MediaURLs(ctx context.Context, reportIDs []int64) (map[int64]string, error)
}

// API is the Open311 HTTP surface.
type API struct {
	Store   Store
	Content func() *content.Content
	// Keys maps each API client's name (e.g. hotline12345) to its api_key;
	// filing a request needs one of them. Reading needs none.
	Keys map[string]string
	Now  func() time.Time
	Log  *slog.Logger
	// BaseURL is the public address of the API (…/open311/v2) announced in
	// discovery; "" derives it from the request.
	BaseURL string
	// Test marks the endpoint "test" in discovery (demo mode).
	Test bool
	// Changeset is when the services last changed: content loads at start,
	// so the start time.
	Changeset time.Time
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

// apiError is an error the client sees, with the HTTP status of its kind:
// 400 for a bad request, 403 for a missing or wrong api_key, 404 for what
// does not exist.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Formats the API speaks, by URL suffix.
const (
	formatXML  = "xml"
	formatJSON = "json"
)

// handlerFunc handles one resource; it returns the document to send or an
// error, and ServeHTTP turns either into a response.
type handlerFunc func(r *http.Request, id string) (any, error)

// Handler serves the API; mount it at Prefix.
func (a *API) Handler() http.Handler { return http.HandlerFunc(a.serve) }

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/"))
	path = strings.TrimPrefix(path, "/")
	format := formatXML // the format the specification requires, also for errors about the format
	base, ext, hasExt := cutLast(path, ".")
	if hasExt && (ext == formatXML || ext == formatJSON) {
		format = ext
	}
	doc, err := a.route(r, base, ext, hasExt)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			a.log().Error("open311 request failed", "path", r.URL.Path, "err", err)
			ae = &apiError{Status: http.StatusInternalServerError, Msg: "internal error; please try again later"}
		}
		if ae.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allowed(base))
		}
		write(w, format, ae.Status, errorsDoc{Errors: []errorDoc{{Code: ae.Status, Description: ae.Msg}}})
		return
	}
	if r.Method == http.MethodGet {
		// Reading is public by design; browsers showing a city map may ask.
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	write(w, format, http.StatusOK, doc)
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// route picks the resource; base is the path without the format suffix.
func (a *API) route(r *http.Request, base, ext string, hasExt bool) (any, error) {
	dir, id, _ := strings.Cut(base, "/")
	var h handlerFunc
	method := http.MethodGet
	switch {
	case base == "discovery":
		h = a.discovery
	case base == "services":
		h = a.services
	case dir == "services" && id != "" && !strings.Contains(id, "/"):
		h = a.serviceDefinition
	case base == "requests" && r.Method == http.MethodPost:
		h, method = a.postRequest, http.MethodPost
	case base == "requests":
		h = a.getRequests
	case dir == "requests" && id != "" && !strings.Contains(id, "/"):
		h = a.getRequest
	case dir == "tokens" && id != "" && !strings.Contains(id, "/"):
		h = a.getToken
	default:
		return nil, errorf(http.StatusNotFound, "no such resource: %s", r.URL.Path)
	}
	if !hasExt || (ext != formatXML && ext != formatJSON) {
		return nil, errorf(http.StatusBadRequest, "add the format to the URL: %s.xml or %s.json", base, base)
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		return nil, errorf(http.StatusMethodNotAllowed, "%s is not allowed on %s", r.Method, base)
	}
	return h(r, id)
}

func allowed(base string) string {
	if base == "requests" {
		return "GET, HEAD, POST"
	}
	return "GET, HEAD"
}

// write sends a document as XML (with the declaration the specification
// asks for) or JSON (the XML's Spark-convention mapping: lists become
// arrays, the root element disappears).
func write(w http.ResponseWriter, format string, status int, doc any) {
	var body []byte
	var err error
	if format == formatJSON {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if j, ok := doc.(interface{ jsonDoc() any }); ok {
			doc = j.jsonDoc()
		}
		body, err = json.Marshal(doc)
	} else {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		body, err = xml.Marshal(doc)
		body = append([]byte(xml.Header), body...)
	}
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type errorDoc struct {
	Code        int    `xml:"code" json:"code"`
	Description string `xml:"description" json:"description"`
}

type errorsDoc struct {
	XMLName xml.Name   `xml:"errors" json:"-"`
	Errors  []errorDoc `xml:"error"`
}

func (d errorsDoc) jsonDoc() any { return d.Errors }

// authorise finds the client an api_key belongs to. Every key is compared,
// in constant time, so the answer's timing tells nothing about the keys.
func (a *API) authorise(key string) (string, error) {
	if key == "" {
		return "", errorf(http.StatusForbidden, "api_key is missing: filing a request needs the key the sub-district issued to you")
	}
	client := ""
	for name, k := range a.Keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			client = name
		}
	}
	if client == "" {
		return "", errorf(http.StatusForbidden, "invalid api_key received -- can't proceed with create_request")
	}
	return client, nil
}

type discoveryDoc struct {
	XMLName    xml.Name      `xml:"discovery" json:"-"`
	Changeset  string        `xml:"changeset" json:"changeset"`
	Contact    string        `xml:"contact" json:"contact"`
	KeyService string        `xml:"key_service" json:"key_service"`
	Endpoints  []endpointDoc `xml:"endpoints>endpoint" json:"endpoints"`
}

type endpointDoc struct {
	Specification string   `xml:"specification" json:"specification"`
	URL           string   `xml:"url" json:"url"`
	Changeset     string   `xml:"changeset" json:"changeset"`
	Type          string   `xml:"type" json:"type"`
	Formats       []string `xml:"formats>format" json:"formats"`
}

func (a *API) discovery(r *http.Request, _ string) (any, error) {
	url := a.BaseURL
	if url == "" {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		url = scheme + "://" + r.Host + strings.TrimSuffix(Prefix, "/")
	}
	kind := "production"
	if a.Test {
		kind = "test"
	}
	changeset := a.Changeset.In(hazardbot.Shanghai).Format("2006-01-02 15:04")
	return discoveryDoc{
		Changeset:  changeset,
		Contact:    "街道应急管理办公室：请联系街道获取接口帮助 / contact the sub-district's emergency management office",
		KeyService: "api_key 由街道管理员签发，仅提交工单需要 / keys, needed only to file requests, are issued by the sub-district's administrator",
		Endpoints: []endpointDoc{{Specification: Specification, URL: url, Changeset: changeset, Type: kind,
			Formats: []string{"text/xml", "application/json"}}},
	}, nil
}
