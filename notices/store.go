package notices

import (
	"context"
	"time"
)

// These are the records the notices package exchanges with storage, and the
// interfaces it needs. storage.Store implements all of them.

// Delivery row states.
const (
	RowPending   = "pending"   // waiting to be sent (due_at: not before)
	RowSending   = "sending"   // claimed by a sender (due_at: lease end)
	RowSent      = "sent"      // accepted by WeChat
	RowFailed    = "failed"    // undeliverable or given up, with a reason
	RowCancelled = "cancelled" // the notice was withdrawn first
	RowMassQueue = "massq"     // waiting for a mass send
)

// Delivery is a claimed delivery row, with what the channel choice needs.
type Delivery struct {
	ID       int64
	NoticeID int64
	OpenID   string
	Attempts int // claims so far, this one included
	// Doubt is set when the row was found claimed by a sender whose lease
	// ran out: that attempt may or may not have reached WeChat.
	Doubt bool
	// Started is the channel the interrupted attempt had started a call
	// on, "" if it made none (or its call, a template, reports itself).
	Started   string
	AttemptAt time.Time // the first claim
	// LastInteraction is when the resident last wrote to the account, zero
	// when they are not in the users table: the 48-hour window runs from it.
	LastInteraction time.Time
}

// Outcome is what became of one claimed delivery.
type Outcome struct {
	ID      int64
	State   string // RowSent, RowPending (retry at DueAt) or RowFailed
	Channel string
	MsgID   int64 // template msgid
	Reason  string
	Detail  string
	DueAt   time.Time // RowPending: when to try again
}

// Candidate is a follower considered when a notice's audience is resolved.
type Candidate struct {
	OpenID      string
	Role        string // resident, volunteer, staff
	HasLocation bool
	Lat, Lng    float64 // last known location, GCJ-02
	Muted       bool    // only orange and red warnings
	MassCount   int     // mass messages by openid list this month
}

// Change is a checked state change of a notice, applied only while the
// notice is still in one of From.
type Change struct {
	ID        int64
	From      []State
	To        State
	At        time.Time
	By        Staff
	Action    string // audit action: submit, approve, reject, schedule, cancel
	Note      string // audit detail
	SendAt    *time.Time
	Approve   bool   // set approved_by/at from By
	Reject    string // reject_note
	CancelWhy string // cancel_reason
}

// ListFilter selects notices for staff.
type ListFilter struct {
	States []State // any when empty
	Kind   Kind    // any when ""
	Limit  int     // default 50
}

// MassClaim is a mass-send batch to send now.
type MassClaim struct {
	ClientMsgID string
	NoticeID    int64
	Mode        string   // list, all or tag
	OpenIDs     []string // list mode
	Attempts    int
}

// MassOutcome is what became of a mass-send call.
type MassOutcome struct {
	State  string // sent, pending (retry at DueAt) or failed (the rows fall back to one message each)
	MsgID  int64
	DueAt  time.Time
	Detail string
}

// Mass-send modes.
const (
	MassOff  = ""
	MassList = "list" // by openid list, at most 10,000 a call
	MassAll  = "all"  // to every follower
	MassTag  = "tag"  // to every follower with a tag
)

// MassQuota is how much of the four-a-month mass allowance is used.
type MassQuota struct {
	Broadcasts int // to-all and by-tag sends this month: they count for every follower
	MaxList    int // the most list sends any one follower got this month
}

// Store is what the Service needs from storage.
type Store interface {
	CreateNotice(ctx context.Context, n *Notice, at time.Time) error
	SaveDraft(ctx context.Context, n *Notice, by Staff, at time.Time) error
	GetNotice(ctx context.Context, id int64) (Notice, error)
	ListNotices(ctx context.Context, f ListFilter) ([]Notice, error)
	ChangeNotice(ctx context.Context, ch Change) (Notice, error)
	NoticeProgress(ctx context.Context, id int64) (Progress, error)
}

// DispatchStore is what the Dispatcher needs from storage.
type DispatchStore interface {
	GetNotice(ctx context.Context, id int64) (Notice, error)
	DueNotices(ctx context.Context, now time.Time) ([]int64, error)
	ChangeNotice(ctx context.Context, ch Change) (Notice, error)
	StartSending(ctx context.Context, id int64, from, until time.Time, massMode string, now time.Time) (bool, error)
	UnexpandedNotices(ctx context.Context) ([]int64, error)
	ExpandNotice(ctx context.Context, id int64, month string, limit int, pick func(Candidate) string, now time.Time) (bool, error)
	AddRecipients(ctx context.Context, id int64, openids []string, state string, now time.Time) error
	ReportersIn(ctx context.Context, grids []string) ([]string, error)
	MassQuota(ctx context.Context, month string) (MassQuota, error)
	MutedFollowers(ctx context.Context) (int, error)
	FinishNotices(ctx context.Context, now time.Time) (int, error)

	ClaimDeliveries(ctx context.Context, now time.Time, limit, window int, lease time.Duration) ([]Delivery, error)
	MarkAttempt(ctx context.Context, id int64, channel string, now time.Time) error
	RecordDeliveries(ctx context.Context, out []Outcome, now time.Time) error
	AdoptReceipt(ctx context.Context, d Delivery, slack time.Duration, now time.Time) (bool, error)
	TemplateReport(ctx context.Context, msgid int64, openid, status string, at, now time.Time) error
	PruneNoticeReceipts(ctx context.Context, before time.Time) (int64, error)

	ClaimMassBatch(ctx context.Context, now time.Time, lease time.Duration, month string) (MassClaim, bool, error)
	RecordMassBatch(ctx context.Context, clientMsgID string, out MassOutcome, now time.Time) error
	MassReport(ctx context.Context, msgID int64, status string, total, filtered, sent, errs int64, now time.Time) error
}

// ReadStore is what residents' views need: the chat, the public page and
// the CAP feed.
type ReadStore interface {
	GetNotice(ctx context.Context, id int64) (Notice, error)
	InForce(ctx context.Context, now time.Time, openid string, warningsOnly bool, limit int) ([]Notice, error)
	Chain(ctx context.Context, id int64) ([]Notice, error)
}
