package main

import (
	"testing"

	"hazardbot/content"
)

// Every report location lies inside the sub-district's grids, so no
// conversation meets the "outside the sub-district" answer.
func TestLocationsAreInsideTheGrids(t *testing.T) {
	g := content.MustLoadEmbedded().Grids
	for loc := range latRows * lngCols {
		lat := latMin + float64(loc/lngCols)*latStep
		lng := lngMin + float64(loc%lngCols)*lngStep
		if _, ok := g.Locate(lat, lng); !ok {
			t.Fatalf("location %d (%f, %f) is outside the grids", loc, lat, lng)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatal(m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatal(m)
	}
}
