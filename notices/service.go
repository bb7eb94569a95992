package notices

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hazardbot/content"
)

// Service is what staff do with notices, from the console or the chat:
// compose, submit, approve or reject, schedule, withdraw, and update or
// lift a warning in force. Every rule is checked here, so both surfaces
// behave alike; storage re-checks the state when it applies a change.
type Service struct {
	Store   Store
	Content func() *content.Content
	Now     func() time.Time
	// Kick wakes the dispatcher when a notice may go out now.
	Kick func()
	// PublicURL and TemplateKeys make previews match what residents get.
	PublicURL    string
	TemplateKeys TemplateKeys
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) kick() {
	if s.Kick != nil {
		s.Kick()
	}
}

// Get returns a notice.
func (s *Service) Get(ctx context.Context, id int64) (Notice, error) {
	n, err := s.Store.GetNotice(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return n, refuse(ErrNotFound, "没有第%d号通知", id)
	}
	return n, err
}

// List lists notices for staff, newest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Notice, error) {
	return s.Store.ListNotices(ctx, f)
}

// Progress reports how a notice's delivery stands.
func (s *Service) Progress(ctx context.Context, id int64) (Progress, error) {
	return s.Store.NoticeProgress(ctx, id)
}

// Preview renders a notice as residents will see it.
func (s *Service) Preview(n *Notice) Preview {
	keys := s.TemplateKeys
	if keys == (TemplateKeys{}) {
		keys = DefaultTemplateKeys
	}
	return MakePreview(n, s.Content(), s.PublicURL, keys, s.now())
}

// Create stores a new draft written by staff.
func (s *Service) Create(ctx context.Context, by Staff, n Notice) (Notice, error) {
	if !by.CanCompose() {
		return n, refuse(ErrForbidden, "您没有发布通知的权限")
	}
	if err := Validate(&n, by, s.Content(), s.now()); err != nil {
		return n, err
	}
	if n.Refs != 0 {
		if err := s.checkOriginal(ctx, &n); err != nil {
			return n, err
		}
	}
	n.ID, n.State = 0, StateDraft
	n.CreatedBy, n.CreatedByName = by.ID, by.Name
	n.ApprovedBy, n.ApprovedByName, n.ApprovedAt = "", "", time.Time{}
	if err := s.Store.CreateNotice(ctx, &n, s.now()); err != nil {
		return n, err
	}
	return n, nil
}

// Edit replaces a draft's content; only its author or an approver may.
func (s *Service) Edit(ctx context.Context, by Staff, n Notice) (Notice, error) {
	cur, err := s.Get(ctx, n.ID)
	if err != nil {
		return n, err
	}
	if err := s.mayChange(by, &cur); err != nil {
		return n, err
	}
	if cur.State != StateDraft {
		return n, refuse(ErrState, "第%d号当前为“%s”，只有草稿可以修改", cur.ID, cur.State.Name())
	}
	n.MsgType, n.Refs = cur.MsgType, cur.Refs // what it updates or lifts is fixed
	if err := Validate(&n, by, s.Content(), s.now()); err != nil {
		return n, err
	}
	if err := s.Store.SaveDraft(ctx, &n, by, s.now()); err != nil {
		return n, err
	}
	return s.Get(ctx, n.ID)
}

func (s *Service) mayChange(by Staff, n *Notice) error {
	if !by.CanCompose() {
		return refuse(ErrForbidden, "您没有发布通知的权限")
	}
	if by.ID != n.CreatedBy && !by.CanApprove() {
		return refuse(ErrForbidden, "只有提交人或街道工作人员可以处理第%d号", n.ID)
	}
	return nil
}

// checkOriginal makes sure an update or lift refers to the warning now in
// force: the head of its chain, published, not yet replaced.
func (s *Service) checkOriginal(ctx context.Context, n *Notice) error {
	orig, err := s.Get(ctx, n.Refs)
	if err != nil {
		return err
	}
	switch {
	case orig.Kind != KindWarning:
		return refuse(ErrInvalid, "第%d号不是预警，不能更新或解除", orig.ID)
	case !orig.State.Published():
		return refuse(ErrInvalid, "第%d号还没有发布", orig.ID)
	case orig.SupersededBy != 0:
		return refuse(ErrInvalid, "第%d号已被第%d号更新或解除，请对最新一条操作", orig.ID, orig.SupersededBy)
	case orig.MsgType == MsgCancel:
		return refuse(ErrInvalid, "第%d号是解除通知，不能再更新", orig.ID)
	}
	return nil
}

// Submit sends a draft on its way: to approval for orange and red
// warnings, otherwise straight to sending (at SendAt if set).
func (s *Service) Submit(ctx context.Context, by Staff, id int64) (Notice, error) {
	n, err := s.Get(ctx, id)
	if err != nil {
		return n, err
	}
	if err := s.mayChange(by, &n); err != nil {
		return n, err
	}
	if err := Validate(&n, by, s.Content(), s.now()); err != nil {
		return n, err
	}
	if n.Refs != 0 {
		if err := s.checkOriginal(ctx, &n); err != nil {
			return n, err
		}
	}
	if !n.ValidUntil.IsZero() && !n.ValidUntil.After(s.now()) {
		return n, refuse(ErrInvalid, "有效期已过，请修改有效期")
	}
	to := StateSched
	if n.NeedsApproval() {
		to = StateApproval
	}
	n, err = s.Store.ChangeNotice(ctx, Change{ID: id, From: []State{StateDraft}, To: to, At: s.now(), By: by,
		Action: "submit", Note: n.Title})
	if err == nil && to == StateSched {
		s.kick()
	}
	return n, err
}

// Approve lets an orange or red warning go out. The approver must be
// street staff or an administrator, and not its author: two people stand
// behind every such warning.
func (s *Service) Approve(ctx context.Context, by Staff, id int64) (Notice, error) {
	n, err := s.Get(ctx, id)
	if err != nil {
		return n, err
	}
	if !by.CanApprove() {
		return n, refuse(ErrForbidden, "只有街道工作人员或管理员可以审核预警")
	}
	if by.ID == n.CreatedBy {
		return n, refuse(ErrForbidden, "第%d号是您提交的，须由另一名工作人员审核", id)
	}
	if n.State != StateApproval {
		return n, refuse(ErrState, "第%d号当前为“%s”，不需要审核", id, n.State.Name())
	}
	n, err = s.Store.ChangeNotice(ctx, Change{ID: id, From: []State{StateApproval}, To: StateSched, At: s.now(), By: by,
		Action: "approve", Approve: true, Note: fmt.Sprintf("approved by %s", by.Name)})
	if err == nil {
		s.kick()
	}
	return n, err
}

// Reject sends a warning awaiting approval back to draft, with the reason.
func (s *Service) Reject(ctx context.Context, by Staff, id int64, reason string) (Notice, error) {
	n, err := s.Get(ctx, id)
	if err != nil {
		return n, err
	}
	if !by.CanApprove() {
		return n, refuse(ErrForbidden, "只有街道工作人员或管理员可以审核预警")
	}
	if reason == "" {
		reason = "审核未通过"
	}
	return s.Store.ChangeNotice(ctx, Change{ID: id, From: []State{StateApproval}, To: StateDraft, At: s.now(), By: by,
		Action: "reject", Reject: reason, Note: reason})
}

// Schedule sets when a notice goes out (zero: as soon as it may). An
// approved warning keeps its approval: the text is what was approved.
func (s *Service) Schedule(ctx context.Context, by Staff, id int64, at time.Time) (Notice, error) {
	n, err := s.Get(ctx, id)
	if err != nil {
		return n, err
	}
	if err := s.mayChange(by, &n); err != nil {
		return n, err
	}
	if !at.IsZero() && !n.ValidUntil.IsZero() && !at.Before(n.ValidUntil) {
		return n, refuse(ErrInvalid, "发送时间须早于有效期结束")
	}
	switch n.State {
	case StateDraft, StateApproval, StateSched:
	default:
		return n, refuse(ErrState, "第%d号当前为“%s”，不能再改发送时间", id, n.State.Name())
	}
	note := "send as soon as possible"
	if !at.IsZero() {
		note = "send at " + at.UTC().Format(time.RFC3339)
	}
	n, err = s.Store.ChangeNotice(ctx, Change{ID: id, From: []State{n.State}, To: n.State, At: s.now(), By: by,
		Action: "schedule", SendAt: &at, Note: note})
	if err == nil && n.State == StateSched {
		s.kick()
	}
	return n, err
}

// Cancel withdraws a notice that has not finished: nothing more of it goes
// out. (Lifting a warning residents already have is Lift.)
func (s *Service) Cancel(ctx context.Context, by Staff, id int64, reason string) (Notice, error) {
	n, err := s.Get(ctx, id)
	if err != nil {
		return n, err
	}
	if err := s.mayChange(by, &n); err != nil {
		return n, err
	}
	return s.Store.ChangeNotice(ctx, Change{ID: id, From: []State{StateDraft, StateApproval, StateSched, StateSending},
		To: StateCanceled, At: s.now(), By: by, Action: "cancel", CancelWhy: reason, Note: reason})
}

// Amend starts an update of a warning in force: a draft copy that, once
// sent, replaces it (CAP msgType Update).
func (s *Service) Amend(ctx context.Context, by Staff, id int64) (Notice, error) {
	orig, err := s.Get(ctx, id)
	if err != nil {
		return orig, err
	}
	n := Notice{Kind: orig.Kind, Level: orig.Level, Hazard: orig.Hazard, MsgType: MsgUpdate, Refs: orig.ID,
		Title: orig.Title, Body: orig.Body, Instruction: orig.Instruction, Audience: orig.Audience,
		Exercise: orig.Exercise, ValidUntil: orig.ValidUntil}
	return s.Create(ctx, by, n)
}

// Lift starts the lifting of a warning in force: a draft that, once sent,
// tells its audience the danger is over (CAP msgType Cancel) and retires it.
func (s *Service) Lift(ctx context.Context, by Staff, id int64) (Notice, error) {
	orig, err := s.Get(ctx, id)
	if err != nil {
		return orig, err
	}
	c := s.Content()
	head := Headline(&orig, c)
	n := Notice{Kind: orig.Kind, Level: orig.Level, Hazard: orig.Hazard, MsgType: MsgCancel, Refs: orig.ID,
		Title: Shorten("解除"+head, MaxTitle), Body: "天水郡街道于" + clock(s.now()) + "解除" + head + "（" + orig.Title +
			"）。请继续留意社区通知。", Instruction: "危险已解除，请有序恢复正常生产生活。", Audience: orig.Audience,
		Exercise: orig.Exercise, ValidUntil: s.now().Add(DefaultValidity)}
	return s.Create(ctx, by, n)
}
