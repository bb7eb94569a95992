package content

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Notices holds the warning levels, the hazard types and the texts of
// notices and early warnings (notices.yaml). A text's `fill` tag lists the
// {names} it may use, so a typo fails the content check instead of reaching
// a resident.
type Notices struct {
	Levels  []NoticeLevel `yaml:"levels"`
	Hazards []HazardType  `yaml:"hazards"`

	KindNotice      string `yaml:"kind_notice"`
	KindWarning     string `yaml:"kind_warning"`
	NoticeBadge     string `yaml:"notice_badge"`
	WarningHeadline string `yaml:"warning_headline" fill:"hazard level"`
	Message         string `yaml:"message" fill:"badge headline title body until guide link"`
	MessageGuide    string `yaml:"message_guide" fill:"guide"`
	MessageLink     string `yaml:"message_link" fill:"link"`
	TemplateNote    string `yaml:"template_note" fill:"until"`

	ListHeader string `yaml:"list_header"`
	ListItem   string `yaml:"list_item" fill:"badge headline title until link"`
	ListLink   string `yaml:"list_link" fill:"link"`
	ListEmpty  string `yaml:"list_empty"`
	ListFooter string `yaml:"list_footer"`

	SettingsAsk        string `yaml:"settings_ask" fill:"current"`
	SettingsHint       string `yaml:"settings_hint"`
	SettingsAll        string `yaml:"settings_all"`
	SettingsMuted      string `yaml:"settings_muted"`
	SettingsSavedAll   string `yaml:"settings_saved_all"`
	SettingsSavedMuted string `yaml:"settings_saved_muted"`

	PageSite       string `yaml:"page_site"`
	PageSender     string `yaml:"page_sender"`
	PagePublished  string `yaml:"page_published"`
	PageValid      string `yaml:"page_valid"`
	PageArea       string `yaml:"page_area"`
	PageGuide      string `yaml:"page_guide"`
	PageLifted     string `yaml:"page_lifted"`
	PageSuperseded string `yaml:"page_superseded"`
	PageCancelled  string `yaml:"page_cancelled"`
	PageExpired    string `yaml:"page_expired"`
	PageFooter     string `yaml:"page_footer"`

	AreaAll        string `yaml:"area_all"`
	AreaVolunteers string `yaml:"area_volunteers"`
	AreaTag        string `yaml:"area_tag" fill:"tag"`
	AreaNear       string `yaml:"area_near" fill:"place radius"`

	NotStaff         string `yaml:"not_staff"`
	AskKind          string `yaml:"ask_kind"`
	KindHint         string `yaml:"kind_hint"`
	AskHazard        string `yaml:"ask_hazard" fill:"list"`
	HazardHint       string `yaml:"hazard_hint"`
	AskLevel         string `yaml:"ask_level"`
	LevelHint        string `yaml:"level_hint"`
	AskTitle         string `yaml:"ask_title" fill:"max"`
	TitleHint        string `yaml:"title_hint" fill:"max"`
	AskBody          string `yaml:"ask_body" fill:"max"`
	BodyHint         string `yaml:"body_hint" fill:"max"`
	AskAudience      string `yaml:"ask_audience"`
	AudienceHint     string `yaml:"audience_hint"`
	AskCommunities   string `yaml:"ask_communities" fill:"list"`
	CommunitiesHint  string `yaml:"communities_hint"`
	AskPlace         string `yaml:"ask_place"`
	PlaceHint        string `yaml:"place_hint"`
	AskRadius        string `yaml:"ask_radius"`
	RadiusHint       string `yaml:"radius_hint"`
	AskConfirm       string `yaml:"ask_confirm" fill:"preview approval"`
	ConfirmHint      string `yaml:"confirm_hint"`
	ApprovalNeeded   string `yaml:"approval_needed"`
	SubmittedSending string `yaml:"submitted_sending" fill:"id headline"`
	SubmittedApprove string `yaml:"submitted_approval" fill:"id headline"`
	ApprovalsEmpty   string `yaml:"approvals_empty"`
	ApprovalsHeader  string `yaml:"approvals_header"`
	ApprovalsItem    string `yaml:"approvals_item" fill:"id headline title author"`
	ApprovalsFooter  string `yaml:"approvals_footer"`
	Approved         string `yaml:"approved" fill:"id headline"`
	Rejected         string `yaml:"rejected" fill:"id headline"`
	Progress         string `yaml:"progress" fill:"id state recipients delivered pending failed"`
}

// NoticeLevel is one level of the four-colour warning scale and what the
// CAP feed says for it.
type NoticeLevel struct {
	ID       string `yaml:"id"`       // red, orange, yellow, blue
	Name     string `yaml:"name"`     // 红色
	Badge    string `yaml:"badge"`    // shown before the headline
	Colour   string `yaml:"colour"`   // CSS colour of the public page's banner
	Severity string `yaml:"severity"` // CAP severity
	Urgency  string `yaml:"urgency"`  // CAP urgency
}

// HazardType is a kind of hazard a warning is about.
type HazardType struct {
	ID        string `yaml:"id"`
	Name      string `yaml:"name"`
	Category  string `yaml:"category"`  // CAP category
	Certainty string `yaml:"certainty"` // CAP certainty
	Response  string `yaml:"response"`  // CAP responseType
	Guide     string `yaml:"guide"`     // default 防御指南
}

// Level finds a warning level by id.
func (n *Notices) Level(id string) (NoticeLevel, bool) {
	for _, l := range n.Levels {
		if l.ID == id {
			return l, true
		}
	}
	return NoticeLevel{}, false
}

// Hazard finds a hazard type by id.
func (n *Notices) Hazard(id string) (HazardType, bool) {
	for _, h := range n.Hazards {
		if h.ID == id {
			return h, true
		}
	}
	return HazardType{}, false
}

const noticesFile = "notices.yaml"

// The values CAP 1.2 allows; the feed must never carry anything else.
var (
	capSeverities = []string{"Extreme", "Severe", "Moderate", "Minor", "Unknown"}
	capUrgencies  = []string{"Immediate", "Expected", "Future", "Past", "Unknown"}
	capCertainty  = []string{"Observed", "Likely", "Possible", "Unlikely", "Unknown"}
	capCategories = []string{"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"}
	capResponses  = []string{"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"}
	// The warning levels the product knows, highest first: rules (approval,
	// muting) and the CAP mapping are keyed on these ids.
	noticeLevelIDs = []string{"red", "orange", "yellow", "blue"}
	noticeFillName = regexp.MustCompile(`\{([a-z_]+)\}`)
)

func (l *loader) notices(n *Notices) {
	doc, ok := l.decodeYAML(noticesFile, n)
	if !ok {
		return
	}
	v := reflect.ValueOf(n).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.String {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		text := v.Field(i).String()
		if strings.TrimSpace(text) == "" {
			l.addf(noticesFile, lineAt(doc, key), "text %q is missing or empty", key)
			continue
		}
		allowed := strings.Fields(f.Tag.Get("fill"))
		for _, m := range noticeFillName.FindAllStringSubmatch(text, -1) {
			if !slices.Contains(allowed, m[1]) {
				l.addf(noticesFile, lineAt(doc, key), "text %q uses {%s}; it may use only %v", key, m[1], allowed)
			}
		}
	}
	if len(n.Levels) != len(noticeLevelIDs) {
		l.addf(noticesFile, lineAt(doc, "levels"), "levels must list exactly %v", noticeLevelIDs)
	}
	for i, lv := range n.Levels {
		line := lineAt(doc, "levels", i)
		if i < len(noticeLevelIDs) && lv.ID != noticeLevelIDs[i] {
			l.addf(noticesFile, line, "level %d must be %q (levels are listed highest first: %v)", i+1, noticeLevelIDs[i], noticeLevelIDs)
		}
		if lv.Name == "" || lv.Badge == "" || !strings.HasPrefix(lv.Colour, "#") {
			l.addf(noticesFile, line, "level %q needs name, badge and a #colour", lv.ID)
		}
		if !slices.Contains(capSeverities, lv.Severity) {
			l.addf(noticesFile, line, "level %q: severity %q is not CAP's (%v)", lv.ID, lv.Severity, capSeverities)
		}
		if !slices.Contains(capUrgencies, lv.Urgency) {
			l.addf(noticesFile, line, "level %q: urgency %q is not CAP's (%v)", lv.ID, lv.Urgency, capUrgencies)
		}
	}
	seen := map[string]bool{}
	for i, h := range n.Hazards {
		line := lineAt(doc, "hazards", i)
		if h.ID == "" || h.Name == "" || strings.TrimSpace(h.Guide) == "" {
			l.addf(noticesFile, line, "a hazard type needs id, name and guide")
		}
		if seen[h.ID] || seen[h.Name] {
			l.addf(noticesFile, line, "hazard %q is listed twice", h.ID)
		}
		seen[h.ID], seen[h.Name] = true, true
		if !slices.Contains(capCategories, h.Category) {
			l.addf(noticesFile, line, "hazard %q: category %q is not CAP's (%v)", h.ID, h.Category, capCategories)
		}
		if !slices.Contains(capCertainty, h.Certainty) {
			l.addf(noticesFile, line, "hazard %q: certainty %q is not CAP's (%v)", h.ID, h.Certainty, capCertainty)
		}
		if !slices.Contains(capResponses, h.Response) {
			l.addf(noticesFile, line, "hazard %q: response %q is not CAP's (%v)", h.ID, h.Response, capResponses)
		}
	}
	if len(n.Hazards) == 0 {
		l.addf(noticesFile, lineAt(doc, "hazards"), "at least one hazard type is needed")
	}
}
