// Package rewards applies the points rules of content/points.yaml to what
// residents do — a report verified, a report found malicious, staff's
// manual adjustments — and carries out the points' background work (the
// report.verified job, the expiry of redemption holds) and staff's
// decisions on volunteers and redemptions, with the messages that tell
// residents. The console and the worker call it; the ledger itself, with
// its guarantees, is in storage.
package rewards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/jobs"
	"hazardbot/storage"
)

// Service is the points rules with what they need.
type Service struct {
	Store   *storage.Store
	Content func() *content.Content
	Now     func() time.Time // default time.Now
	Log     *slog.Logger     // default: discard
	// TextJob is the job kind that sends a resident a chat text, with the
	// payload {"openid", "text"} (bot.KindCustomText); "" sends nothing.
	TextJob string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// customText is the payload of the TextJob, as the bot package reads it.
type customText struct {
	OpenID string `json:"openid"`
	Text   string `json:"text"`
}

// tell is the follow-up that sends a resident text, once per key.
func (s *Service) tell(openid, key, text string) []storage.FollowUp {
	if s.TextJob == "" || text == "" {
		return nil
	}
	return []storage.FollowUp{{Kind: s.TextJob, Key: key, Payload: customText{OpenID: openid, Text: text}}}
}

// refuse is an action staff may not take, or cannot take as asked, in a
// sentence they can act on; the console shows CaseErrors as they are.
func refuse(kind error, format string, args ...any) error {
	return &hazardbot.CaseError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ---- verified reports ----

// VerifiedAwards are the awards a verified report earns its reporter under
// the rules: the points for its risk level and, when first is true, the
// first reporter's bonus. Keys make each once per report, however often the
// verification is delivered.
func VerifiedAwards(p content.Points, r hazardbot.Report, risk hazardbot.Risk, first bool, at time.Time) []hazardbot.Award {
	id := strconv.FormatInt(r.ID, 10)
	var out []hazardbot.Award
	if n := p.Rules.ReportVerified[string(risk)]; n > 0 {
		out = append(out, hazardbot.Award{OpenID: r.OpenID, Points: n, SourceType: hazardbot.SourceReport, SourceID: id,
			Reason: content.Fill(p.Texts.Reasons.ReportVerified, "level", risk.Name()+"风险", "ticket", r.Ticket),
			Key:    "report:" + id + ":verified", At: at})
	}
	if first && p.Rules.FirstReporterBonus > 0 {
		out = append(out, hazardbot.Award{OpenID: r.OpenID, Points: p.Rules.FirstReporterBonus,
			SourceType: hazardbot.SourceReport, SourceID: id,
			Reason: content.Fill(p.Texts.Reasons.FirstReporter, "ticket", r.Ticket),
			Key:    "report:" + id + ":first", At: at})
	}
	return out
}

// HandleReportVerified is the job handler for hazardbot.JobReportVerified:
// it awards the reporter the points of the report's risk level, and the
// first reporter's bonus when no one reported that hazard before them
// (residents who followed the report, or filed the same hazard later, get
// nothing). Delivered again, it changes nothing.
func (s *Service) HandleReportVerified(ctx context.Context, job storage.Job) error {
	var p hazardbot.ReportVerified
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return jobs.Permanent(fmt.Errorf("rewards: report.verified payload: %w", err))
	}
	risk, ok := hazardbot.ParseRisk(p.RiskLevel)
	if !ok {
		return jobs.Permanent(fmt.Errorf("rewards: report %d verified with unknown risk level %q", p.ReportID, p.RiskLevel))
	}
	r, err := s.Store.Report(ctx, p.ReportID)
	if errors.Is(err, storage.ErrNotFound) {
		return jobs.Permanent(fmt.Errorf("rewards: verified report %d not found", p.ReportID))
	}
	if err != nil {
		return err
	}
	// Points belong to a WeChat resident: reports from other channels
	// (Open311) have no one to award.
	if r.OpenID == "" || (r.Source != "" && r.Source != "wechat") {
		return nil
	}
	c := s.Content()
	rules := c.Points.Rules
	first := false
	if rules.FirstReporterBonus > 0 {
		if first, err = s.Store.FirstReporter(ctx, r, float64(rules.FirstReporterRadius),
			time.Duration(rules.FirstReporterDays)*24*time.Hour); err != nil {
			return err
		}
	}
	awards := VerifiedAwards(c.Points, r, risk, first, s.now())
	if len(awards) == 0 {
		return nil
	}
	// The resident is not messaged: verification already sends them a
	// status notification, and every customer-service message spends an
	// allowance (five after each message of theirs) that the case's later
	// progress needs more. The points show in 我的积分 with their reason.
	res, err := s.Store.ApplyPoints(ctx, storage.PointsChange{Awards: awards})
	if err != nil {
		return err
	}
	if res.Added > 0 {
		// Report ids and points only: who earned them stays in the ledger.
		s.log().Info("rewards: points for a verified report", "report", r.ID, "risk", string(risk), "first", first,
			"entries", res.Added)
	}
	return nil
}

// MarkMalicious deducts the malicious-report penalty from the reporter of a
// report staff rejected as malicious or false, as far as their balance goes
// (it never goes below zero), once per report, audited, and tells them. It
// returns the points actually deducted.
func (s *Service) MarkMalicious(ctx context.Context, a hazardbot.Actor, ticket, note string) (int, error) {
	if a.Role != hazardbot.RoleAdmin && a.Role != hazardbot.RoleStreet {
		return 0, refuse(hazardbot.ErrForbidden, "只有街道工作人员和管理员可以认定恶意上报")
	}
	note = strings.TrimSpace(note)
	if note == "" || utf8.RuneCountInString(note) > hazardbot.MaxNote {
		return 0, refuse(hazardbot.ErrInvalid, "请填写认定恶意上报的理由（%d字以内）", hazardbot.MaxNote)
	}
	r, err := s.Store.ReportByTicket(ctx, strings.TrimSpace(ticket))
	if err != nil {
		return 0, err
	}
	if r.Status != hazardbot.StatusRejected {
		return 0, refuse(hazardbot.ErrIllegal, "工单 %s 当前为“%s”：只有不予受理的工单才能认定为恶意上报", r.Ticket, r.Status.Name())
	}
	if r.OpenID == "" || (r.Source != "" && r.Source != "wechat") {
		return 0, refuse(hazardbot.ErrIllegal, "工单 %s 不是微信用户上报的，没有积分可扣", r.Ticket)
	}
	c := s.Content()
	points := c.Points.Rules.MaliciousReport
	if points <= 0 {
		return 0, refuse(hazardbot.ErrIllegal, "积分规则没有设置恶意上报扣分")
	}
	id := strconv.FormatInt(r.ID, 10)
	at := s.now()
	award := hazardbot.Award{OpenID: r.OpenID, Points: -points, SourceType: hazardbot.SourceReport, SourceID: id,
		Reason: content.Fill(c.Points.Texts.Reasons.Malicious, "ticket", r.Ticket), Key: "report:" + id + ":malicious", At: at}
	// The resident is told the deduction the rules name; the ledger keeps
	// what their balance allowed.
	text := content.Fill(c.Points.Texts.Notes.Malicious, "ticket", r.Ticket, "points", strconv.Itoa(points))
	res, err := s.Store.ApplyPoints(ctx, storage.PointsChange{Awards: []hazardbot.Award{award}, Clamp: true,
		Audit: &storage.AuditEntry{At: at, Actor: a.Label(), Action: "points.malicious", SubjectType: "report",
			SubjectID: id, Detail: note},
		FollowUps: s.tell(r.OpenID, "points-note:malicious:"+id, text)})
	if err != nil {
		return 0, err
	}
	if res.Added == 0 {
		return 0, refuse(hazardbot.ErrIllegal, "工单 %s 已经认定过恶意上报，不会重复扣分", r.Ticket)
	}
	return -res.Applied[0], nil
}

// Adjustment limits.
const (
	MaxAdjust       = 10000
	MaxAdjustReason = 100
)

// Adjust is a manual correction of a resident's points by staff: a new
// entry (positive or negative, never below a zero balance) with a required
// reason, audited, and the resident told. key makes a double-submitted form
// count once.
func (s *Service) Adjust(ctx context.Context, a hazardbot.Actor, openid string, delta int, reason, key string) (storage.PointsResult, error) {
	if a.Role != hazardbot.RoleAdmin && a.Role != hazardbot.RoleStreet {
		return storage.PointsResult{}, refuse(hazardbot.ErrForbidden, "只有街道工作人员和管理员可以调整积分")
	}
	reason = strings.TrimSpace(reason)
	switch {
	case delta == 0 || delta > MaxAdjust || delta < -MaxAdjust:
		return storage.PointsResult{}, refuse(hazardbot.ErrInvalid, "调整的积分须为 -%d 到 %d 之间的非零整数", MaxAdjust, MaxAdjust)
	case reason == "" || utf8.RuneCountInString(reason) > MaxAdjustReason:
		return storage.PointsResult{}, refuse(hazardbot.ErrInvalid, "请填写调整理由（%d字以内），居民会看到", MaxAdjustReason)
	case key == "" || len(key) > 64:
		return storage.PointsResult{}, refuse(hazardbot.ErrInvalid, "表单已失效，请刷新后重试")
	}
	c := s.Content()
	at := s.now()
	line := content.Fill(c.Points.Texts.Reasons.Manual, "reason", reason)
	award := hazardbot.Award{OpenID: openid, Points: delta, Reason: line, SourceType: hazardbot.SourceManual,
		SourceID: a.Username, Key: "manual:" + key, At: at}
	text := content.Fill(c.Points.Texts.Notes.Adjusted, "delta", fmt.Sprintf("%+d", delta), "reason", reason)
	res, err := s.Store.ApplyPoints(ctx, storage.PointsChange{Awards: []hazardbot.Award{award},
		Audit: &storage.AuditEntry{At: at, Actor: a.Label(), Action: "points.adjust", SubjectType: "points",
			SubjectID: openid, Detail: fmt.Sprintf("%+d：%s", delta, reason)},
		FollowUps: s.tell(openid, "points-note:manual:"+key, text)})
	if errors.Is(err, storage.ErrInsufficientPoints) {
		bal, _ := s.Store.Balance(ctx, openid)
		return res, refuse(hazardbot.ErrInvalid, "扣减后积分会小于0（当前 %d 分），请调整扣减数额", bal)
	}
	return res, err
}

// ---- holds ----

// HandleExpireHold is the job handler for hazardbot.JobExpireHold: a hold
// not picked up by its expiry returns its points (once) and its item, and
// the resident is told. A hold picked up or cancelled meanwhile is left
// alone; a job that runs early is retried.
func (s *Service) HandleExpireHold(ctx context.Context, job storage.Job) error {
	var p hazardbot.ExpireHold
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return jobs.Permanent(fmt.Errorf("rewards: expire hold payload: %w", err))
	}
	red, err := s.Store.Redemption(ctx, p.RedemptionID)
	if errors.Is(err, storage.ErrNotFound) {
		return jobs.Permanent(fmt.Errorf("rewards: redemption %d not found", p.RedemptionID))
	}
	if err != nil {
		return err
	}
	t := s.Content().Points.Texts
	id := strconv.FormatInt(red.ID, 10)
	released, err := s.Store.Release(ctx, storage.ReleaseHold{RedemptionID: red.ID, To: hazardbot.RedemptionExpired,
		Actor: "system", Reason: content.Fill(t.Reasons.Expired, "reward", red.RewardName), At: s.now(),
		FollowUps: s.tell(red.OpenID, "points-note:expired:"+id,
			content.Fill(t.Notes.Expired, "reward", red.RewardName, "points", strconv.Itoa(red.Points)))})
	if released {
		s.log().Info("rewards: hold expired, points returned", "redemption", red.ID, "points", red.Points)
	}
	return err // ErrNotDue retries later
}

// CancelRedemption is staff cancelling a held redemption: the points and
// the item come back, audited, and the resident is told.
func (s *Service) CancelRedemption(ctx context.Context, a hazardbot.Actor, id int64, note string) error {
	if !a.Role.Valid() || a.Role == hazardbot.RoleViewer {
		return refuse(hazardbot.ErrForbidden, "只读用户不能取消兑换")
	}
	note = strings.TrimSpace(note)
	if note == "" || utf8.RuneCountInString(note) > hazardbot.MaxNote {
		return refuse(hazardbot.ErrInvalid, "请填写取消兑换的原因")
	}
	red, err := s.Store.Redemption(ctx, id)
	if err != nil {
		return err
	}
	t := s.Content().Points.Texts
	ok, err := s.Store.Release(ctx, storage.ReleaseHold{RedemptionID: id, To: hazardbot.RedemptionCancelled,
		Actor: a.Label(), Reason: content.Fill(t.Reasons.Cancelled, "reward", red.RewardName), Note: note, At: s.now(),
		FollowUps: s.tell(red.OpenID, "points-note:cancelled:"+strconv.FormatInt(id, 10),
			content.Fill(t.Notes.Cancelled, "reward", red.RewardName, "points", strconv.Itoa(red.Points)))})
	if err != nil {
		return err
	}
	if !ok {
		return refuse(hazardbot.ErrStale, "这笔兑换已经是“%s”，不能取消", red.Status.Name())
	}
	return nil
}

// ConfirmPickup is staff handing a held reward over against its pickup
// code: the held points stay spent (no ledger entry; see storage).
func (s *Service) ConfirmPickup(ctx context.Context, a hazardbot.Actor, code string) (hazardbot.Redemption, error) {
	if !a.Role.Valid() || a.Role == hazardbot.RoleViewer {
		return hazardbot.Redemption{}, refuse(hazardbot.ErrForbidden, "只读用户不能确认领取")
	}
	code = strings.TrimSpace(code)
	if len(code) != 8 || strings.Trim(code, "0123456789") != "" {
		return hazardbot.Redemption{}, refuse(hazardbot.ErrInvalid, "取货码是8位数字")
	}
	red, err := s.Store.ConfirmPickup(ctx, code, a.Label(), s.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return red, refuse(hazardbot.ErrInvalid, "没有找到取货码 %s，请核对后重试", code)
	case errors.Is(err, storage.ErrConflict):
		return red, refuse(hazardbot.ErrIllegal, "取货码 %s（%s）当前为“%s”，不能再领取", code, red.RewardName, red.Status.Name())
	case errors.Is(err, storage.ErrHoldExpired):
		return red, refuse(hazardbot.ErrIllegal, "取货码 %s 已于 %s 过期，积分会自动退回给居民", code,
			red.ExpiresAt.In(hazardbot.Shanghai).Format("2006-01-02 15:04"))
	}
	return red, err
}

// ---- volunteers ----

// MayDecide reports whether staff may decide on a volunteer: admins and
// street staff on anyone, community staff on their community's.
func MayDecide(a hazardbot.Actor, v hazardbot.Volunteer) bool {
	switch a.Role {
	case hazardbot.RoleAdmin, hazardbot.RoleStreet:
		return true
	case hazardbot.RoleCommunity:
		return a.CommunityID != "" && a.CommunityID == v.CommunityID
	}
	return false
}

// DecideVolunteer approves or declines an application, or revokes an
// approved volunteer (approve false), and tells the resident.
func (s *Service) DecideVolunteer(ctx context.Context, a hazardbot.Actor, openid string, approve bool, note string) (hazardbot.Volunteer, error) {
	v, err := s.Store.Volunteer(ctx, openid)
	if err != nil {
		return v, err
	}
	if !MayDecide(a, v) {
		return v, refuse(hazardbot.ErrForbidden, "您不能审核其他社区的志愿者")
	}
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > 200 {
		return v, refuse(hazardbot.ErrInvalid, "备注最多200个字")
	}
	t := s.Content().Volunteer.Signup
	reason := ""
	if note != "" {
		reason = content.Fill(t.Reason, "note", note)
	}
	text := t.ApprovedNote
	switch {
	case !approve && v.Status == hazardbot.VolunteerApproved:
		text = content.Fill(t.RevokedNote, "reason", reason)
	case !approve:
		text = content.Fill(t.DeclinedNote, "reason", reason)
	}
	at := s.now()
	// One message per decision: a later application decided again is told again.
	key := fmt.Sprintf("volunteer-note:%d:%d", v.ID, v.AppliedAt.UnixMicro())
	if v.Status == hazardbot.VolunteerApproved {
		key += ":revoked"
	}
	out, err := s.Store.DecideVolunteer(ctx, storage.VolunteerDecision{OpenID: openid, Approve: approve, Actor: a.Label(),
		Note: note, At: at, FollowUps: s.tell(openid, key, text)})
	if errors.Is(err, storage.ErrConflict) {
		return v, refuse(hazardbot.ErrStale, "%s 的报名刚刚已被处理，当前为“%s”，请刷新后再操作", v.Name, v.Status.Name())
	}
	return out, err
}

// MayManagePatrol reports whether staff may add or change a patrol point in
// a community: admins and street staff anywhere, community staff in theirs.
func MayManagePatrol(a hazardbot.Actor, communityID string) bool {
	switch a.Role {
	case hazardbot.RoleAdmin, hazardbot.RoleStreet:
		return true
	case hazardbot.RoleCommunity:
		return a.CommunityID != "" && a.CommunityID == communityID
	}
	return false
}
