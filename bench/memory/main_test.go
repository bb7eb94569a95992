package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestScrapeReadsTheGoRuntimeFigures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 53\n"+
			"go_memstats_heap_inuse_bytes 3.5e+07\nhazardbot_wechat_pushes_total{type=\"text\"} 3\n")
	}))
	defer srv.Close()
	m := scrape(srv.URL)
	if m["go_goroutines"] != 53 || m["go_memstats_heap_inuse_bytes"] != 35e6 || len(m) != 2 {
		t.Fatalf("%v", m)
	}
}
