package hazardbot

import (
	"errors"
	"fmt"
	"time"
)

// Volunteers, patrols and the rewards residents redeem their points for: the
// types the dialogs, the storage, the console and the rewards rules share.
// How many points an event is worth lives in content/points.yaml and is
// applied by the rewards package.

// VolunteerStatus is where a volunteer's application stands.
type VolunteerStatus string

// Volunteer statuses. A declined resident may apply again.
const (
	VolunteerPending  VolunteerStatus = "pending"  // 待审核
	VolunteerApproved VolunteerStatus = "approved" // 已通过
	VolunteerDeclined VolunteerStatus = "declined" // 未通过
)

var volunteerStatusNames = map[VolunteerStatus]string{
	VolunteerPending: "待审核", VolunteerApproved: "已通过", VolunteerDeclined: "未通过",
}

// Name is the status as residents and staff read it.
func (s VolunteerStatus) Name() string {
	if n, ok := volunteerStatusNames[s]; ok {
		return n
	}
	return string(s)
}

// Volunteer is a resident who applied to patrol their community.
type Volunteer struct {
	ID          int64
	OpenID      string
	Name        string
	Mobile      string
	CommunityID string
	Skills      []string // skill names as listed in content/volunteer.yaml
	Status      VolunteerStatus
	Note        string // staff's note on the decision, told to the resident when declined
	DecidedBy   string
	AppliedAt   time.Time
	DecidedAt   time.Time // zero while pending
}

// Number is the volunteer's card number, ZY-000042.
func (v Volunteer) Number() string { return fmt.Sprintf("ZY-%06d", v.ID) }

// MaskMobile shows a mobile number as 139****5678, for everyone who does not
// need the whole number.
func MaskMobile(m string) string {
	if len(m) != 11 {
		return "***"
	}
	return m[:3] + "****" + m[7:]
}

// PatrolPoint is a place volunteers check in at on their rounds.
type PatrolPoint struct {
	ID          int64
	Name        string
	CommunityID string
	Lat, Lng    float64 // GCJ-02, as WeChat sends locations
	Radius      int     // metres: a check-in counts within this distance
	Active      bool    // retired points keep their check-ins but take no new ones
}

// CheckIn is a volunteer's visit to a patrol point; one a point a Shanghai day.
type CheckIn struct {
	ID       int64
	OpenID   string
	PointID  int64
	Day      string // 2006-01-02, Asia/Shanghai
	Lat, Lng float64
	Distance int // metres from the point
	MediaID  string
	PicURL   string
	Points   int
	At       time.Time
}

// Reward is an item in the catalog residents redeem points for.
type Reward struct {
	ID          int64
	Name        string
	Description string
	Points      int
	Stock       int // left to hand out; held items are already taken off
	PerPerson   int // at most this many held or picked up per resident; 0 no limit
	ValidFrom   time.Time
	ValidTo     time.Time // zero: no end
	Active      bool
}

// Available reports whether residents may redeem the reward at now (stock
// aside).
func (r Reward) Available(now time.Time) bool {
	return r.Active && !now.Before(r.ValidFrom) && (r.ValidTo.IsZero() || now.Before(r.ValidTo))
}

// RedemptionStatus is where a redemption stands.
type RedemptionStatus string

// Redemption statuses: a hold ends picked up (the points are spent), expired
// or cancelled (the points come back).
const (
	RedemptionHeld      RedemptionStatus = "held"      // 待领取
	RedemptionPickedUp  RedemptionStatus = "picked_up" // 已领取
	RedemptionExpired   RedemptionStatus = "expired"   // 已过期
	RedemptionCancelled RedemptionStatus = "cancelled" // 已取消
)

var redemptionStatusNames = map[RedemptionStatus]string{
	RedemptionHeld: "待领取", RedemptionPickedUp: "已领取", RedemptionExpired: "已过期，积分已退回",
	RedemptionCancelled: "已取消，积分已退回",
}

// Name is the status as residents and staff read it.
func (s RedemptionStatus) Name() string {
	if n, ok := redemptionStatusNames[s]; ok {
		return n
	}
	return string(s)
}

// Redemption is a resident's claim on one reward. While it is held, its
// points sit in a negative ledger entry (兑换冻结); an expiry or a
// cancellation adds the reversing entry, exactly once; a pickup changes
// nothing in the ledger: the held points simply stay spent.
type Redemption struct {
	ID         int64
	OpenID     string
	RewardID   int64
	RewardName string
	Points     int
	Code       string // the pickup code the resident shows
	Status     RedemptionStatus
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ClosedAt   time.Time // picked up, expired or cancelled; zero while held
	ClosedBy   string    // staff:<name> for pickups and cancellations, system for expiries
}

// RedeemRequest is a resident's confirmed wish to redeem a reward.
type RedeemRequest struct {
	OpenID   string
	RewardID int64
	// Key makes the request idempotent: the same key again returns the
	// redemption made the first time, whatever happened since.
	Key     string
	Reason  string // the hold's ledger line, e.g. 兑换冻结：灭火毯
	HoldFor time.Duration
	At      time.Time
}

// Why a redemption or an award was refused; nothing was written.
var (
	ErrInsufficientPoints = errors.New("not enough points")
	ErrOutOfStock         = errors.New("reward out of stock")
	ErrLimitReached       = errors.New("per-person limit reached")
	ErrUnavailable        = errors.New("reward not available")
)

// PointsEntry is one line of a resident's points ledger as residents and
// staff read it. HoldStatus is the redemption's current status for the
// entries of a redemption, so a hold shows as picked up once it is.
type PointsEntry struct {
	ID         int64
	OpenID     string
	Delta      int
	Balance    int // after this entry
	Reason     string
	SourceType string
	SourceID   string
	At         time.Time
	HoldStatus RedemptionStatus
}

// Points source types, as found in PointsEntry.SourceType and Award.SourceType.
const (
	SourceReport     = "report"
	SourceQuiz       = "quiz"
	SourcePatrol     = "patrol"
	SourceRedemption = "redemption"
	SourceManual     = "manual"
)

// PointsMonth sums a resident's ledger over one calendar month in Shanghai.
type PointsMonth struct {
	Month    string         // 2006-01
	Earned   map[string]int // positive entries by source type, redemptions aside
	Deducted int            // negative entries outside redemptions (≤ 0)
	Redeemed int            // the net of holds and their returns (≤ 0)
}

// Job kinds of the points features.
const (
	// JobExpireHold returns a redemption's points if it was not picked up
	// in time. It is enqueued with the hold, to run when the hold expires;
	// dedup key "expire-hold:<redemption id>".
	JobExpireHold = "points.expire_hold"
)

// ExpireHold is the payload of JobExpireHold.
type ExpireHold struct {
	RedemptionID int64 `json:"redemption_id"`
}
