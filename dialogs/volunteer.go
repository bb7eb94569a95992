package dialogs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
)

// Volunteers in the chat: the signup (name, mobile, community, skills),
// the volunteer's card (我的志愿者信息) once staff approve them, and patrol
// check-ins — a volunteer at a patrol point sends their location and is
// checked in, once a point a day, with points and an optional photo.

// VolunteerStore is what the volunteer flows need from storage.
type VolunteerStore interface {
	Volunteer(ctx context.Context, openid string) (hazardbot.Volunteer, error)
	ApplyVolunteer(ctx context.Context, v hazardbot.Volunteer, now time.Time) (hazardbot.Volunteer, error)
	PatrolPoints(ctx context.Context, activeOnly bool) ([]hazardbot.PatrolPoint, error)
	CheckIn(ctx context.Context, c *hazardbot.CheckIn, award hazardbot.Award) (bool, error)
	CheckInOf(ctx context.Context, openid string, pointID int64, day string) (hazardbot.CheckIn, error)
	SetCheckInPhoto(ctx context.Context, id int64, openid, mediaID, picURL string) error
	CountCheckIns(ctx context.Context, openid, fromDay string) (int, error)
	Balance(ctx context.Context, openid string) (int, error)
}

// Menu keys of the volunteer features.
const (
	KeyVolunteer = "VOLUNTEER"
	KeyPatrol    = "PATROL"
)

const (
	volunteerFlow = "volunteer"
	patrolFlow    = "patrol"
	maxNameRunes  = 20
)

// signupWords start the signup itself; the other volunteer words show
// where the resident stands (their card, once approved).
var signupWords = []string{"报名志愿者", "志愿者报名", "我要当志愿者", "申请志愿者", "加入志愿者", "重新报名"}

// AddVolunteers registers the volunteer signup and card, and patrol
// check-ins.
func (e *Engine) AddVolunteers(store VolunteerStore) {
	v := &volunteers{store: store}
	e.AddFlow(v.signupFlow())
	e.AddFlow(v.patrolFlow())
	e.AddRoute(Route{Words: append([]string{"志愿者", "我的志愿者信息", "志愿者信息", "志愿者证", "我的志愿者证"}, signupWords...),
		Keys: []string{KeyVolunteer}, Flow: volunteerFlow})
	e.AddRoute(Route{Words: []string{"打卡", "巡查打卡", "巡查签到", "签到", "巡查"}, Keys: []string{KeyPatrol}, Flow: patrolFlow})
}

type volunteers struct{ store VolunteerStore }

// signupState is an application being filled in, or a look at one's
// record that ends at once (End).
type signupState struct {
	Signup     bool     `json:"signup,omitempty"` // started with a signup word
	End        bool     `json:"end,omitempty"`
	Name       string   `json:"name,omitempty"`
	Mobile     string   `json:"mobile,omitempty"`
	Community  string   `json:"community,omitempty"` // community id
	Skills     []string `json:"skills,omitempty"`
	SkillsDone bool     `json:"skills_done,omitempty"`
}

// Effects of the volunteer flows.
type (
	volunteerLook   struct{}
	volunteerSubmit struct{}
	patrolAllowed   struct{}
	patrolCheckIn   struct{ Lat, Lng float64 }
	patrolPhoto     struct{ MediaID, PicURL string }
)

func (v *volunteers) signupFlow() *Flow[signupState] {
	return &Flow[signupState]{
		Name: volunteerFlow, Title: "志愿者报名", Version: 1, First: "name",
		Begin: func(c *Ctx, s *signupState, in Input) Result {
			s.Signup = slicesContainsNorm(signupWords, in.Text)
			return Result{Next: NextMissing, Effects: []any{volunteerLook{}}}
		},
		Apply: v.applySignup,
		Next:  nextSignup,
		Steps: map[string]Step[signupState]{
			"name":      {Ask: func(c *Ctx, s *signupState) string { return c.Content.Volunteer.Signup.AskName }, Handle: handleName},
			"mobile":    {Ask: func(c *Ctx, s *signupState) string { return c.Content.Volunteer.Signup.AskMobile }, Handle: handleMobile},
			"community": {Ask: askCommunity, Handle: handleCommunity},
			"skills":    {Ask: askSkills, Handle: handleSkills},
			"confirm":   {Ask: askSignupConfirm, Handle: handleSignupConfirm},
		},
	}
}

func slicesContainsNorm(words []string, text string) bool {
	w := Normalize(text)
	for _, x := range words {
		if Normalize(x) == w {
			return true
		}
	}
	return false
}

func nextSignup(c *Ctx, s *signupState) string {
	switch {
	case s.End:
		return ""
	case s.Name == "":
		return "name"
	case s.Mobile == "":
		return "mobile"
	case s.Community == "":
		return "community"
	case !s.SkillsDone:
		return "skills"
	}
	return "confirm"
}

func (v *volunteers) applySignup(c *Ctx, s *signupState, effect any) ([]string, error) {
	t := &c.Content.Volunteer.Signup
	switch effect.(type) {
	case volunteerLook:
		rec, err := v.store.Volunteer(c, c.OpenID)
		if errors.Is(err, hazardbot.ErrNotFound) {
			return []string{t.Intro}, nil
		}
		if err != nil {
			return nil, err
		}
		switch rec.Status {
		case hazardbot.VolunteerApproved:
			s.End = true
			card, err := v.card(c, rec)
			return []string{card}, err
		case hazardbot.VolunteerPending:
			s.End = true
			return []string{content.Fill(t.Pending, "date", rec.AppliedAt.In(hazardbot.Shanghai).Format("1月2日"))}, nil
		}
		if !s.Signup { // declined: say so, and how to apply again
			s.End = true
			return []string{content.Fill(t.Declined, "reason", declineReason(t, rec.Note))}, nil
		}
		return []string{t.Intro}, nil
	case volunteerSubmit:
		if _, err := v.store.ApplyVolunteer(c, hazardbot.Volunteer{OpenID: c.OpenID, Name: s.Name, Mobile: s.Mobile,
			CommunityID: s.Community, Skills: s.Skills}, c.Now); err != nil {
			return nil, err
		}
		return []string{t.Submitted}, nil
	}
	return nil, fmt.Errorf("dialogs: volunteer: unknown effect %T", effect)
}

func declineReason(t *content.SignupTexts, note string) string {
	if note == "" {
		return ""
	}
	return content.Fill(t.Reason, "note", note)
}

// card is 我的志愿者信息: who they are, their patrols and points. The
// mobile is masked: a card may be shown to others.
func (v *volunteers) card(c *Ctx, rec hazardbot.Volunteer) (string, error) {
	month, err := v.store.CountCheckIns(c, c.OpenID, hazardbot.Day(pointsMonthStart(c.Now)))
	if err != nil {
		return "", err
	}
	total, err := v.store.CountCheckIns(c, c.OpenID, "")
	if err != nil {
		return "", err
	}
	balance, err := v.store.Balance(c, c.OpenID)
	if err != nil {
		return "", err
	}
	return content.Fill(c.Content.Volunteer.Card, "number", rec.Number(), "name", rec.Name,
		"community", volunteerCommunity(c, rec.CommunityID), "mobile", hazardbot.MaskMobile(rec.Mobile),
		"skills", skillsText(c, rec.Skills), "since", rec.DecidedAt.In(hazardbot.Shanghai).Format("2006年1月2日"),
		"month", strconv.Itoa(month), "total", strconv.Itoa(total), "balance", strconv.Itoa(balance)), nil
}

func pointsMonthStart(t time.Time) time.Time {
	y, m, _ := t.In(hazardbot.Shanghai).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, hazardbot.Shanghai)
}

func volunteerCommunity(c *Ctx, id string) string {
	if c.Content.Grids != nil {
		for _, cm := range c.Content.Grids.Communities() {
			if cm.ID == id {
				return cm.Name
			}
		}
	}
	return id
}

func skillsText(c *Ctx, skills []string) string {
	if len(skills) == 0 {
		return c.Content.Volunteer.Signup.NoSkills
	}
	return strings.Join(skills, "、")
}

// handleName takes a name of 2-20 characters that reads like one.
func handleName(c *Ctx, s *signupState, in Input) Result {
	name := strings.Join(strings.Fields(text(in)), " ")
	n := utf8.RuneCountInString(name)
	ok := in.Kind == KindText && n >= 2 && n <= maxNameRunes
	for _, r := range name {
		if unicode.IsDigit(r) || (unicode.IsPunct(r) && r != '·' && r != '.' && r != '-') || unicode.IsSymbol(r) {
			ok = false
		}
	}
	if !ok {
		return Result{Hint: c.Content.Volunteer.Signup.NameHint}
	}
	s.Name = name
	return Result{Next: NextMissing}
}

func handleMobile(c *Ctx, s *signupState, in Input) Result {
	p, ok := parsePhone(text(in))
	if !ok {
		return Result{Hint: c.Content.Volunteer.Signup.MobileHint}
	}
	s.Mobile = p
	return Result{Next: NextMissing}
}

func communityList(c *Ctx) (string, []content.Community) {
	var list []content.Community
	if c.Content.Grids != nil {
		list = c.Content.Grids.Communities()
	}
	lines := make([]string, len(list))
	for i, cm := range list {
		lines[i] = fmt.Sprintf("%d. %s", i+1, cm.Name)
	}
	return strings.Join(lines, "\n"), list
}

func askCommunity(c *Ctx, s *signupState) string {
	list, _ := communityList(c)
	return content.Fill(c.Content.Volunteer.Signup.AskCommunity, "list", list)
}

func handleCommunity(c *Ctx, s *signupState, in Input) Result {
	text, list := communityList(c)
	w := Normalize(in.Text)
	for i, cm := range list {
		if w == strconv.Itoa(i+1) || w == Normalize(cm.Name) || w+"社区" == Normalize(cm.Name) {
			s.Community = cm.ID
			return Result{Next: NextMissing}
		}
	}
	return Result{Hint: content.Fill(c.Content.Volunteer.Signup.CommunityHint, "n", strconv.Itoa(len(list)), "list", text)}
}

func skillList(c *Ctx) string {
	skills := c.Content.Volunteer.Skills
	lines := make([]string, len(skills))
	for i, sk := range skills {
		lines[i] = fmt.Sprintf("%d. %s", i+1, sk)
	}
	return strings.Join(lines, "\n")
}

func askSkills(c *Ctx, s *signupState) string {
	return content.Fill(c.Content.Volunteer.Signup.AskSkills, "list", skillList(c))
}

var skillSeparators = regexp.MustCompile(`[\s,，、;；.。和]+`)

// handleSkills takes numbers or names, several at once, or 无.
func handleSkills(c *Ctx, s *signupState, in Input) Result {
	switch Normalize(in.Text) {
	case "无", "没有", "暂无", "跳过", "不会", "没", "0":
		s.Skills, s.SkillsDone = nil, true
		return Result{Next: NextMissing}
	}
	all := c.Content.Volunteer.Skills
	var picked []string
	for _, part := range skillSeparators.Split(strings.TrimSpace(in.Text), -1) {
		if part == "" {
			continue
		}
		found := ""
		w := Normalize(part)
		for i, sk := range all {
			if w == strconv.Itoa(i+1) || w == Normalize(sk) {
				found = sk
			}
		}
		if found == "" {
			picked = nil
			break
		}
		if !slicesContainsNorm(picked, found) {
			picked = append(picked, found)
		}
	}
	if len(picked) == 0 || in.Kind != KindText {
		return Result{Hint: content.Fill(c.Content.Volunteer.Signup.SkillsHint, "n", strconv.Itoa(len(all)), "list", skillList(c))}
	}
	s.Skills, s.SkillsDone = picked, true
	return Result{Next: NextMissing}
}

func askSignupConfirm(c *Ctx, s *signupState) string {
	return content.Fill(c.Content.Volunteer.Signup.Summary, "name", s.Name, "mobile", s.Mobile,
		"community", volunteerCommunity(c, s.Community), "skills", skillsText(c, s.Skills))
}

func handleSignupConfirm(c *Ctx, s *signupState, in Input) Result {
	switch Normalize(in.Text) {
	case "确认", "提交", "确定", "对", "是", "好", "没问题", "确认提交":
		return Result{Done: true, Effects: []any{volunteerSubmit{}}}
	}
	return Result{Hint: c.Content.Volunteer.Signup.ConfirmHint}
}

// ---- patrol check-in ----

type patrolState struct {
	End       bool   `json:"end,omitempty"`
	Far       bool   `json:"far,omitempty"` // the last location was out of range, and said so
	CheckInID int64  `json:"checkin,omitempty"`
	Point     string `json:"point,omitempty"`
}

func (v *volunteers) patrolFlow() *Flow[patrolState] {
	return &Flow[patrolState]{
		Name: patrolFlow, Title: "巡查打卡", Version: 1, First: "where",
		Begin: func(c *Ctx, s *patrolState, in Input) Result {
			effects := []any{patrolAllowed{}}
			if hasLocation(in) { // a location picked from a menu comes with the click
				effects = append(effects, patrolCheckIn{Lat: in.Lat, Lng: in.Lng})
			}
			return Result{Next: NextMissing, Effects: effects}
		},
		Apply: v.applyPatrol,
		Next: func(c *Ctx, s *patrolState) string {
			switch {
			case s.End:
				return ""
			case s.CheckInID != 0:
				return "photo"
			}
			return "where"
		},
		Steps: map[string]Step[patrolState]{
			"where": {
				Ask: func(c *Ctx, s *patrolState) string {
					if s.Far {
						return "" // the distance just said asks for another try
					}
					return c.Content.Volunteer.Patrol.AskLocation
				},
				Handle: func(c *Ctx, s *patrolState, in Input) Result {
					s.Far = false
					if !hasLocation(in) {
						return Result{Hint: c.Content.Volunteer.Patrol.LocationHint}
					}
					return Result{Next: NextMissing, Effects: []any{patrolCheckIn{Lat: in.Lat, Lng: in.Lng}}}
				},
			},
			"photo": {
				Ask: func(c *Ctx, s *patrolState) string { return c.Content.Volunteer.Patrol.AskPhoto },
				Handle: func(c *Ctx, s *patrolState, in Input) Result {
					t := &c.Content.Volunteer.Patrol
					switch {
					case in.Kind == KindImage:
						return Result{Done: true, Effects: []any{patrolPhoto{MediaID: in.MediaID, PicURL: in.PicURL}}}
					case doneWords[Normalize(in.Text)]:
						return Result{Done: true, Say: []string{t.Finished}}
					}
					return Result{Hint: t.PhotoHint}
				},
			},
		},
	}
}

func (v *volunteers) applyPatrol(c *Ctx, s *patrolState, effect any) ([]string, error) {
	t := &c.Content.Volunteer.Patrol
	if s.End {
		return nil, nil // refused by an earlier effect of the same turn
	}
	switch e := effect.(type) {
	case patrolAllowed:
		rec, err := v.store.Volunteer(c, c.OpenID)
		if err != nil && !errors.Is(err, hazardbot.ErrNotFound) {
			return nil, err
		}
		if err != nil || rec.Status != hazardbot.VolunteerApproved {
			s.End = true
			return []string{t.NotVolunteer}, nil
		}
		points, err := v.store.PatrolPoints(c, true)
		if err != nil {
			return nil, err
		}
		if len(points) == 0 {
			s.End = true
			return []string{t.NoPoints}, nil
		}
	case patrolCheckIn:
		points, err := v.store.PatrolPoints(c, true)
		if err != nil {
			return nil, err
		}
		if len(points) == 0 {
			s.End = true
			return []string{t.NoPoints}, nil
		}
		p, dist := nearestPoint(points, e.Lat, e.Lng)
		if dist > float64(p.Radius) {
			s.Far = true
			return []string{content.Fill(t.TooFar, "point", p.Name, "distance", strconv.Itoa(int(math.Ceil(dist))),
				"radius", strconv.Itoa(p.Radius))}, nil
		}
		rules := c.Content.Points
		ci := &hazardbot.CheckIn{OpenID: c.OpenID, PointID: p.ID, Lat: e.Lat, Lng: e.Lng, Distance: int(math.Round(dist)), At: c.Now}
		ok, err := v.store.CheckIn(c, ci, hazardbot.Award{Points: rules.Rules.PatrolCheckIn,
			Reason: content.Fill(rules.Texts.Reasons.Patrol, "point", p.Name)})
		if err != nil {
			return nil, err
		}
		if !ok {
			s.End = true
			before, err := v.store.CheckInOf(c, c.OpenID, p.ID, hazardbot.Day(c.Now))
			if err != nil {
				return nil, err
			}
			return []string{content.Fill(t.Already, "point", p.Name, "time", checkInTime(before.At))}, nil
		}
		s.CheckInID, s.Point = ci.ID, p.Name
		earned := ""
		if ci.Points > 0 {
			earned = content.Fill(t.Points, "points", strconv.Itoa(ci.Points))
		}
		return []string{content.Fill(t.Done, "point", p.Name, "time", checkInTime(ci.At), "points", earned)}, nil
	case patrolPhoto:
		if err := v.store.SetCheckInPhoto(c, s.CheckInID, c.OpenID, e.MediaID, e.PicURL); err != nil {
			return nil, err
		}
		return []string{t.PhotoSaved}, nil
	default:
		return nil, fmt.Errorf("dialogs: patrol: unknown effect %T", effect)
	}
	return nil, nil
}

func checkInTime(t time.Time) string { return t.In(hazardbot.Shanghai).Format("15:04") }

// nearestPoint is the patrol point nearest to a GCJ-02 location; patrol
// points are GCJ-02 too, so the two compare directly.
func nearestPoint(points []hazardbot.PatrolPoint, lat, lng float64) (hazardbot.PatrolPoint, float64) {
	best, bestDist := points[0], math.Inf(1)
	for _, p := range points {
		// Nearest by how far inside its radius: of two overlapping points,
		// the one the volunteer is really at.
		d := hazardbot.Distance(lat, lng, p.Lat, p.Lng)
		if d-float64(p.Radius) < bestDist-float64(best.Radius) {
			best, bestDist = p, d
		}
	}
	return best, bestDist
}
