package console

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/storage"
)

// The rewards catalog, pickups and the points ledger (积分兑换、积分台账):
// staff keep the catalog and its stock, hand rewards over against pickup
// codes, cancel holds, and — street staff and admins — read each person's
// ledger, adjust it with a reason, mark a report malicious and export the
// ledger. Every change is audited (by storage, in its transaction).

type redemptionRow struct {
	hazardbot.Redemption
	Who string // a volunteer's name, or a masked resident
}

// rewardRow is a catalog item with its dates as the edit form wants them.
type rewardRow struct {
	hazardbot.Reward
	From, To string // Shanghai dates; To is the last day, "" for none
	Open     bool   // residents may redeem it now
}

type rewardsView struct {
	Rewards     []rewardRow
	Held        []redemptionRow
	Closed      []redemptionRow
	Supervisor  bool
	Worker      bool
	Now         time.Time
	Done, Error string
	Picked      *hazardbot.Redemption
	Form        rewardForm
}

type rewardForm struct {
	ID                          int64
	Name, Description, From, To string
	Points, Stock, PerPerson    int
	Active                      bool
}

var rewardsDone = map[string]string{"saved": "已保存礼品。", "stock": "已调整库存。", "cancelled": "已取消兑换，积分已退回给居民。"}

func (c *Console) rewardsView(r *request) (rewardsView, error) {
	a := r.actor()
	v := rewardsView{Supervisor: a.Role == hazardbot.RoleAdmin || a.Role == hazardbot.RoleStreet,
		Worker: a.Role != hazardbot.RoleViewer, Now: r.now,
		Form: rewardForm{Active: true, From: hazardbot.Day(r.now), Stock: 10}}
	ctx := r.Context()
	catalog, err := c.Store.Rewards(ctx)
	if err != nil {
		return v, err
	}
	for _, rw := range catalog {
		row := rewardRow{Reward: rw, From: hazardbot.Day(rw.ValidFrom), Open: rw.Available(r.now)}
		if !rw.ValidTo.IsZero() {
			row.To = hazardbot.Day(rw.ValidTo.Add(-time.Microsecond))
		}
		v.Rewards = append(v.Rewards, row)
	}
	held, err := c.Store.Redemptions(ctx, storage.RedemptionFilter{Status: hazardbot.RedemptionHeld, Limit: 200})
	if err != nil {
		return v, err
	}
	recent, err := c.Store.Redemptions(ctx, storage.RedemptionFilter{Limit: 100})
	if err != nil {
		return v, err
	}
	who := c.residentNames(r)
	for _, h := range held {
		v.Held = append(v.Held, redemptionRow{Redemption: h, Who: who(h.OpenID)})
	}
	for _, h := range recent {
		if h.Status != hazardbot.RedemptionHeld && len(v.Closed) < 30 {
			v.Closed = append(v.Closed, redemptionRow{Redemption: h, Who: who(h.OpenID)})
		}
	}
	return v, nil
}

// residentNames names residents on lists: a volunteer by name, anyone else
// masked, as on public lists.
func (c *Console) residentNames(r *request) func(openid string) string {
	seen := map[string]string{}
	return func(openid string) string {
		if n, ok := seen[openid]; ok {
			return n
		}
		n := hazardbot.MaskedResident(openid)
		if vol, err := c.Store.Volunteer(r.Context(), openid); err == nil {
			n = "志愿者 " + vol.Name
		}
		seen[openid] = n
		return n
	}
}

func (c *Console) rewardsPage(w http.ResponseWriter, r *request) error {
	v, err := c.rewardsView(r)
	if err != nil {
		return err
	}
	v.Done = rewardsDone[r.URL.Query().Get("done")]
	c.render(w, r, http.StatusOK, "rewards", "积分兑换", v)
	return nil
}

// rewardsRefused shows the rewards page again with why an action was refused.
func (c *Console) rewardsRefused(w http.ResponseWriter, r *request, status int, msg string, edit func(*rewardsView)) error {
	v, err := c.rewardsView(r)
	if err != nil {
		return err
	}
	v.Error = msg
	if edit != nil {
		edit(&v)
	}
	c.render(w, r, status, "rewards", "积分兑换", v)
	return nil
}

// day parses a date field (Shanghai) as the midnight that begins it.
func day(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(s), hazardbot.Shanghai)
	return t, err == nil
}

func (c *Console) saveReward(w http.ResponseWriter, r *request) error {
	f := rewardForm{Name: strings.TrimSpace(r.FormValue("name")), Description: strings.TrimSpace(r.FormValue("description")),
		From: r.FormValue("from"), To: r.FormValue("to"), Active: r.FormValue("active") != ""}
	f.ID, _ = strconv.ParseInt(r.FormValue("id"), 10, 64)
	var bad []string
	var err error
	if f.Points, err = strconv.Atoi(strings.TrimSpace(r.FormValue("points"))); err != nil || f.Points <= 0 || f.Points > 1000000 {
		bad = append(bad, "所需积分（正整数）")
	}
	if f.ID == 0 {
		if f.Stock, err = strconv.Atoi(strings.TrimSpace(r.FormValue("stock"))); err != nil || f.Stock < 0 {
			bad = append(bad, "库存（0或正整数）")
		}
	}
	if f.PerPerson, err = strconv.Atoi(strings.TrimSpace(r.FormValue("per_person"))); err != nil || f.PerPerson < 0 {
		bad = append(bad, "每人限兑（0表示不限）")
	}
	if f.Name == "" || len([]rune(f.Name)) > 64 || len([]rune(f.Description)) > 255 {
		bad = append(bad, "名称（1-64个字）和说明（255字以内）")
	}
	from, ok := day(f.From)
	if !ok {
		bad = append(bad, "开始兑换日期")
	}
	var to time.Time
	if strings.TrimSpace(f.To) != "" {
		end, ok := day(f.To)
		if !ok || end.Before(from) {
			bad = append(bad, "截止日期（不早于开始日期，可留空）")
		}
		to = end.AddDate(0, 0, 1) // the whole last day
	}
	if len(bad) > 0 {
		return c.rewardsRefused(w, r, http.StatusUnprocessableEntity, "请检查："+strings.Join(bad, "、"),
			func(v *rewardsView) { v.Form = f })
	}
	rw := hazardbot.Reward{ID: f.ID, Name: f.Name, Description: f.Description, Points: f.Points, Stock: f.Stock,
		PerPerson: f.PerPerson, ValidFrom: from.UTC(), ValidTo: to, Active: f.Active}
	if err := c.Store.SaveReward(r.Context(), &rw, r.actor().Label(), r.now); err != nil {
		return err
	}
	http.Redirect(w, r.Request, "/console/rewards?done=saved", http.StatusSeeOther)
	return nil
}

func (c *Console) rewardStock(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if _, err := c.Store.Reward(r.Context(), id); err != nil {
		return err
	}
	delta, err := strconv.Atoi(strings.TrimSpace(r.FormValue("delta")))
	if err != nil || delta == 0 || delta > 100000 || delta < -100000 {
		return c.rewardsRefused(w, r, http.StatusUnprocessableEntity, "请填写要增加（正数）或减少（负数）的件数", nil)
	}
	if _, err := c.Store.AddStock(r.Context(), id, delta, r.actor().Label(), r.now); err != nil {
		if err == storage.ErrOutOfStock {
			return c.rewardsRefused(w, r, http.StatusConflict, "库存不能减到0以下（已兑换待领取的不在库存里）", nil)
		}
		return err
	}
	http.Redirect(w, r.Request, "/console/rewards?done=stock", http.StatusSeeOther)
	return nil
}

func (c *Console) pickup(w http.ResponseWriter, r *request) error {
	red, err := c.points().ConfirmPickup(r.Context(), r.actor(), r.FormValue("code"))
	if status, msg, ok := pageError(err); ok {
		return c.rewardsRefused(w, r, status, msg, nil)
	}
	if err != nil {
		return err
	}
	// Shown at once, not after a redirect: the desk hands the item over
	// while reading it.
	v, err := c.rewardsView(r)
	if err != nil {
		return err
	}
	v.Picked = &red
	v.Done = fmt.Sprintf("取货码 %s 已确认领取：「%s」（%d积分）。", red.Code, red.RewardName, red.Points)
	c.render(w, r, http.StatusOK, "rewards", "积分兑换", v)
	return nil
}

func (c *Console) cancelRedemption(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	err = c.points().CancelRedemption(r.Context(), r.actor(), id, r.FormValue("note"))
	if status, msg, ok := pageError(err); ok {
		return c.rewardsRefused(w, r, status, msg, nil)
	}
	if err != nil {
		return err
	}
	c.Kick()
	http.Redirect(w, r.Request, "/console/rewards?done=cancelled", http.StatusSeeOther)
	return nil
}

// ---- the points ledger ----

type accountRow struct {
	storage.PointsAccount
	Masked string
}

type pointsView struct {
	Search      string
	Rows        []accountRow
	From, To    string // the export's default range: this month
	Done, Error string
	Ticket      string
}

func (c *Console) pointsView(r *request) (pointsView, error) {
	v := pointsView{Search: strings.TrimSpace(r.URL.Query().Get("q"))}
	start := storage.MonthStart(r.now)
	v.From, v.To = start.Format(time.DateOnly), start.AddDate(0, 1, -1).Format(time.DateOnly)
	list, err := c.Store.PointsAccounts(r.Context(), v.Search, 200, 0)
	if err != nil {
		return v, err
	}
	for _, a := range list {
		v.Rows = append(v.Rows, accountRow{PointsAccount: a, Masked: hazardbot.MaskedResident(a.OpenID)})
	}
	return v, nil
}

func (c *Console) pointsAccounts(w http.ResponseWriter, r *request) error {
	v, err := c.pointsView(r)
	if err != nil {
		return err
	}
	if n := r.URL.Query().Get("deducted"); n != "" {
		v.Done = "已认定为恶意上报，扣除 " + n + " 积分（余额不足时扣到0为止），居民会收到通知。"
	}
	c.render(w, r, http.StatusOK, "points", "积分台账", v)
	return nil
}

func (c *Console) malicious(w http.ResponseWriter, r *request) error {
	n, err := c.points().MarkMalicious(r.Context(), r.actor(), r.FormValue("ticket"), r.FormValue("note"))
	if err == storage.ErrNotFound {
		err = &hazardbot.CaseError{Kind: hazardbot.ErrInvalid, Msg: "没有找到这个工单号"}
	}
	if status, msg, ok := pageError(err); ok {
		v, verr := c.pointsView(r)
		if verr != nil {
			return verr
		}
		v.Error, v.Ticket = msg, r.FormValue("ticket")
		c.render(w, r, status, "points", "积分台账", v)
		return nil
	}
	if err != nil {
		return err
	}
	c.Kick()
	http.Redirect(w, r.Request, "/console/points?deducted="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

type personView struct {
	OpenID, Masked string
	Volunteer      *hazardbot.Volunteer
	Balance, Held  int
	Entries        []hazardbot.PointsEntry
	Redemptions    []hazardbot.Redemption
	Key            string // makes the adjustment form count once
	Done, Error    string
	Delta, Reason  string
}

func formKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Console) personView(r *request, openid string) (personView, error) {
	ctx := r.Context()
	v := personView{OpenID: openid, Masked: hazardbot.MaskedResident(openid), Key: formKey()}
	var err error
	if v.Balance, err = c.Store.Balance(ctx, openid); err != nil {
		return v, err
	}
	if v.Held, err = c.Store.HeldPoints(ctx, openid); err != nil {
		return v, err
	}
	if v.Entries, err = c.Store.PointsHistory(ctx, openid, 500); err != nil {
		return v, err
	}
	if v.Redemptions, err = c.Store.Redemptions(ctx, storage.RedemptionFilter{OpenID: openid, Limit: 50}); err != nil {
		return v, err
	}
	if vol, err := c.Store.Volunteer(ctx, openid); err == nil {
		v.Volunteer = &vol
	}
	if len(v.Entries) == 0 && v.Volunteer == nil {
		return v, errNotFound
	}
	return v, nil
}

// personLedger is one resident's ledger. It shows their openid, so every
// view is audited like a reporter's identity.
func (c *Console) personLedger(w http.ResponseWriter, r *request) error {
	openid := r.PathValue("openid")
	v, err := c.personView(r, openid)
	if err != nil {
		return err
	}
	if err := c.Store.AppendAudit(r.Context(), storage.AuditEntry{At: r.now, Actor: r.actor().Label(), Action: "points.view",
		SubjectType: "points", SubjectID: openid}); err != nil {
		return err
	}
	v.Done = map[string]string{"adjusted": "已调整积分，居民会收到通知。"}[r.URL.Query().Get("done")]
	c.render(w, r, http.StatusOK, "person", "积分明细", v)
	return nil
}

func (c *Console) adjust(w http.ResponseWriter, r *request) error {
	openid := r.PathValue("openid")
	if _, err := c.personView(r, openid); err != nil {
		return err
	}
	delta, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(r.FormValue("delta"), "+")))
	if err != nil {
		delta = 0 // refused below with the sentence for it
	}
	_, err = c.points().Adjust(r.Context(), r.actor(), openid, delta, r.FormValue("reason"), r.FormValue("key"))
	if status, msg, ok := pageError(err); ok {
		v, verr := c.personView(r, openid)
		if verr != nil {
			return verr
		}
		v.Error, v.Delta, v.Reason, v.Key = msg, r.FormValue("delta"), r.FormValue("reason"), r.FormValue("key")
		c.render(w, r, status, "person", "积分明细", v)
		return nil
	}
	if err != nil {
		return err
	}
	c.Kick()
	http.Redirect(w, r.Request, "/console/points/"+url.PathEscape(openid)+"?done=adjusted", http.StatusSeeOther)
	return nil
}

// exportLedger writes the ledger of a date range as CSV (UTF-8 with a BOM,
// so Excel opens it), oldest first. It carries openids, so it is audited.
func (c *Console) exportLedger(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	from, ok1 := day(q.Get("from"))
	to, ok2 := day(q.Get("to"))
	if !ok1 || !ok2 || to.Before(from) || to.Sub(from) > 366*24*time.Hour {
		return badRequest("请选择导出的起止日期（最长一年）")
	}
	end := to.AddDate(0, 0, 1)
	if err := c.Store.AppendAudit(r.Context(), storage.AuditEntry{At: r.now, Actor: r.actor().Label(), Action: "points.export",
		SubjectType: "points", Detail: from.Format(time.DateOnly) + "~" + to.Format(time.DateOnly)}); err != nil {
		return err
	}
	sources := c.Content().Points.Texts.Mine.Sources
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="points-ledger-%s_%s.csv"`,
		from.Format(time.DateOnly), to.Format(time.DateOnly)))
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"时间", "居民openid", "变动", "变动后余额", "事由", "来源", "来源编号"})
	err := c.Store.EachLedgerEntry(r.Context(), from, end, func(e hazardbot.PointsEntry) error {
		src := sources[e.SourceType]
		if src == "" {
			src = e.SourceType
			if e.SourceType == hazardbot.SourceRedemption {
				src = "兑换"
			}
		}
		return cw.Write([]string{shanghai(e.At), e.OpenID, fmt.Sprintf("%+d", e.Delta), strconv.Itoa(e.Balance),
			csvSafe(e.Reason), src, csvSafe(e.SourceID)})
	})
	cw.Flush()
	if err != nil {
		// Headers are gone; the log has the cause and the file ends short.
		c.Log.Error("console: export ledger", "err", err)
	}
	return nil
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
