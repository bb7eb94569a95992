package content

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Points is points.yaml: the rules that turn what residents do into reward
// points, and the texts of 我的积分 and 积分兑换. The rules apply to every
// resident, volunteer or not.
type Points struct {
	Rules       PointsRules `yaml:"rules"`
	PickupPlace string      `yaml:"pickup_place"`
	Texts       PointsTexts `yaml:"texts"`
}

// PointsRules are the numbers of the points rules.
type PointsRules struct {
	// ReportVerified maps a verified report's risk level (red, orange,
	// yellow, blue) to the reporter's points.
	ReportVerified map[string]int `yaml:"report_verified"`
	// FirstReporterBonus goes, on top, to the reporter of a verified report
	// when no earlier report of the same category stood within
	// FirstReporterRadius metres in the FirstReporterDays before it.
	FirstReporterBonus  int `yaml:"first_reporter_bonus"`
	FirstReporterRadius int `yaml:"first_reporter_radius"`
	FirstReporterDays   int `yaml:"first_reporter_days"`
	QuizPerCorrect      int `yaml:"quiz_per_correct"`
	QuizDailyCap        int `yaml:"quiz_daily_cap"`
	PatrolCheckIn       int `yaml:"patrol_checkin"`
	MaliciousReport     int `yaml:"malicious_report"` // deducted, never below a zero balance
	HoldDays            int `yaml:"hold_days"`        // a redemption's points stay held this long
}

// RiskLevels are the keys of PointsRules.ReportVerified: the lifecycle's
// four risk levels (hazardbot.Risks).
var RiskLevels = []string{"red", "orange", "yellow", "blue"}

// PointsTexts are the ledger's lines and the chat's texts about points.
type PointsTexts struct {
	Reasons PointsReasons `yaml:"reasons"`
	Notes   PointsNotes   `yaml:"notes"`
	Mine    MyPointsTexts `yaml:"mine"`
	Shop    ShopTexts     `yaml:"shop"`
}

// PointsReasons are the ledger's lines, which residents and staff read.
type PointsReasons struct {
	ReportVerified string `yaml:"report_verified" fill:"level ticket"`
	FirstReporter  string `yaml:"first_reporter" fill:"ticket"`
	Quiz           string `yaml:"quiz"`
	Patrol         string `yaml:"patrol" fill:"point"`
	Malicious      string `yaml:"malicious" fill:"ticket"`
	Hold           string `yaml:"hold" fill:"reward"`
	Expired        string `yaml:"expired" fill:"reward"`
	Cancelled      string `yaml:"cancelled" fill:"reward"`
	Manual         string `yaml:"manual" fill:"reason"`
}

// PointsNotes are the messages that tell a resident about their points.
type PointsNotes struct {
	Malicious string `yaml:"malicious" fill:"ticket points"`
	Expired   string `yaml:"expired" fill:"reward points"`
	Cancelled string `yaml:"cancelled" fill:"reward points"`
	Adjusted  string `yaml:"adjusted" fill:"delta reason"`
}

// MyPointsTexts are 我的积分's texts.
type MyPointsTexts struct {
	Balance       string            `yaml:"balance" fill:"balance"`
	Held          string            `yaml:"held" fill:"held"`
	Recent        string            `yaml:"recent"`
	Entry         string            `yaml:"entry" fill:"date delta reason status"`
	HoldStatus    map[string]string `yaml:"hold_status"` // redemption status → what a hold's line adds
	Month         string            `yaml:"month" fill:"earned detail redeemed deducted"`
	MonthDetail   string            `yaml:"month_detail" fill:"parts"`
	MonthDeducted string            `yaml:"month_deducted" fill:"deducted"`
	Sources       map[string]string `yaml:"sources"` // source type → what residents call it
	Pending       string            `yaml:"pending"`
	PendingItem   string            `yaml:"pending_item" fill:"reward code until place"`
	Footer        string            `yaml:"footer"`
	Empty         string            `yaml:"empty"`
	Rules         string            `yaml:"rules" fill:"blue yellow orange red first quiz quiz_cap patrol malicious days"`
}

// ShopTexts are 积分兑换's texts.
type ShopTexts struct {
	Header       string `yaml:"header" fill:"balance"`
	Item         string `yaml:"item" fill:"n name points stock limit"`
	Limit        string `yaml:"limit" fill:"n"`
	Footer       string `yaml:"footer"`
	Empty        string `yaml:"empty"`
	Hint         string `yaml:"hint" fill:"n"`
	NotEnough    string `yaml:"not_enough" fill:"name points balance short"`
	Confirm      string `yaml:"confirm" fill:"points name days place"`
	ConfirmHint  string `yaml:"confirm_hint"`
	Done         string `yaml:"done" fill:"code until place name points"`
	OutOfStock   string `yaml:"out_of_stock" fill:"name"`
	LimitReached string `yaml:"limit_reached" fill:"name n"`
	Unavailable  string `yaml:"unavailable" fill:"name"`
	ShortNow     string `yaml:"short_now" fill:"name points balance"`
}

// VolunteerTexts is volunteer.yaml: the skills offered at signup, and the
// texts of the signup, the volunteer's card and patrol check-ins.
type VolunteerTexts struct {
	Skills []string    `yaml:"skills"`
	Signup SignupTexts `yaml:"signup"`
	Card   string      `yaml:"card" fill:"number name community mobile skills since month total balance"`
	Patrol PatrolTexts `yaml:"patrol"`
}

// SignupTexts are the volunteer signup's texts.
type SignupTexts struct {
	Intro         string `yaml:"intro"`
	AskName       string `yaml:"ask_name"`
	NameHint      string `yaml:"name_hint"`
	AskMobile     string `yaml:"ask_mobile"`
	MobileHint    string `yaml:"mobile_hint"`
	AskCommunity  string `yaml:"ask_community" fill:"list"`
	CommunityHint string `yaml:"community_hint" fill:"n list"`
	AskSkills     string `yaml:"ask_skills" fill:"list"`
	SkillsHint    string `yaml:"skills_hint" fill:"n list"`
	NoSkills      string `yaml:"no_skills"`
	Summary       string `yaml:"summary" fill:"name mobile community skills"`
	ConfirmHint   string `yaml:"confirm_hint"`
	Submitted     string `yaml:"submitted"`
	Pending       string `yaml:"pending" fill:"date"`
	Declined      string `yaml:"declined" fill:"reason"`
	Reason        string `yaml:"reason" fill:"note"`
	ApprovedNote  string `yaml:"approved_note"`
	DeclinedNote  string `yaml:"declined_note" fill:"reason"`
	RevokedNote   string `yaml:"revoked_note" fill:"reason"`
}

// PatrolTexts are the patrol check-in's texts.
type PatrolTexts struct {
	NotVolunteer string `yaml:"not_volunteer"`
	NoPoints     string `yaml:"no_points"`
	AskLocation  string `yaml:"ask_location"`
	LocationHint string `yaml:"location_hint"`
	TooFar       string `yaml:"too_far" fill:"point distance radius"`
	Done         string `yaml:"done" fill:"point time points"`
	Points       string `yaml:"points" fill:"points"`
	AskPhoto     string `yaml:"ask_photo"`
	Already      string `yaml:"already" fill:"point time"`
	PhotoSaved   string `yaml:"photo_saved"`
	Finished     string `yaml:"finished"`
	PhotoHint    string `yaml:"photo_hint"`
}

const (
	pointsFile    = "points.yaml"
	volunteerFile = "volunteer.yaml"
)

var pointsPlaceholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// points loads points.yaml and volunteer.yaml.
func (l *loader) points(c *Content) {
	if doc, ok := l.decodeYAML(pointsFile, &c.Points); ok {
		l.checkFills(pointsFile, doc, reflect.ValueOf(c.Points), nil)
		l.pointsRules(doc, c)
		sources := c.Points.Texts.Mine.Sources
		for _, st := range []string{"report", "quiz", "patrol", "manual"} {
			if strings.TrimSpace(sources[st]) == "" {
				l.addf(pointsFile, lineAt(doc, "texts", "mine", "sources"), "texts.mine.sources needs a name for %q", st)
			}
		}
		holds := c.Points.Texts.Mine.HoldStatus
		for _, st := range []string{"held", "picked_up", "expired", "cancelled"} {
			if strings.TrimSpace(holds[st]) == "" {
				l.addf(pointsFile, lineAt(doc, "texts", "mine", "hold_status"), "texts.mine.hold_status needs a text for %q", st)
			}
		}
	}
	if doc, ok := l.decodeYAML(volunteerFile, &c.Volunteer); ok {
		l.checkFills(volunteerFile, doc, reflect.ValueOf(c.Volunteer), nil)
		v := &c.Volunteer
		if len(v.Skills) == 0 || len(v.Skills) > 20 {
			l.addf(volunteerFile, lineAt(doc, "skills"), "skills needs 1 to 20 entries, has %d", len(v.Skills))
		}
		seen := map[string]bool{}
		for i, s := range v.Skills {
			if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > 10 || seen[s] {
				l.addf(volunteerFile, lineAt(doc, "skills", i), "skill %q must be 1-10 characters and listed once", s)
			}
			seen[s] = true
		}
	}
}

func (l *loader) pointsRules(doc *yaml.Node, c *Content) {
	r := c.Points.Rules
	at := func(key string) int { return lineAt(doc, "rules", key) }
	for _, level := range RiskLevels {
		if p, ok := r.ReportVerified[level]; !ok || p < 0 || p > 10000 {
			l.addf(pointsFile, at("report_verified"), "rules.report_verified needs 0-10000 points for %s", level)
		}
	}
	for level := range r.ReportVerified {
		if !slices.Contains(RiskLevels, level) {
			l.addf(pointsFile, at("report_verified"), "rules.report_verified: unknown risk level %q (want %s)",
				level, strings.Join(RiskLevels, ", "))
		}
	}
	for _, n := range []struct {
		key      string
		v        int
		min, max int
	}{
		{"first_reporter_bonus", r.FirstReporterBonus, 0, 10000},
		{"first_reporter_radius", r.FirstReporterRadius, 1, 5000},
		{"first_reporter_days", r.FirstReporterDays, 1, 366},
		{"quiz_per_correct", r.QuizPerCorrect, 0, 1000},
		{"quiz_daily_cap", r.QuizDailyCap, 0, 10000},
		{"patrol_checkin", r.PatrolCheckIn, 0, 10000},
		{"malicious_report", r.MaliciousReport, 0, 100000},
		{"hold_days", r.HoldDays, 1, 90},
	} {
		if n.v < n.min || n.v > n.max {
			l.addf(pointsFile, at(n.key), "rules.%s must be %d to %d, is %d", n.key, n.min, n.max, n.v)
		}
	}
}

// checkFills requires every string field of v (nested structs included) to
// be set and to use only the placeholders its fill tag allows.
func (l *loader) checkFills(file string, doc *yaml.Node, v reflect.Value, keys []any) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" || !f.IsExported() {
			continue
		}
		at := append(slices.Clone(keys), key)
		switch f.Type.Kind() {
		case reflect.Struct:
			l.checkFills(file, doc, v.Field(i), at)
		case reflect.String:
			name := strings.ReplaceAll(strings.Trim(fmt.Sprint(at), "[]"), " ", ".")
			text := v.Field(i).String()
			if strings.TrimSpace(text) == "" {
				l.addf(file, lineAt(doc, keys...), "text %q is missing or empty", name)
				continue
			}
			allowed := strings.Fields(f.Tag.Get("fill"))
			for _, m := range pointsPlaceholder.FindAllStringSubmatch(text, -1) {
				if !slices.Contains(allowed, m[1]) {
					l.addf(file, lineAt(doc, at...), "text %q has unknown placeholder {%s} (it may use: %s)",
						name, m[1], strings.Join(allowed, ", "))
				}
			}
		}
	}
}
