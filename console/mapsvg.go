package console

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"hazardbot"
	"hazardbot/content"
)

// The risk map is drawn here as SVG from grids.geojson: no tile service, no
// API key, no internet. Geometry becomes numbers in Go; the template only
// places them, so nothing a resident typed reaches a path.

type svgMap struct {
	W, H   int
	Grids  []svgGrid
	Labels []svgLabel
	Pins   []svgPin
}

type svgGrid struct {
	D, Fill, Stroke, Title string
	Opacity                string
}

type svgLabel struct {
	X, Y int
	Text string
	Size int
}

type svgPin struct {
	X, Y           int
	R              int
	Colour, Stroke string
	Href, Title    string
}

// projection maps GCJ-02 longitude/latitude onto the SVG, keeping shapes
// true at the sub-district's latitude.
type projection struct {
	minLng, maxLat, scale, cos float64
	pad                        float64
}

func newProjection(b orb.Bound, width float64) (projection, int) {
	const pad = 16
	mid := (b.Min[1] + b.Max[1]) / 2
	p := projection{minLng: b.Min[0], maxLat: b.Max[1], cos: math.Cos(mid * math.Pi / 180), pad: pad}
	w := (b.Max[0] - b.Min[0]) * p.cos
	if w <= 0 {
		w = 1e-6
	}
	p.scale = (width - 2*pad) / w
	h := int((b.Max[1]-b.Min[1])*p.scale + 2*pad)
	return p, h
}

func (p projection) xy(pt orb.Point) (float64, float64) {
	return (pt[0]-p.minLng)*p.cos*p.scale + p.pad, (p.maxLat-pt[1])*p.scale + p.pad
}

func (p projection) path(poly orb.Polygon) string {
	var b strings.Builder
	for _, ring := range poly {
		for i, pt := range ring {
			x, y := p.xy(pt)
			if i == 0 {
				b.WriteString("M")
			} else {
				b.WriteString(" L")
			}
			b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
			b.WriteString(",")
			b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
		}
		b.WriteString(" Z ")
	}
	return strings.TrimSpace(b.String())
}

func gridsBound(g *content.Grids) orb.Bound {
	b := g.List[0].Bound
	for _, gr := range g.List[1:] {
		b = b.Union(gr.Bound)
	}
	return b
}

// draw renders the grids shaded by level (gridRisk: grid id → highest open
// level) and the pins.
func draw(g *content.Grids, width float64, gridRisk map[string]hazardbot.Risk, cases []hazardbot.Case, highlight int64) *svgMap {
	if g == nil || len(g.List) == 0 {
		return nil
	}
	bound := gridsBound(g)
	p, h := newProjection(bound, width)
	m := &svgMap{W: int(width), H: h}
	small := width < 500
	for _, gr := range g.List {
		risk := gridRisk[gr.ID]
		fill, opacity := "#e8f0e8", "1"
		title := gr.Name + "：无在办隐患"
		if risk != "" {
			fill, opacity = risk.Colour(), "0.55"
			title = gr.Name + "：最高" + risk.Name() + "（" + risk.Label() + "）"
		}
		m.Grids = append(m.Grids, svgGrid{D: p.path(gr.Polygon), Fill: fill, Opacity: opacity, Stroke: "#5f6368", Title: title})
		if !small {
			c, _ := planar.CentroidArea(gr.Polygon)
			x, y := p.xy(c)
			name := strings.TrimPrefix(gr.Name, gr.Community)
			m.Labels = append(m.Labels, svgLabel{X: int(x), Y: int(y) + 4, Text: name, Size: 11})
		}
	}
	if !small {
		for _, cm := range g.Communities() {
			var sum orb.Point
			n := 0.0
			for _, gr := range g.List {
				if gr.CommunityID == cm.ID {
					c, _ := planar.CentroidArea(gr.Polygon)
					sum[0] += c[0]
					sum[1] += c[1]
					n++
				}
			}
			x, y := p.xy(orb.Point{sum[0] / n, sum[1] / n})
			m.Labels = append(m.Labels, svgLabel{X: int(x), Y: int(y) - 12, Text: cm.Name, Size: 15})
		}
	}
	for _, cs := range cases {
		if !cs.HasLocation {
			continue
		}
		pt := orb.Point{cs.Lng, cs.Lat}
		if !bound.Pad(0.002).Contains(pt) {
			continue // outside the sub-district: listed, not drawn
		}
		x, y := p.xy(pt)
		pin := svgPin{X: int(x), Y: int(y), R: 6, Colour: cs.Risk().Colour(), Stroke: "#202124",
			Href: "/console/cases/" + url.PathEscape(cs.Ticket), Title: cs.Ticket + " " + cs.Status.Name() + " " + cs.Risk().Name()}
		if small {
			pin.R = 5
		}
		if cs.ID == highlight {
			pin.R, pin.Stroke = 8, "#000000"
		}
		m.Pins = append(m.Pins, pin)
	}
	return m
}

// caseMap is the small map on a case's page: the sub-district with the
// case's grid outlined and its pin.
func (c *Console) caseMap(g *content.Grids, cs hazardbot.Case) *svgMap {
	risk := map[string]hazardbot.Risk{}
	if cs.GridID != "" {
		risk[cs.GridID] = cs.Risk()
		if cs.Risk() == "" {
			risk[cs.GridID] = "none"
		}
	}
	m := draw(g, 360, risk, []hazardbot.Case{cs}, cs.ID)
	if m != nil {
		for i := range m.Grids {
			if m.Grids[i].Fill == hazardbot.Risk("none").Colour() {
				m.Grids[i].Opacity = "0.35"
			}
		}
	}
	return m
}

type mapView struct {
	Map       *svgMap
	Legend    []legendItem
	Grids     []gridRow
	Unlocated int
	Total     int
	Scope     string
}

type legendItem struct{ Colour, Label string }

type gridRow struct {
	Name, Community string
	Risk            hazardbot.Risk
	Open            int
	Href            string
}

// riskMap is the four-colour risk map: each grid takes the colour of its
// highest open risk level; pins are the open cases.
func (c *Console) riskMap(w http.ResponseWriter, r *request) error {
	scope := ""
	if r.staff.Role == hazardbot.RoleCommunity {
		scope = r.staff.CommunityID
	}
	cases, err := c.Store.OpenCases(r.Context(), scope)
	if err != nil {
		return err
	}
	g := c.Content().Grids
	gridRisk := map[string]hazardbot.Risk{}
	open := map[string]int{}
	v := mapView{Total: len(cases)}
	if scope != "" {
		v.Scope = c.communityName(scope)
	}
	for _, cs := range cases {
		if !cs.HasLocation {
			v.Unlocated++
		}
		if cs.GridID == "" {
			continue
		}
		open[cs.GridID]++
		if cs.Risk().Rank() > gridRisk[cs.GridID].Rank() {
			gridRisk[cs.GridID] = cs.Risk()
		}
	}
	v.Map = draw(g, 960, gridRisk, cases, 0)
	for _, risk := range hazardbot.Risks {
		v.Legend = append(v.Legend, legendItem{risk.Colour(), risk.Name() + " · " + risk.Label()})
	}
	v.Legend = append(v.Legend, legendItem{"#e8f0e8", "无在办隐患"}, legendItem{hazardbot.Risk("").Colour(), "待核实（未分级）"})
	if g != nil {
		for _, gr := range g.List {
			if scope != "" && gr.CommunityID != scope {
				continue
			}
			v.Grids = append(v.Grids, gridRow{Name: gr.Name, Community: gr.Community, Risk: gridRisk[gr.ID], Open: open[gr.ID],
				Href: listURL("status", "open", "community", gr.CommunityID)})
		}
	}
	c.render(w, r, http.StatusOK, "map", "风险地图", v)
	return nil
}
