package console

import (
	"net/http"
	"net/url"

	"hazardbot"
	"hazardbot/storage"
)

// bar is one line of a dashboard breakdown: a label, figures, the bar's
// length in the SVG (0-200) and where a click leads.
type bar struct {
	Label       string
	Total, Open int
	Width       int
	Colour      string
	Href        string
}

type dayBar struct {
	Day                     string
	Filed, Closed           int
	FiledH, ClosedH, FY, CY int
	X                       int
}

type dashboardView struct {
	S                                 storage.CaseStats
	Status, Category, Community, Risk []bar
	Week                              []dayBar
	Scope                             string
}

func bars(counts []storage.Count, label func(string) string, colour func(string) string, href func(string) string, useOpen bool) []bar {
	top := 1
	for _, c := range counts {
		n := c.Total
		if useOpen {
			n = c.Open
		}
		top = max(top, n)
	}
	var out []bar
	for _, c := range counts {
		n := c.Total
		if useOpen {
			if c.Open == 0 {
				continue
			}
			n = c.Open
		}
		out = append(out, bar{Label: label(c.Key), Total: c.Total, Open: c.Open, Width: max(2, n*200/top),
			Colour: colour(c.Key), Href: href(c.Key)})
	}
	return out
}

func listURL(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "/console/cases?" + v.Encode()
}

func (c *Console) dashboard(w http.ResponseWriter, r *request) error {
	scope := ""
	if r.staff.Role == hazardbot.RoleCommunity {
		scope = r.staff.CommunityID
	}
	st, err := c.Store.Stats(r.Context(), scope, r.now)
	if err != nil {
		return err
	}
	blue := func(string) string { return "#3b6db3" }
	v := dashboardView{S: st}
	if scope != "" {
		v.Scope = c.communityName(scope)
	}
	v.Status = bars(st.ByStatus, func(k string) string { return hazardbot.Status(k).Name() }, blue,
		func(k string) string { return listURL("status", k) }, false)
	v.Category = bars(st.ByCategory, c.categoryName, blue, func(k string) string { return listURL("category", k) }, false)
	v.Community = bars(st.ByCommunity, c.communityName, blue, func(k string) string { return listURL("community", k) }, false)
	v.Risk = bars(st.ByRisk, func(k string) string {
		if k == "" {
			return "未分级（待核实）"
		}
		return hazardbot.Risk(k).Name() + " · " + hazardbot.Risk(k).Label()
	}, func(k string) string { return hazardbot.Risk(k).Colour() }, func(k string) string {
		if k == "" {
			return listURL("status", "pending")
		}
		return listURL("status", "open", "risk", k)
	}, true)
	top := 1
	for _, d := range st.Week {
		top = max(top, d.Filed, d.Closed)
	}
	for i, d := range st.Week {
		b := dayBar{Day: d.Day[5:], Filed: d.Filed, Closed: d.Closed, FiledH: d.Filed * 100 / top, ClosedH: d.Closed * 100 / top, X: 20 + i*70}
		b.FY, b.CY = 120-b.FiledH, 120-b.ClosedH
		v.Week = append(v.Week, b)
	}
	c.render(w, r, http.StatusOK, "dashboard", "概览", v)
	return nil
}
