package notices_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"hazardbot"

	"hazardbot/content"
	"hazardbot/notices"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// capSchema finds shared/schemas/CAP-v1.2.xsd beside the repository (as CI
// lays it out) and xmllint; the test validating against them skips, saying
// why, when either is missing.
func capSchema(t *testing.T) (xmllint, xsd string) {
	t.Helper()
	dir, err := os.Getwd()
	storagetest.Must(t, err)
	for !fileExists(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	xsd = filepath.Join(dir, "..", "shared", "schemas", "CAP-v1.2.xsd")
	if !fileExists(xsd) {
		t.Skipf("no CAP schema at %s", xsd)
	}
	xmllint, err = exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (apt-get install libxml2-utils)")
	}
	return xmllint, xsd
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// ValidateCAP checks a document against the OASIS CAP 1.2 schema.
func validateCAP(t *testing.T, xmllint, xsd string, doc []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "alert.xml")
	storagetest.Must(t, os.WriteFile(f, doc, 0o600))
	out, err := exec.Command(xmllint, "--noout", "--schema", xsd, f).CombinedOutput()
	if err != nil {
		t.Fatalf("not valid CAP 1.2: %v\n%s\n%s", err, out, doc)
	}
}

type capDoc struct {
	XMLName    xml.Name `xml:"alert"`
	Identifier string   `xml:"identifier"`
	Sender     string   `xml:"sender"`
	Sent       string   `xml:"sent"`
	Status     string   `xml:"status"`
	MsgType    string   `xml:"msgType"`
	Scope      string   `xml:"scope"`
	References string   `xml:"references"`
	Info       struct {
		Category     string   `xml:"category"`
		Event        string   `xml:"event"`
		ResponseType []string `xml:"responseType"`
		Urgency      string   `xml:"urgency"`
		Severity     string   `xml:"severity"`
		Certainty    string   `xml:"certainty"`
		Expires      string   `xml:"expires"`
		Headline     string   `xml:"headline"`
		Web          string   `xml:"web"`
		Area         struct {
			AreaDesc string   `xml:"areaDesc"`
			Polygon  []string `xml:"polygon"`
			Circle   []string `xml:"circle"`
		} `xml:"area"`
	} `xml:"info"`
}

func get(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	storagetest.Must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	storagetest.Must(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

var capPoint = regexp.MustCompile(`^-?\d+\.\d+,-?\d+\.\d+$`)

// TestCAPFeedValidates publishes a warning of every level and audience,
// then updates and lifts one, and validates every CAP message with xmllint
// against the OASIS schema, checking how our fields map.
func TestCAPFeedValidates(t *testing.T) {
	xmllint, xsd := capSchema(t)
	storagetest.Stores(t, func(t *testing.T, st *storage.Store) {
		w := newWorld(t, st)
		w.follower("o-1", 72*time.Hour)
		web := &notices.Web{Store: st, Content: func() *content.Content { return w.c }, Now: w.clock.Now, PublicURL: publicURL}
		mux := http.NewServeMux()
		web.Register(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)

		severity := map[notices.Level]string{notices.LevelRed: "Extreme", notices.LevelOrange: "Severe",
			notices.LevelYellow: "Moderate", notices.LevelBlue: "Minor"}
		audiences := []notices.Audience{
			{Kind: notices.AudienceAll},
			{Kind: notices.AudienceCommunities, Communities: []string{"c1", "c3"}},
			{Kind: notices.AudienceGrids, Grids: []string{"c2-g1"}},
			{Kind: notices.AudienceNear, Lat: g1Lat, Lng: g1Lng, Radius: 1500, Place: "东湖路"},
		}
		hazards := []string{"rainstorm", "gas", "geological", "heat"}
		var published []notices.Notice
		for i, level := range notices.Levels {
			n := warning(level, "测试预警 "+string(level))
			n.Hazard, n.Audience, n.Exercise = hazards[i], audiences[i], level == notices.LevelBlue
			n = w.publish(n)
			w.run()
			published = append(published, n)
		}
		original := published[0]
		upd, err := w.svc.Amend(w.ctx, author, original.ID)
		storagetest.Must(t, err)
		upd.Body = "雨势加强，请立即停止户外活动。<危险> & 注意"
		upd, err = w.svc.Edit(w.ctx, author, upd)
		storagetest.Must(t, err)
		_, err = w.svc.Submit(w.ctx, author, upd.ID)
		storagetest.Must(t, err)
		_, err = w.svc.Approve(w.ctx, approver, upd.ID)
		storagetest.Must(t, err)
		w.clock.Advance(time.Minute)
		w.run()
		lift, err := w.svc.Lift(w.ctx, author, upd.ID)
		storagetest.Must(t, err)
		_, err = w.svc.Submit(w.ctx, author, lift.ID)
		storagetest.Must(t, err)
		_, err = w.svc.Approve(w.ctx, approver, lift.ID)
		storagetest.Must(t, err)
		w.clock.Advance(time.Minute)
		w.run()

		docs := map[int64]capDoc{}
		for _, id := range []int64{published[0].ID, published[1].ID, published[2].ID, published[3].ID, upd.ID, lift.ID} {
			code, ctype, body := get(t, srv.URL+"/cap/"+strconv.FormatInt(id, 10)+".xml")
			if code != 200 || !strings.HasPrefix(ctype, "application/common-alerting-protocol+xml") {
				t.Fatalf("/cap/%d.xml: %d %s", id, code, ctype)
			}
			validateCAP(t, xmllint, xsd, body)
			var d capDoc
			storagetest.Must(t, xml.Unmarshal(body, &d))
			if !strings.HasSuffix(d.Sent, "+08:00") || d.Scope != "Public" || d.Sender != "hazardbot@aq.example.gov.cn" {
				t.Fatalf("alert header %+v", d)
			}
			for _, p := range d.Info.Area.Polygon {
				pts := strings.Fields(p)
				if len(pts) < 4 || pts[0] != pts[len(pts)-1] {
					t.Fatalf("polygon not closed or too short: %s", p)
				}
				for _, pt := range pts {
					if !capPoint.MatchString(pt) {
						t.Fatalf("polygon point %q is not lat,lon", pt)
					}
					lat, _ := strconv.ParseFloat(strings.Split(pt, ",")[0], 64)
					if lat < 30 || lat > 40 {
						t.Fatalf("latitude first: %s", pt)
					}
				}
			}
			docs[id] = d
		}
		for i, n := range published[1:] {
			d := docs[n.ID]
			if d.MsgType != "Alert" || d.Info.Severity != severity[n.Level] || d.References != "" {
				t.Fatalf("level %s: %+v", n.Level, d)
			}
			_ = i
		}
		if d := docs[published[3].ID]; d.Status != "Exercise" || len(d.Info.Area.Circle) != 1 || len(d.Info.Area.Polygon) != 0 {
			t.Fatalf("blue exercise near a point: %+v", d)
		}
		if d := docs[published[1].ID]; len(d.Info.Area.Polygon) != 8 || d.Info.Category != "Safety" {
			t.Fatalf("two communities of four grids each, gas: %+v", d)
		}
		if d := docs[published[2].ID]; len(d.Info.Area.Polygon) != 1 || d.Info.Area.AreaDesc != "西园社区第1网格" {
			t.Fatalf("one grid: %+v", d)
		}
		if d := docs[published[0].ID]; d.Info.Severity != "Extreme" || d.Info.Urgency != "Immediate" || len(d.Info.Area.Polygon) != len(w.c.Grids.List) {
			t.Fatalf("red to all: %+v", d)
		}
		orig := docs[original.ID]
		ref := orig.Sender + "," + orig.Identifier + "," + orig.Sent
		if d := docs[upd.ID]; d.MsgType != "Update" || d.References != ref {
			t.Fatalf("update: references %q, want %q", d.References, ref)
		}
		if d := docs[lift.ID]; d.MsgType != "Cancel" || !strings.HasPrefix(d.References, ref+" ") ||
			!strings.Contains(d.References, docs[upd.ID].Identifier) || d.Info.ResponseType[0] != "AllClear" {
			t.Fatalf("lift: %+v", d)
		}

		// The Atom index lists the warnings in force: the lift in place of
		// the red warning and its update, and the other three.
		code, ctype, body := get(t, srv.URL+"/cap/alerts.xml")
		if code != 200 || !strings.HasPrefix(ctype, "application/atom+xml") {
			t.Fatalf("feed: %d %s", code, ctype)
		}
		var feed struct {
			Entries []struct {
				ID    string `xml:"id"`
				Links []struct {
					Href string `xml:"href,attr"`
					Type string `xml:"type,attr"`
				} `xml:"link"`
			} `xml:"entry"`
		}
		storagetest.Must(t, xml.Unmarshal(body, &feed))
		var listed []string
		for _, e := range feed.Entries {
			listed = append(listed, e.Links[0].Href)
		}
		want := []string{"/cap/" + strconv.FormatInt(lift.ID, 10) + ".xml"}
		for _, n := range published[1:] {
			want = append(want, "/cap/"+strconv.FormatInt(n.ID, 10)+".xml")
		}
		for _, href := range want {
			if !strings.Contains(strings.Join(listed, " "), publicURL+href) {
				t.Fatalf("feed lists %v, missing %s", listed, href)
			}
		}
		if len(listed) != len(want) {
			t.Fatalf("feed lists %v, want %v", listed, want)
		}

		// Pages: the lifted warning says so and links to the lift; an
		// ordinary notice has a page but no CAP message; drafts have
		// neither.
		_, _, page := get(t, srv.URL+"/notices/"+strconv.FormatInt(upd.ID, 10))
		if !strings.Contains(string(page), "本预警已解除") || !strings.Contains(string(page), "&lt;危险&gt; &amp; 注意") {
			t.Fatalf("page of a lifted warning:\n%s", page)
		}
		plain := w.publish(notice("社区通知", notices.Audience{Kind: notices.AudienceAll}))
		w.run()
		if code, _, _ := get(t, srv.URL+"/cap/"+strconv.FormatInt(plain.ID, 10)+".xml"); code != 404 {
			t.Fatalf("an ordinary notice has a CAP message: %d", code)
		}
		draft, err := w.svc.Create(w.ctx, author, warning(notices.LevelRed, "草稿"))
		storagetest.Must(t, err)
		for _, path := range []string{"/notices/", "/cap/"} {
			suffix := ""
			if path == "/cap/" {
				suffix = ".xml"
			}
			if code, _, _ := get(t, srv.URL+path+strconv.FormatInt(draft.ID, 10)+suffix); code != 404 {
				t.Fatalf("a draft is public at %s: %d", path, code)
			}
		}
	})
}

// TestCAPTimesAndCoordinates: CAP dates carry +08:00 (the schema refuses
// Z), and GCJ-02 grid points are converted to WGS 84.
func TestCAPTimesAndCoordinates(t *testing.T) {
	// 天安门 in WGS 84 and its GCJ-02 image are a known pair (a few hundred
	// metres apart); the inverse must recover the WGS 84 point.
	wLat, wLng := 39.908692, 116.397477
	gLat, gLng := hazardbot.WGS84ToGCJ02(wLat, wLng)
	if d := (gLat-wLat)*(gLat-wLat) + (gLng-wLng)*(gLng-wLng); d < 1e-6 {
		t.Fatalf("GCJ-02 offset too small: %f,%f", gLat, gLng)
	}
	bLat, bLng := hazardbot.GCJ02ToWGS84(gLat, gLng)
	if abs(bLat-wLat) > 1e-6 || abs(bLng-wLng) > 1e-6 {
		t.Fatalf("round trip %f,%f → %f,%f", wLat, wLng, bLat, bLng)
	}
	c := content.MustLoadEmbedded()
	n := notices.Notice{ID: 7, Kind: notices.KindWarning, Level: notices.LevelOrange, Hazard: "wind", MsgType: notices.MsgAlert,
		Title: "大风", Body: "大风来了", State: notices.StateSent, Audience: notices.Audience{Kind: notices.AudienceAll},
		PublishedAt: time.Date(2025, 7, 1, 16, 30, 5, 0, time.UTC)}
	out, err := notices.CAP(&n, nil, c, notices.CAPOptions{Sender: "hb@example.cn"})
	storagetest.Must(t, err)
	if !strings.Contains(string(out), "<sent>2025-07-02T00:30:05+08:00</sent>") || strings.Contains(string(out), "Z</") {
		t.Fatalf("sent not in +08:00:\n%s", out)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
