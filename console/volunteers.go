package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"hazardbot"
	"hazardbot/rewards"
	"hazardbot/storage"
)

// Volunteers and patrol points (志愿者、巡查点): staff approve or decline
// applications and revoke volunteers, and define the points volunteers
// check in at. The rules of who may decide what are in the rewards
// package; rewards.go here has the catalog, pickups and the points ledger.

// pointsRoutes adds the volunteer, patrol, rewards and points pages.
func (c *Console) pointsRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /console/volunteers", c.auth(anyone, c.volunteers))
	m.HandleFunc("POST /console/volunteers/{id}/{op}", c.auth(workers, c.volunteerOp))
	m.HandleFunc("GET /console/patrol", c.auth(anyone, c.patrol))
	m.HandleFunc("POST /console/patrol", c.auth(workers, c.savePatrolPoint))
	m.HandleFunc("GET /console/rewards", c.auth(anyone, c.rewardsPage))
	m.HandleFunc("POST /console/rewards", c.auth(supervisor, c.saveReward))
	m.HandleFunc("POST /console/rewards/{id}/stock", c.auth(supervisor, c.rewardStock))
	m.HandleFunc("POST /console/pickup", c.auth(workers, c.pickup))
	m.HandleFunc("POST /console/redemptions/{id}/cancel", c.auth(workers, c.cancelRedemption))
	m.HandleFunc("GET /console/points", c.auth(supervisor, c.pointsAccounts))
	m.HandleFunc("GET /console/points/export.csv", c.auth(supervisor, c.exportLedger))
	m.HandleFunc("POST /console/points/malicious", c.auth(supervisor, c.malicious))
	m.HandleFunc("GET /console/points/{openid}", c.auth(supervisor, c.personLedger))
	m.HandleFunc("POST /console/points/{openid}/adjust", c.auth(supervisor, c.adjust))
}

// points is the rules service; a console built without one (tests) gets
// one that tells residents nothing.
func (c *Console) points() *rewards.Service {
	if c.Rewards != nil {
		return c.Rewards
	}
	return &rewards.Service{Store: c.Store, Content: c.Content, Now: c.Now, Log: c.Log}
}

// pageError is a refused action shown on the page it came from: the
// sentence, and the status the page is served with.
func pageError(err error) (int, string, bool) {
	var ce *hazardbot.CaseError
	if errors.As(err, &ce) && !errors.Is(err, hazardbot.ErrForbidden) {
		return caseStatus(ce), ce.Msg, true
	}
	return 0, "", false
}

type volunteerRow struct {
	hazardbot.Volunteer
	Phone     string // whole, or masked for staff who need not call them
	MayDecide bool
}

type volunteersView struct {
	Status, Search string
	Statuses       []option
	Rows           []volunteerRow
	Pending        int
	Done, Error    string
}

var volunteerDone = map[string]string{"approve": "已通过，志愿者会在微信里收到通知。", "decline": "已标记为未通过，居民会收到通知。",
	"revoke": "已取消该志愿者的资格。"}

func (c *Console) volunteersView(r *request) (volunteersView, error) {
	v := volunteersView{Status: r.URL.Query().Get("status"), Search: strings.TrimSpace(r.URL.Query().Get("q"))}
	if r.Method == http.MethodPost {
		v.Status, v.Search = "", ""
	}
	for _, s := range []hazardbot.VolunteerStatus{hazardbot.VolunteerPending, hazardbot.VolunteerApproved, hazardbot.VolunteerDeclined} {
		v.Statuses = append(v.Statuses, option{string(s), s.Name()})
	}
	a := r.actor()
	f := storage.VolunteerFilter{Status: hazardbot.VolunteerStatus(v.Status), Search: v.Search, Limit: 200}
	if a.Role == hazardbot.RoleCommunity {
		f.CommunityID = a.CommunityID
	}
	list, err := c.Store.Volunteers(r.Context(), f)
	if err != nil {
		return v, err
	}
	for _, vol := range list {
		row := volunteerRow{Volunteer: vol, MayDecide: rewards.MayDecide(a, vol) && a.Role != hazardbot.RoleViewer,
			Phone: MaskPhone(vol.Mobile)}
		if rewards.MayDecide(a, vol) { // their own volunteers' staff call them
			row.Phone = vol.Mobile
		}
		if vol.Status == hazardbot.VolunteerPending {
			v.Pending++
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

func (c *Console) volunteers(w http.ResponseWriter, r *request) error {
	v, err := c.volunteersView(r)
	if err != nil {
		return err
	}
	v.Done = volunteerDone[r.URL.Query().Get("done")]
	c.render(w, r, http.StatusOK, "volunteers", "志愿者", v)
	return nil
}

func (c *Console) volunteerOp(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	vol, err := c.Store.VolunteerByID(r.Context(), id)
	if err != nil {
		return err
	}
	op := r.PathValue("op")
	var approve bool
	switch op {
	case "approve":
		approve = true
	case "decline", "revoke":
	default:
		return errNotFound
	}
	_, err = c.points().DecideVolunteer(r.Context(), r.actor(), vol.OpenID, approve, r.FormValue("note"))
	if status, msg, ok := pageError(err); ok {
		v, verr := c.volunteersView(r)
		if verr != nil {
			return verr
		}
		v.Error = msg
		c.render(w, r, status, "volunteers", "志愿者", v)
		return nil
	}
	if err != nil {
		return err
	}
	c.Kick()
	http.Redirect(w, r.Request, "/console/volunteers?done="+op, http.StatusSeeOther)
	return nil
}

type patrolRow struct {
	hazardbot.PatrolPoint
	Today     int // check-ins today
	MayManage bool
}

type checkInRow struct {
	hazardbot.CheckIn
	Point, Volunteer string
}

type patrolView struct {
	Points      []patrolRow
	Recent      []checkInRow
	Communities []option
	MayAdd      bool
	Day         string
	Done, Error string
	Form        hazardbot.PatrolPoint
}

func (c *Console) patrolView(r *request) (patrolView, error) {
	a := r.actor()
	v := patrolView{Day: hazardbot.Day(r.now), Form: hazardbot.PatrolPoint{Radius: 100, Active: true},
		MayAdd: a.Role != hazardbot.RoleViewer}
	_, _, v.Communities, _ = c.options(a)
	ctx := r.Context()
	points, err := c.Store.PatrolPoints(ctx, false)
	if err != nil {
		return v, err
	}
	today, err := c.Store.CheckIns(ctx, storage.CheckInFilter{FromDay: v.Day, ToDay: v.Day, Limit: 1000})
	if err != nil {
		return v, err
	}
	count := map[int64]int{}
	for _, ci := range today {
		count[ci.PointID]++
	}
	names := map[int64]string{}
	for _, p := range points {
		names[p.ID] = p.Name
		v.Points = append(v.Points, patrolRow{PatrolPoint: p, Today: count[p.ID],
			MayManage: a.Role != hazardbot.RoleViewer && rewards.MayManagePatrol(a, p.CommunityID)})
	}
	recent, err := c.Store.CheckIns(ctx, storage.CheckInFilter{Limit: 50})
	if err != nil {
		return v, err
	}
	who := map[string]string{}
	for _, ci := range recent {
		name, ok := who[ci.OpenID]
		if !ok {
			name = hazardbot.MaskedResident(ci.OpenID)
			if vol, err := c.Store.Volunteer(ctx, ci.OpenID); err == nil {
				name = vol.Name + "（" + vol.Number() + "）"
			}
			who[ci.OpenID] = name
		}
		v.Recent = append(v.Recent, checkInRow{CheckIn: ci, Point: names[ci.PointID], Volunteer: name})
	}
	return v, nil
}

func (c *Console) patrol(w http.ResponseWriter, r *request) error {
	v, err := c.patrolView(r)
	if err != nil {
		return err
	}
	v.Done = map[string]string{"saved": "已保存巡查点。"}[r.URL.Query().Get("done")]
	c.render(w, r, http.StatusOK, "patrol", "巡查点", v)
	return nil
}

func (c *Console) savePatrolPoint(w http.ResponseWriter, r *request) error {
	a := r.actor()
	p := hazardbot.PatrolPoint{Name: strings.TrimSpace(r.FormValue("name")), CommunityID: r.FormValue("community"),
		Active: r.FormValue("active") != ""}
	var bad []string
	p.ID, _ = strconv.ParseInt(r.FormValue("id"), 10, 64)
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(r.FormValue("lat")), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(r.FormValue("lng")), 64)
	radius, err3 := strconv.Atoi(strings.TrimSpace(r.FormValue("radius")))
	p.Lat, p.Lng, p.Radius = lat, lng, radius
	if p.Name == "" || len([]rune(p.Name)) > 64 {
		bad = append(bad, "名称（1-64个字）")
	}
	if err1 != nil || err2 != nil || lat < 3 || lat > 54 || lng < 73 || lng > 136 {
		bad = append(bad, "坐标（GCJ-02 纬度、经度，如 36.0650、103.8480）")
	}
	if err3 != nil || radius < 10 || radius > 5000 {
		bad = append(bad, "打卡半径（10-5000米）")
	}
	if !c.validCommunity(p.CommunityID) {
		bad = append(bad, "所属社区")
	}
	if p.ID != 0 {
		old, err := c.Store.PatrolPoint(r.Context(), p.ID)
		if err != nil {
			return err
		}
		if !rewards.MayManagePatrol(a, old.CommunityID) {
			return errForbidden
		}
	}
	if len(bad) == 0 && !rewards.MayManagePatrol(a, p.CommunityID) {
		return errForbidden
	}
	if len(bad) > 0 {
		v, err := c.patrolView(r)
		if err != nil {
			return err
		}
		v.Error, v.Form = "请检查："+strings.Join(bad, "、"), p
		c.render(w, r, http.StatusUnprocessableEntity, "patrol", "巡查点", v)
		return nil
	}
	if err := c.Store.SavePatrolPoint(r.Context(), &p, a.Label(), r.now); err != nil {
		return err
	}
	http.Redirect(w, r.Request, "/console/patrol?done=saved", http.StatusSeeOther)
	return nil
}
