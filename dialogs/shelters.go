package dialogs

import (
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"hazardbot/content"
)

// The shelter finder: a resident sends a location (or picks one from the
// menu) and gets the nearest emergency shelters. WeChat sends GCJ-02
// coordinates and shelters.yaml holds GCJ-02 too, so the two compare
// directly: no datum conversion is needed, and GCJ-02's offset from WGS-84
// (a few hundred metres, nearly constant over a city) cancels out of the
// distance between two nearby points anyway.

const (
	shelterFlow = "shelter"
	// nearestShelters is how many shelters an answer lists.
	nearestShelters = 3
	// farAway: a resident further than this from the nearest shelter is
	// probably not in the sub-district, and is told so.
	farAway = 20000.0 // metres
	// earthRadius is the mean Earth radius (IUGG), in metres.
	earthRadius = 6371008.8
)

type shelterState struct{}

func shelterFlowDef() *Flow[shelterState] {
	return &Flow[shelterState]{
		Name: shelterFlow, Title: "查找避难场所", Version: 1, First: "where",
		Steps: map[string]Step[shelterState]{
			"where": {
				Ask: func(c *Ctx, s *shelterState) string { return c.Content.Education.Shelter.Ask },
				Handle: func(c *Ctx, s *shelterState, in Input) Result {
					if !hasLocation(in) {
						return Result{Hint: c.Content.Education.Shelter.Hint}
					}
					return Result{Say: []string{shelterAnswer(c.Content, in.Lat, in.Lng)}, Done: true}
				},
			},
		},
		// The menu's location picker sends the location with the click.
		Begin: func(c *Ctx, s *shelterState, in Input) Result {
			if hasLocation(in) {
				return Result{Say: []string{shelterAnswer(c.Content, in.Lat, in.Lng)}, Done: true}
			}
			return Result{Next: "where"}
		},
	}
}

// hasLocation reports whether in carries a location: a location message,
// or the menu's location_select event. (0, 0) is WeChat's "none".
func hasLocation(in Input) bool {
	if in.Kind != KindLocation && !(in.Kind == KindEvent && in.Event == EventLocationSelect) {
		return false
	}
	return in.Lat != 0 || in.Lng != 0
}

// ShelterDistance is a shelter and how far it is.
type ShelterDistance struct {
	Shelter content.Shelter
	Metres  float64
}

// NearestShelters returns the n shelters nearest to a GCJ-02 point,
// nearest first.
func NearestShelters(shelters []content.Shelter, lat, lng float64, n int) []ShelterDistance {
	out := make([]ShelterDistance, len(shelters))
	for i, s := range shelters {
		out[i] = ShelterDistance{Shelter: s, Metres: Haversine(lat, lng, s.Lat, s.Lng)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Metres < out[j].Metres })
	return out[:min(n, len(out))]
}

// Haversine is the great-circle distance in metres between two points
// given in degrees.
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

// formatDistance is "850米" under a kilometre (to 10 m: a location is not
// more precise) and "1.2公里" above.
func formatDistance(t content.ShelterTexts, m float64) string {
	if m < 1000 {
		return content.Fill(t.Metres, "n", strconv.Itoa(int(math.Round(m/10)*10)))
	}
	return content.Fill(t.Kilometres, "n", strconv.FormatFloat(math.Round(m/100)/10, 'f', -1, 64))
}

func shelterAnswer(c *content.Content, lat, lng float64) string {
	t := c.Education.Shelter
	near := NearestShelters(c.Shelters, lat, lng, nearestShelters)
	var parts []string
	if len(near) > 0 && near[0].Metres > farAway {
		parts = append(parts, content.Fill(t.Far, "distance", formatDistance(t, near[0].Metres)))
	}
	parts = append(parts, content.Fill(t.Header, "count", strconv.Itoa(len(near))))
	demo := false
	for i, d := range near {
		s := d.Shelter
		demo = demo || s.Demo
		nav := content.Fill(t.Nav, "lat", strconv.FormatFloat(s.Lat, 'f', 6, 64),
			"lng", strconv.FormatFloat(s.Lng, 'f', 6, 64), "name", url.QueryEscape(s.Name))
		parts = append(parts, content.Fill(t.Item, "n", strconv.Itoa(i+1), "name", s.Name, "kind", s.Kind,
			"distance", formatDistance(t, d.Metres), "address", s.Address, "capacity", strconv.Itoa(s.Capacity),
			"facilities", strings.Join(s.Facilities, "、"), "nav", nav))
	}
	parts = append(parts, t.Footer)
	if demo {
		parts = append(parts, t.Demo)
	}
	return strings.Join(parts, "\n")
}
