package notices

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
)

// Web serves what anyone may read about notices: each published notice's
// page (/notices/{id}, where template messages link), the CAP 1.2 message
// of each warning (/cap/{id}.xml) and the Atom index of warnings in force
// (/cap/alerts.xml).
type Web struct {
	Store   ReadStore
	Content func() *content.Content
	Now     func() time.Time
	Log     *slog.Logger
	// PublicURL is the address pages and feeds link to; "" uses the
	// request's own host.
	PublicURL string
	// Sender is the CAP sender; "" derives hazardbot@<host> from the public
	// address.
	Sender string
}

// Register mounts the routes on mux.
func (h *Web) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /notices/{id}", h.handle(h.page))
	mux.HandleFunc("GET /cap/alerts.xml", h.handle(h.feed))
	mux.HandleFunc("GET /cap/{file}", h.handle(h.capMessage))
}

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("notice").Parse(pageHTML))

var errNoPage = errors.New("no such page")

func (h *Web) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// handle turns a handler's error into a response: 404 for what is not
// public, 500 (logged) otherwise.
func (h *Web) handle(f func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		switch {
		case err == nil:
		case errors.Is(err, errNoPage) || errors.Is(err, ErrNotFound):
			http.NotFound(w, r)
		default:
			if h.Log != nil {
				h.Log.Error("notices: page failed", "path", r.URL.Path, "err", err)
			}
			http.Error(w, "服务暂时不可用，请稍后再试", http.StatusInternalServerError)
		}
	}
}

// options are the CAP publisher details for this request.
func (h *Web) options(r *http.Request) CAPOptions {
	base := strings.TrimRight(h.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	sender := h.Sender
	if sender == "" {
		host := "localhost"
		if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		sender = "hazardbot@" + host
	}
	return CAPOptions{Sender: sender, Base: base}
}

// published loads a notice residents may see: one that has started going
// out. Drafts and notices withdrawn before sending don't exist publicly.
func (h *Web) published(ctx context.Context, raw string) (Notice, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return Notice{}, errNoPage
	}
	n, err := h.Store.GetNotice(ctx, id)
	if err != nil {
		return n, err
	}
	if n.PublishedAt.IsZero() {
		return n, errNoPage
	}
	return n, nil
}

func (h *Web) page(w http.ResponseWriter, r *http.Request) error {
	n, err := h.published(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c := h.Content()
	colour := "#1a73e8"
	if l, ok := c.Notices.Level(string(n.Level)); ok && n.Kind == KindWarning {
		colour = l.Colour
	} else if n.Kind == KindNotice {
		colour = "#2f6f4e"
	}
	at := func(t time.Time) string { return t.In(hazardbot.Shanghai).Format("2006年1月2日 15:04") }
	data := map[string]any{
		"T": &c.Notices, "Notice": n, "Headline": Headline(&n, c), "Badge": Badge(&n, c), "Colour": colour,
		"Published": at(n.PublishedAt), "From": at(n.From()), "Until": at(n.Until()),
		"Area": AreaDesc(n.Audience, c), "Guide": Guide(&n, c),
		"Cancelled": n.State == StateCanceled, "Expired": !h.now().Before(n.Until()),
	}
	if n.SupersededBy != 0 {
		if newer, err := h.Store.GetNotice(r.Context(), n.SupersededBy); err == nil {
			data["Superseded"] = true
			data["Lifted"] = newer.MsgType == MsgCancel
			data["Newer"] = "/notices/" + strconv.FormatInt(newer.ID, 10)
			data["NewerTitle"] = Headline(&newer, c) + "：" + newer.Title
		}
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Short: an update or a lift must show soon.
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err = w.Write(b.Bytes())
	return err
}

// CAPContentType is CAP's registered media type.
const CAPContentType = "application/common-alerting-protocol+xml; charset=utf-8"

func (h *Web) capMessage(w http.ResponseWriter, r *http.Request) error {
	raw, ok := strings.CutSuffix(r.PathValue("file"), ".xml")
	if !ok {
		return errNoPage
	}
	n, err := h.published(r.Context(), raw)
	if err != nil {
		return err
	}
	if n.Kind != KindWarning {
		return errNoPage // only warnings are CAP messages
	}
	chain, err := h.Store.Chain(r.Context(), n.ID)
	if err != nil {
		return err
	}
	out, err := CAP(&n, chain, h.Content(), h.options(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", CAPContentType)
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err = w.Write(out)
	return err
}

func (h *Web) feed(w http.ResponseWriter, r *http.Request) error {
	list, err := h.Store.InForce(r.Context(), h.now(), "", true, 200)
	if err != nil {
		return err
	}
	out, err := Atom(list, h.Content(), h.options(r), h.now())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err = w.Write(out)
	return err
}

// SortForResidents orders notices in force for 最新通知: warnings first,
// highest level first, then newest.
func SortForResidents(list []Notice) {
	slices.SortStableFunc(list, func(a, b Notice) int {
		ra, rb := 0, 0
		if a.Kind == KindWarning {
			ra = 10 + a.Level.Rank()
		}
		if b.Kind == KindWarning {
			rb = 10 + b.Level.Rank()
		}
		if ra != rb {
			return rb - ra
		}
		return b.PublishedAt.Compare(a.PublishedAt)
	})
}
