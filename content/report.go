package content

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// ReportTexts are the texts of the report flow and its notifications
// (report.yaml).
type ReportTexts struct {
	AskCategory           string `yaml:"ask_category"`
	CategoryHint          string `yaml:"category_hint"`
	AskDescription        string `yaml:"ask_description"`
	DescriptionTooShort   string `yaml:"description_too_short"`
	DescriptionVoiceEmpty string `yaml:"description_voice_empty"`
	DescriptionTruncated  string `yaml:"description_truncated"`
	AskPhotos             string `yaml:"ask_photos"`
	PhotoAdded            string `yaml:"photo_added"`
	PhotoKept             string `yaml:"photo_kept"`
	PhotosFull            string `yaml:"photos_full"`
	PhotosHint            string `yaml:"photos_hint"`
	AskLocation           string `yaml:"ask_location"`
	LocationHint          string `yaml:"location_hint"`
	LocationOutside       string `yaml:"location_outside"`
	LocationOutsideHint   string `yaml:"location_outside_hint"`
	AskContact            string `yaml:"ask_contact"`
	ContactHint           string `yaml:"contact_hint"`
	Summary               string `yaml:"summary"`
	ConfirmHint           string `yaml:"confirm_hint"`
	PhotosNone            string `yaml:"photos_none"`
	PhotosCount           string `yaml:"photos_count"`
	ContactAnonymous      string `yaml:"contact_anonymous"`
	AddressUnknown        string `yaml:"address_unknown"`
	Submitted             string `yaml:"submitted"`
	SubmittedWhen         string `yaml:"submitted_when"`
	SubmittedWhenUrgent   string `yaml:"submitted_when_urgent"`
	DuplicateFound        string `yaml:"duplicate_found"`
	DuplicateHint         string `yaml:"duplicate_hint"`
	Followed              string `yaml:"followed"`
	DailyCap              string `yaml:"daily_cap"`
	MyReportsEmpty        string `yaml:"my_reports_empty"`
	MyReportsHeader       string `yaml:"my_reports_header"`
	MyReportsItem         string `yaml:"my_reports_item"`
	MyReportsFooter       string `yaml:"my_reports_footer"`
	TicketNotFound        string `yaml:"ticket_not_found"`
	TimelineHeader        string `yaml:"timeline_header"`
	TimelineItem          string `yaml:"timeline_item"`
	PhotoLost             string `yaml:"photo_lost"`
	StatusChanged         string `yaml:"status_changed"`
	TemplateLinkNote      string `yaml:"template_link_note"`
}

// Category is a hazard category residents choose from.
type Category struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	Hint    string   `yaml:"hint"`
	Urgent  bool     `yaml:"urgent"`
	Advice  string   `yaml:"advice"` // said first when an urgent category is chosen
}

// CategoryByID finds a category, or returns false.
func (c *Content) CategoryByID(id string) (Category, bool) {
	for _, cat := range c.Categories {
		if cat.ID == id {
			return cat, true
		}
	}
	return Category{}, false
}

// Danger lists the words that signal immediate danger, in groups that share
// one piece of advice.
type Danger struct {
	Groups []DangerGroup `yaml:"groups"`
}

// DangerGroup is words with the advice they trigger.
type DangerGroup struct {
	Words  []string `yaml:"words"`
	Advice string   `yaml:"advice"`
}

// Advice returns the advice for the first group with a word in text.
func (d Danger) Advice(text string) (string, bool) {
	for _, g := range d.Groups {
		for _, w := range g.Words {
			if strings.Contains(text, w) {
				return g.Advice, true
			}
		}
	}
	return "", false
}

// Grid is one supervision grid, inside a community.
type Grid struct {
	ID, Name    string
	CommunityID string
	Community   string
	Polygon     orb.Polygon // [lng, lat], GCJ-02
	Bound       orb.Bound
}

// Grids are the sub-district's grids (grids.geojson).
type Grids struct {
	Name, Description string
	List              []Grid
}

// Locate finds the grid holding a GCJ-02 point.
func (g *Grids) Locate(lat, lng float64) (Grid, bool) {
	p := orb.Point{lng, lat}
	for _, gr := range g.List {
		if gr.Bound.Contains(p) && planar.PolygonContains(gr.Polygon, p) {
			return gr, true
		}
	}
	return Grid{}, false
}

// Community is a community and its grids' ids.
type Community struct {
	ID, Name string
	Grids    []string
}

// Communities lists the communities in file order.
func (g *Grids) Communities() []Community {
	var out []Community
	index := map[string]int{}
	for _, gr := range g.List {
		i, ok := index[gr.CommunityID]
		if !ok {
			i = len(out)
			index[gr.CommunityID] = i
			out = append(out, Community{ID: gr.CommunityID, Name: gr.Community})
		}
		out[i].Grids = append(out[i].Grids, gr.ID)
	}
	return out
}

const (
	reportFile     = "report.yaml"
	categoriesFile = "categories.yaml"
	dangerFile     = "danger.yaml"
	gridsFile      = "grids.geojson"
)

func (l *loader) report(c *Content) {
	if _, ok := l.decodeYAML(reportFile, &c.Report); ok {
		v := reflect.ValueOf(c.Report)
		for i := range v.NumField() {
			if strings.TrimSpace(v.Field(i).String()) == "" {
				l.addf(reportFile, 0, "text %q is missing or empty", v.Type().Field(i).Tag.Get("yaml"))
			}
		}
	}
	var cats struct {
		Categories []Category `yaml:"categories"`
	}
	if doc, ok := l.decodeYAML(categoriesFile, &cats); ok {
		seen := map[string]string{} // word → category id
		for i, cat := range cats.Categories {
			line := lineAt(doc, "categories", i)
			if cat.ID == "" || cat.Name == "" || cat.Hint == "" {
				l.addf(categoriesFile, line, "a category needs id, name and hint")
			}
			if cat.Urgent && strings.TrimSpace(cat.Advice) == "" {
				l.addf(categoriesFile, line, "urgent category %q needs advice", cat.ID)
			}
			for _, w := range append([]string{cat.ID, cat.Name}, cat.Aliases...) {
				if other, ok := seen[w]; ok && other != cat.ID {
					l.addf(categoriesFile, line, "%q names two categories (%s and %s)", w, other, cat.ID)
				}
				seen[w] = cat.ID
			}
		}
		if len(cats.Categories) < 2 {
			l.addf(categoriesFile, 0, "at least two categories are needed")
		}
		c.Categories = cats.Categories
	}
	if doc, ok := l.decodeYAML(dangerFile, &c.Danger); ok {
		for i, g := range c.Danger.Groups {
			if len(g.Words) == 0 || strings.TrimSpace(g.Advice) == "" {
				l.addf(dangerFile, lineAt(doc, "groups", i), "a group needs words and advice")
			}
		}
	}
	c.Grids = l.grids()
}

func (l *loader) grids() *Grids {
	data, err := fs.ReadFile(l.fsys, gridsFile)
	if err != nil {
		l.addf(gridsFile, 0, "cannot read: %v", err)
		return nil
	}
	// A small subset of GeoJSON: a FeatureCollection of Polygons.
	var fc struct {
		Type, Name, Description string
		Features                []struct {
			Properties struct {
				GridID      string `json:"grid_id"`
				Grid        string `json:"grid"`
				CommunityID string `json:"community_id"`
				Community   string `json:"community"`
			} `json:"properties"`
			Geometry struct {
				Type        string         `json:"type"`
				Coordinates [][][2]float64 `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil || fc.Type != "FeatureCollection" {
		l.addf(gridsFile, 0, "not a GeoJSON FeatureCollection of Polygons: %v", err)
		return nil
	}
	g := &Grids{Name: fc.Name, Description: fc.Description}
	seen := map[string]bool{}
	for i, f := range fc.Features {
		where := fmt.Sprintf("feature %d", i+1)
		var poly orb.Polygon
		for _, ring := range f.Geometry.Coordinates {
			r := make(orb.Ring, len(ring))
			for j, p := range ring {
				r[j] = orb.Point(p)
			}
			poly = append(poly, r)
		}
		if f.Geometry.Type != "Polygon" || len(poly) == 0 || len(poly[0]) < 4 {
			l.addf(gridsFile, 0, "%s: want a Polygon with a closed ring", where)
			continue
		}
		if !poly[0].Closed() {
			l.addf(gridsFile, 0, "%s: the ring is not closed (first point must equal last)", where)
		}
		p := f.Properties
		gr := Grid{ID: p.GridID, Name: p.Grid, CommunityID: p.CommunityID, Community: p.Community,
			Polygon: poly, Bound: poly.Bound()}
		if gr.ID == "" || gr.Name == "" || gr.CommunityID == "" || gr.Community == "" {
			l.addf(gridsFile, 0, "%s: properties grid_id, grid, community_id and community are required", where)
		}
		if seen[gr.ID] {
			l.addf(gridsFile, 0, "%s: grid_id %q is used twice", where, gr.ID)
		}
		seen[gr.ID] = true
		for _, p := range poly[0] {
			if p[0] < 73 || p[0] > 136 || p[1] < 3 || p[1] > 54 {
				l.addf(gridsFile, 0, "%s: point %v is not [longitude, latitude] in China", where, p)
				break
			}
		}
		g.List = append(g.List, gr)
	}
	if len(g.List) == 0 {
		l.addf(gridsFile, 0, "no grids")
	}
	return g
}
