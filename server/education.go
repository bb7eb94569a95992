package server

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"

	"hazardbot/content"
	"hazardbot/storage"
)

// The public pages of the knowledge base: the chat gives a title, a
// summary and a link to /k/{id}, where the whole article reads well on a
// phone inside WeChat. The pages hold no personal data and need no login.

var knowledgeTemplate = template.Must(template.New("k").Parse(`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Article}}{{.Article.Title}} · {{end}}{{.Texts.PageSite}}</title>
{{with .Article}}<meta name="description" content="{{.Summary}}">{{end}}
<style>
body{margin:0;background:#f4f5f7;color:#1f1f1f;font:17px/1.75 -apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB","Microsoft YaHei",sans-serif}
main{max-width:40rem;margin:0 auto;padding:1rem 1.1rem 2.5rem;background:#fff;min-height:100vh;box-sizing:border-box}
.site{margin:0;color:#8c8c8c;font-size:.85rem}
h1{font-size:1.4rem;line-height:1.45;margin:.6rem 0 1rem}
h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.summary{background:#fff7e6;border-left:4px solid #fa8c16;padding:.6rem .8rem;margin:0 0 1rem}
ol,ul{padding-left:1.5rem}
li{margin:.35rem 0}
.note{background:#fff1f0;border-left:4px solid #f5222d;padding:.6rem .8rem;margin-top:1.6rem;font-size:.95rem}
</style>
</head>
<body>
<main>
<p class="site">{{.Texts.PageSite}} · {{.Texts.PageIntro}}</p>
{{with .Article}}
<h1>{{.Title}}</h1>
<p class="summary">{{.Summary}}</p>
{{range .Blocks}}{{if eq .Kind "h"}}<h2>{{.Text}}</h2>
{{else if eq .Kind "ol"}}<ol>{{range .Items}}<li>{{.}}</li>{{end}}</ol>
{{else if eq .Kind "ul"}}<ul>{{range .Items}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p>{{.Text}}</p>
{{end}}{{end}}
{{else}}
<h1>{{.Texts.NotFound}}</h1>
{{end}}
<p class="note">{{.Texts.PageNote}}</p>
</main>
</body>
</html>
`))

// knowledgePage serves /k/{id}: a knowledge article as a page.
func (s *Server) knowledgePage(w http.ResponseWriter, r *http.Request) {
	c := s.Content()
	data := struct {
		Article *content.Article
		Texts   content.KnowledgeTexts
	}{Texts: c.Education.Knowledge}
	status := http.StatusOK
	if a, ok := c.ArticleByID(r.PathValue("id")); ok {
		data.Article = &a
	} else {
		status = http.StatusNotFound
	}
	var b bytes.Buffer
	if err := knowledgeTemplate.Execute(&b, data); err != nil {
		s.Log.Error("cannot render a knowledge page", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Short: a reload of the content shows within minutes.
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// residentCommunity places a resident in a community by the last location
// they sent (GCJ-02, as the grids are), for the quiz leaderboard and its
// statistics; "" when that is unknown or outside every grid.
func (s *Server) residentCommunity(ctx context.Context, openid string) (string, error) {
	u, err := s.Store.GetUser(ctx, openid)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	grids := s.Content().Grids
	if u.LastLat == nil || u.LastLng == nil || grids == nil {
		return "", nil
	}
	if g, ok := grids.Locate(*u.LastLat, *u.LastLng); ok {
		return g.CommunityID, nil
	}
	return "", nil
}
