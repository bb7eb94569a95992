package dialogs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
)

// Points in the chat: 我的积分 (balance, this month, holds waiting to be
// picked up, recent entries), 积分规则, and 积分兑换 — browse the catalog,
// pick, confirm, and get a pickup code while the points are held.

// PointsStore is what 我的积分 and 积分兑换 need from storage.
type PointsStore interface {
	Balance(ctx context.Context, openid string) (int, error)
	PointsHistory(ctx context.Context, openid string, limit int) ([]hazardbot.PointsEntry, error)
	PointsMonth(ctx context.Context, openid string, t time.Time) (hazardbot.PointsMonth, error)
	HeldRedemptions(ctx context.Context, openid string) ([]hazardbot.Redemption, error)
	AvailableRewards(ctx context.Context, now time.Time) ([]hazardbot.Reward, error)
	Redeem(ctx context.Context, req hazardbot.RedeemRequest) (hazardbot.Redemption, error)
}

// Menu keys of the points features.
const (
	KeyPoints = "POINTS"
	KeyRedeem = "REDEEM"
)

const (
	redeemFlow    = "redeem"
	recentEntries = 5
	maxShopItems  = 20
)

// AddPoints registers 我的积分, 积分规则 and 积分兑换.
func (e *Engine) AddPoints(store PointsStore) {
	p := &points{store: store}
	e.AddRoute(Route{Words: []string{"我的积分", "积分", "积分查询", "查积分", "查询积分", "积分明细"}, Keys: []string{KeyPoints},
		Answer: p.mine})
	e.AddRoute(Route{Words: []string{"积分规则", "怎么得积分", "积分怎么得", "如何获得积分"}, Answer: func(c *Ctx, in Input) ([]string, error) {
		return []string{pointsRulesText(c.Content.Points)}, nil
	}})
	e.AddFlow(p.redeemFlow())
	e.AddRoute(Route{Words: []string{"积分兑换", "兑换", "兑换礼品", "积分商城", "礼品兑换", "换礼品"}, Keys: []string{KeyRedeem}, Flow: redeemFlow})
}

type points struct{ store PointsStore }

func pointsRulesText(p content.Points) string {
	r := p.Rules
	v := func(level string) string { return strconv.Itoa(r.ReportVerified[level]) }
	return content.Fill(p.Texts.Mine.Rules, "blue", v("blue"), "yellow", v("yellow"), "orange", v("orange"), "red", v("red"),
		"first", strconv.Itoa(r.FirstReporterBonus), "quiz", strconv.Itoa(r.QuizPerCorrect),
		"quiz_cap", strconv.Itoa(r.QuizDailyCap), "patrol", strconv.Itoa(r.PatrolCheckIn),
		"malicious", strconv.Itoa(r.MaliciousReport), "days", strconv.Itoa(r.HoldDays))
}

// mine is 我的积分.
func (p *points) mine(c *Ctx, in Input) ([]string, error) {
	t := &c.Content.Points.Texts.Mine
	balance, err := p.store.Balance(c, c.OpenID)
	if err != nil {
		return nil, err
	}
	recent, err := p.store.PointsHistory(c, c.OpenID, recentEntries)
	if err != nil {
		return nil, err
	}
	if balance == 0 && len(recent) == 0 {
		return []string{t.Empty}, nil
	}
	held, err := p.store.HeldRedemptions(c, c.OpenID)
	if err != nil {
		return nil, err
	}
	month, err := p.store.PointsMonth(c, c.OpenID, c.Now)
	if err != nil {
		return nil, err
	}
	heldPoints := 0
	for _, h := range held {
		heldPoints += h.Points
	}
	head := content.Fill(t.Balance, "balance", strconv.Itoa(balance))
	if heldPoints > 0 {
		head += content.Fill(t.Held, "held", strconv.Itoa(heldPoints))
	}
	lines := []string{head, pointsMonthText(c, month)}
	if len(held) > 0 {
		lines = append(lines, t.Pending)
		for _, h := range held {
			lines = append(lines, content.Fill(t.PendingItem, "reward", h.RewardName, "code", h.Code,
				"until", h.ExpiresAt.In(hazardbot.Shanghai).Format("1月2日 15:04"), "place", c.Content.Points.PickupPlace))
		}
	}
	lines = append(lines, t.Recent)
	for _, e := range recent {
		status := ""
		if e.SourceType == hazardbot.SourceRedemption && e.Delta < 0 {
			status = t.HoldStatus[string(e.HoldStatus)]
		}
		lines = append(lines, content.Fill(t.Entry, "date", e.At.In(hazardbot.Shanghai).Format("01-02"),
			"delta", fmt.Sprintf("%+d", e.Delta), "reason", e.Reason, "status", status))
	}
	lines = append(lines, t.Footer)
	return []string{strings.Join(lines, "\n")}, nil
}

// monthText is this month's summary: earned by source, redeemed, deducted.
func pointsMonthText(c *Ctx, m hazardbot.PointsMonth) string {
	t := &c.Content.Points.Texts.Mine
	earned := 0
	sources := make([]string, 0, len(m.Earned))
	for src, n := range m.Earned {
		earned += n
		sources = append(sources, src)
	}
	// The order residents know from the rules: reports, quiz, patrols, the rest.
	order := map[string]int{hazardbot.SourceReport: 0, hazardbot.SourceQuiz: 1, hazardbot.SourcePatrol: 2}
	rank := func(s string) int {
		if r, ok := order[s]; ok {
			return r
		}
		return 3
	}
	sort.Slice(sources, func(i, j int) bool {
		if rank(sources[i]) != rank(sources[j]) {
			return rank(sources[i]) < rank(sources[j])
		}
		return sources[i] < sources[j]
	})
	var parts []string
	for _, src := range sources {
		name := t.Sources[src]
		if name == "" {
			name = t.Sources[hazardbot.SourceManual]
		}
		parts = append(parts, name+" "+strconv.Itoa(m.Earned[src]))
	}
	detail, deducted := "", ""
	if len(parts) > 1 {
		detail = content.Fill(t.MonthDetail, "parts", strings.Join(parts, "、"))
	}
	if m.Deducted < 0 {
		deducted = content.Fill(t.MonthDeducted, "deducted", strconv.Itoa(-m.Deducted))
	}
	return content.Fill(t.Month, "earned", strconv.Itoa(earned), "detail", detail,
		"redeemed", strconv.Itoa(-m.Redeemed), "deducted", deducted)
}

// ---- 积分兑换 ----

// shopItem is a reward as listed when the flow started.
type shopItem struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Points    int    `json:"points"`
	Stock     int    `json:"stock"`
	PerPerson int    `json:"per,omitempty"`
}

type redeemState struct {
	Key     string     `json:"key"` // with the reward's id, makes the redemption idempotent
	Items   []shopItem `json:"items,omitempty"`
	Balance int        `json:"balance"`
	Pick    int        `json:"pick,omitempty"` // 1-based index into Items
	End     bool       `json:"end,omitempty"`
}

// Effects of 积分兑换.
type (
	shopLoad   struct{}
	shopRedeem struct{}
)

func (p *points) redeemFlow() *Flow[redeemState] {
	return &Flow[redeemState]{
		Name: redeemFlow, Title: "积分兑换", Version: 1, First: "choose",
		Begin: func(c *Ctx, s *redeemState, in Input) Result {
			s.Key = fmt.Sprintf("redeem:%s:%d", c.OpenID, c.Now.UnixNano())
			return Result{Next: NextMissing, Effects: []any{shopLoad{}}}
		},
		Apply: p.applyRedeem,
		Next: func(c *Ctx, s *redeemState) string {
			switch {
			case s.End:
				return ""
			case s.Pick == 0:
				return "choose"
			}
			return "confirm"
		},
		Steps: map[string]Step[redeemState]{
			"choose":  {Ask: askShop, Handle: handleShop},
			"confirm": {Ask: askRedeemConfirm, Handle: handleRedeemConfirm},
		},
	}
}

func askShop(c *Ctx, s *redeemState) string {
	t := &c.Content.Points.Texts.Shop
	lines := []string{content.Fill(t.Header, "balance", strconv.Itoa(s.Balance))}
	for i, it := range s.Items {
		limit := ""
		if it.PerPerson > 0 {
			limit = content.Fill(t.Limit, "n", strconv.Itoa(it.PerPerson))
		}
		lines = append(lines, content.Fill(t.Item, "n", strconv.Itoa(i+1), "name", it.Name, "points", strconv.Itoa(it.Points),
			"stock", strconv.Itoa(it.Stock), "limit", limit))
	}
	lines = append(lines, t.Footer)
	return strings.Join(lines, "\n")
}

func handleShop(c *Ctx, s *redeemState, in Input) Result {
	t := &c.Content.Points.Texts.Shop
	w := strings.TrimSuffix(strings.TrimPrefix(Normalize(in.Text), "第"), "个")
	n, err := strconv.Atoi(w)
	if err != nil {
		// A reward's name works as well as its number.
		for i, it := range s.Items {
			if w != "" && w == Normalize(it.Name) {
				n, err = i+1, nil
			}
		}
	}
	if err != nil || n < 1 || n > len(s.Items) {
		return Result{Hint: content.Fill(t.Hint, "n", strconv.Itoa(len(s.Items)))}
	}
	it := s.Items[n-1]
	if s.Balance < it.Points {
		return Result{Hint: content.Fill(t.NotEnough, "name", it.Name, "points", strconv.Itoa(it.Points),
			"balance", strconv.Itoa(s.Balance), "short", strconv.Itoa(it.Points-s.Balance))}
	}
	s.Pick = n
	return Result{Next: NextMissing}
}

func askRedeemConfirm(c *Ctx, s *redeemState) string {
	it := s.Items[s.Pick-1]
	return content.Fill(c.Content.Points.Texts.Shop.Confirm, "points", strconv.Itoa(it.Points), "name", it.Name,
		"days", strconv.Itoa(c.Content.Points.Rules.HoldDays), "place", c.Content.Points.PickupPlace)
}

func handleRedeemConfirm(c *Ctx, s *redeemState, in Input) Result {
	switch Normalize(in.Text) {
	case "确认", "确定", "兑换", "确认兑换", "是", "好", "对", "要":
		return Result{Done: true, Effects: []any{shopRedeem{}}}
	case "重选", "重新选择", "换一个":
		s.Pick = 0
		return Result{Next: NextMissing}
	}
	return Result{Hint: c.Content.Points.Texts.Shop.ConfirmHint}
}

func (p *points) applyRedeem(c *Ctx, s *redeemState, effect any) ([]string, error) {
	t := &c.Content.Points.Texts.Shop
	switch effect.(type) {
	case shopLoad:
		rewards, err := p.store.AvailableRewards(c, c.Now)
		if err != nil {
			return nil, err
		}
		if s.Balance, err = p.store.Balance(c, c.OpenID); err != nil {
			return nil, err
		}
		if len(rewards) == 0 {
			s.End = true
			return []string{t.Empty}, nil
		}
		s.Items = nil
		for _, r := range rewards[:min(len(rewards), maxShopItems)] {
			s.Items = append(s.Items, shopItem{ID: r.ID, Name: r.Name, Points: r.Points, Stock: r.Stock, PerPerson: r.PerPerson})
		}
		return nil, nil
	case shopRedeem:
		it := s.Items[s.Pick-1]
		rules := c.Content.Points
		red, err := p.store.Redeem(c, hazardbot.RedeemRequest{OpenID: c.OpenID, RewardID: it.ID,
			Key: s.Key + ":" + strconv.FormatInt(it.ID, 10), Reason: content.Fill(rules.Texts.Reasons.Hold, "reward", it.Name),
			HoldFor: time.Duration(rules.Rules.HoldDays) * 24 * time.Hour, At: c.Now})
		switch {
		case err == nil:
			return []string{content.Fill(t.Done, "code", red.Code, "until", red.ExpiresAt.In(hazardbot.Shanghai).Format("1月2日 15:04"),
				"place", rules.PickupPlace, "name", red.RewardName, "points", strconv.Itoa(red.Points))}, nil
		case errors.Is(err, hazardbot.ErrOutOfStock):
			return []string{content.Fill(t.OutOfStock, "name", it.Name)}, nil
		case errors.Is(err, hazardbot.ErrLimitReached):
			return []string{content.Fill(t.LimitReached, "name", it.Name, "n", strconv.Itoa(it.PerPerson))}, nil
		case errors.Is(err, hazardbot.ErrUnavailable), errors.Is(err, hazardbot.ErrNotFound):
			return []string{content.Fill(t.Unavailable, "name", it.Name)}, nil
		case errors.Is(err, hazardbot.ErrInsufficientPoints):
			balance, _ := p.store.Balance(c, c.OpenID)
			return []string{content.Fill(t.ShortNow, "name", it.Name, "points", strconv.Itoa(it.Points),
				"balance", strconv.Itoa(balance))}, nil
		}
		return nil, err
	}
	return nil, fmt.Errorf("dialogs: redeem: unknown effect %T", effect)
}
