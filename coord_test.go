package hazardbot

import (
	"math"
	"testing"
)

func TestCoordinates(t *testing.T) {
	// wandergis/coordtransform's published example.
	lat, lng := WGS84ToGCJ02(39.915, 116.404)
	if math.Abs(lat-39.91640428150164) > 1e-9 || math.Abs(lng-116.41024449916938) > 1e-9 {
		t.Fatalf("WGS84→GCJ-02: %v,%v", lat, lng)
	}
	back, backLng := GCJ02ToWGS84(lat, lng)
	if math.Abs(back-39.915) > 1e-7 || math.Abs(backLng-116.404) > 1e-7 {
		t.Fatalf("round trip: %v,%v", back, backLng)
	}
	if lat, lng := WGS84ToGCJ02(51.5, -0.12); lat != 51.5 || lng != -0.12 {
		t.Fatalf("outside China moved: %v,%v", lat, lng)
	}
}
