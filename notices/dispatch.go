package notices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"hazardbot"
	"hazardbot/content"
)

// Sender is what delivery needs from WeChat's API (bot.Client).
type Sender interface {
	SendText(ctx context.Context, openid, text string) error
	SendTemplate(ctx context.Context, openid, templateID, link string, fields map[string]string) (int64, error)
	MassSendText(ctx context.Context, openids []string, text, clientMsgID string) (int64, error)
	// MassSendAllText sends to every follower (tagID 0) or to a tag's.
	MassSendAllText(ctx context.Context, tagID int, text, clientMsgID string) (int64, error)
	TagMembers(ctx context.Context, tagID int) ([]string, error)
}

// WeChat error codes delivery acts on (see WECHAT.md).
const (
	codeBusy         = -1
	codeBadToken     = 40001
	codeBadOpenID    = 40003
	codeTokenExpired = 42001
	codeNotFollowing = 43004
	codeFrequency    = 45009
	codeOutOfWindow  = 45015
	codeTooMany      = 45047
	codeMassRepeat   = 45065
)

// ServiceWindow is how long after a resident's last message WeChat lets us
// send customer-service messages.
const ServiceWindow = 48 * time.Hour

// MassMonthly is how many mass messages a follower may get a month.
const MassMonthly = 4

// Config tunes delivery. Zero values mean the defaults.
type Config struct {
	TemplateID   string       // template for residents outside the 48-hour window; "" sends them nothing
	TemplateKeys TemplateKeys // default DefaultTemplateKeys
	PublicURL    string       // the template message links to PublicURL/notices/{id}
	// Mass is how all-followers notices use mass send: "" never, "list"
	// by openid list, "all" to all followers, "tag" to MassTag's followers.
	// "all" and "tag" fall back to "list" when they would reach someone
	// who muted notices or is over the monthly allowance.
	Mass    string
	MassTag int
	// Rate caps deliveries per second, all senders together (0: no cap);
	// WeChat's 45009 also slows every sender down for FrequencyPause.
	Rate           float64
	FrequencyPause time.Duration // default 5s
	Senders        int           // concurrent senders, default 8
	Batch          int           // rows a sender claims at a time, default 64
	Lease          time.Duration // how long a claim lasts, default 2m
	// Grace is how long a row whose sender died waits for WeChat's send
	// report before it is sent again (default 2m): reports arrive within
	// seconds of a template message.
	Grace       time.Duration
	MaxAttempts int                             // default 8
	Backoff     func(attempt int) time.Duration // default DefaultBackoff
	ExpandChunk int                             // followers considered per transaction, default 2000
	CallTimeout time.Duration                   // one WeChat call, default 15s
}

// DefaultBackoff waits 5 s before the second attempt, doubling to at most
// 30 minutes, with ±20% jitter so that rows that failed together don't
// retry together.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Minute
	if attempt >= 1 && attempt < 20 {
		d = min(5*time.Second<<(attempt-1), d)
	}
	return d*4/5 + rand.N(d*2/5+1)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Dispatcher delivers notices: it starts scheduled notices when their time
// comes, resolves their audience into delivery rows, sends each row through
// the resident's channel, runs mass sends, and marks notices sent. Several
// instances may run against one database: rows and batches are claimed with
// leases, and every step is safe to repeat.
//
// Exactly once: a row is claimed (state sending, with a lease) before its
// message goes out, and recorded after. If the process dies in between,
// the lease runs out and the row comes back "in doubt". WeChat then tells
// us what happened where it can: a template message it delivered is
// reported by TEMPLATESENDJOBFINISH, which AdoptReceipt matches to the row
// (the row waits Grace for it before sending again), and a mass send
// repeated with its clientmsgid is refused with 45065, which counts as
// sent. A customer-service message has no such report, so the call is
// marked on the row (MarkAttempt) just before it is made and the outcome
// recorded the moment WeChat answers: a row in doubt without the mark was
// never sent and goes out now; one with it is counted as delivered
// (Progress.Unconfirmed) — wrong only if the process died in the instant
// between the mark and the request leaving. Stopping the dispatcher (ctx
// cancelled) never leaves rows in doubt: a call under way finishes and is
// recorded, and claimed rows not yet sent are released.
type Dispatcher struct {
	Store   DispatchStore
	Sender  Sender
	Content func() *content.Content
	Now     func() time.Time
	Log     *slog.Logger
	// Code extracts WeChat's errcode from a Sender error (bot.ErrCode): 0
	// means no code (a timeout, a refused connection).
	Code func(error) int
	Config

	mu        sync.Mutex
	wake      chan struct{}
	cache     map[int64]*Notice
	pauseTill atomic.Int64 // unix nanoseconds, real time
	pruned    time.Time    // last pruning of send reports; one goroutine runs tick
	pace      pacer

	// crash, set by tests, makes a sender stop dead at a stage ("sent":
	// WeChat accepted a message that is not yet recorded), as a killed
	// process would.
	crash func(stage string, d Delivery) bool
	dead  atomic.Bool
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (d *Dispatcher) lease() time.Duration       { return orDefault(d.Lease, 2*time.Minute) }
func (d *Dispatcher) grace() time.Duration       { return orDefault(d.Grace, 2*time.Minute) }
func (d *Dispatcher) senders() int               { return orDefault(d.Senders, 8) }
func (d *Dispatcher) batch() int                 { return orDefault(d.Batch, 16) }
func (d *Dispatcher) maxAttempts() int           { return orDefault(d.MaxAttempts, 8) }
func (d *Dispatcher) callTimeout() time.Duration { return orDefault(d.CallTimeout, 15*time.Second) }

func (d *Dispatcher) backoff(attempt int) time.Duration {
	if d.Backoff != nil {
		return d.Backoff(attempt)
	}
	return DefaultBackoff(attempt)
}

func (d *Dispatcher) keys() TemplateKeys {
	if d.TemplateKeys == (TemplateKeys{}) {
		return DefaultTemplateKeys
	}
	return d.TemplateKeys
}

func (d *Dispatcher) code(err error) int {
	if err == nil || d.Code == nil {
		return 0
	}
	return d.Code(err)
}

func (d *Dispatcher) wakeChan() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.wake == nil {
		d.wake = make(chan struct{})
	}
	return d.wake
}

// Kick wakes the dispatcher at once, e.g. when a notice was approved.
func (d *Dispatcher) Kick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.wake != nil {
		close(d.wake)
	}
	d.wake = make(chan struct{})
}

// Run delivers until ctx ends, polling every poll (default 1s) and at once
// after Kick. It returns once the calls under way are recorded.
func (d *Dispatcher) Run(ctx context.Context, poll time.Duration) {
	if poll <= 0 {
		poll = time.Second
	}
	var wg sync.WaitGroup
	for range d.senders() {
		wg.Go(func() {
			for {
				wake := d.wakeChan()
				n, err := d.sendBatch(ctx)
				if ctx.Err() != nil || d.dead.Load() {
					return
				}
				if err != nil {
					d.log().Error("notices: sending failed", "err", err)
				}
				if n > 0 && err == nil {
					continue
				}
				if !sleep(ctx, wake, poll) {
					return
				}
			}
		})
	}
	for {
		wake := d.wakeChan()
		busy, err := d.tick(ctx)
		if ctx.Err() != nil || d.dead.Load() {
			break
		}
		if err != nil {
			d.log().Error("notices: round failed", "err", err)
		}
		if busy {
			d.Kick() // new rows for the senders
			continue
		}
		if !sleep(ctx, wake, poll) {
			break
		}
	}
	wg.Wait()
}

func sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

// RunOnce does everything that is due now, in this goroutine, until nothing
// is left, and reports how many deliveries it sent or recorded. Tests drive
// the dispatcher with it and an injected clock.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for range 10000 {
		busy, err := d.tick(ctx)
		if err != nil {
			return total, err
		}
		sent := 0
		for {
			n, err := d.sendBatch(ctx)
			if err != nil {
				return total, err
			}
			if n == 0 {
				break
			}
			sent += n
		}
		total += sent
		if !busy && sent == 0 {
			return total, nil
		}
	}
	return total, errors.New("notices: work keeps coming")
}

// tick starts due notices, resolves audiences, runs mass sends and
// finishes notices; busy means it changed something.
func (d *Dispatcher) tick(ctx context.Context) (busy bool, err error) {
	if d.dead.Load() {
		return false, errCrashed
	}
	now := d.now()
	ids, err := d.Store.DueNotices(ctx, now)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		started, err := d.start(ctx, id, now)
		if err != nil {
			return busy, err
		}
		busy = busy || started
	}
	if ids, err = d.Store.UnexpandedNotices(ctx); err != nil {
		return busy, err
	}
	for _, id := range ids {
		if err := d.expand(ctx, id, now); err != nil {
			return busy, err
		}
		busy = true
	}
	for {
		c, ok, err := d.Store.ClaimMassBatch(ctx, d.now(), d.lease(), monthOf(d.now()))
		if err != nil || !ok {
			if err != nil {
				return busy, err
			}
			break
		}
		busy = true
		if err := d.sendMass(ctx, c); err != nil {
			return busy, err
		}
		if ctx.Err() != nil {
			return busy, nil
		}
	}
	n, err := d.Store.FinishNotices(ctx, d.now())
	if n > 0 {
		d.log().Info("notices: finished sending", "notices", n)
	}
	if err == nil && now.Sub(d.pruned) > time.Hour {
		d.pruned = now
		_, err = d.Store.PruneNoticeReceipts(ctx, now.Add(-receiptKeep))
	}
	return busy, err
}

// receiptKeep is how long a send report no row claimed is kept: a row in
// doubt looks for it within minutes of a crash.
const receiptKeep = 24 * time.Hour

func monthOf(t time.Time) string { return t.In(hazardbot.Shanghai).Format("2006-01") }

// notice returns a notice from the cache: what a notice says is fixed once
// it is sending.
func (d *Dispatcher) notice(ctx context.Context, id int64) (*Notice, error) {
	d.mu.Lock()
	n := d.cache[id]
	d.mu.Unlock()
	if n != nil {
		return n, nil
	}
	got, err := d.Store.GetNotice(ctx, id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cache == nil || len(d.cache) > 256 {
		d.cache = map[int64]*Notice{}
	}
	d.cache[id] = &got
	return &got, nil
}

// start moves a due notice to sending, with its validity fixed and its mass
// send planned.
func (d *Dispatcher) start(ctx context.Context, id int64, now time.Time) (bool, error) {
	n, err := d.Store.GetNotice(ctx, id)
	if err != nil {
		return false, err
	}
	n.PublishedAt = now
	from := n.From()
	until := n.Until()
	if !until.After(now) {
		// It came due after its end (approved too late): going out now
		// would tell residents something no longer true.
		_, err := d.Store.ChangeNotice(ctx, Change{ID: id, From: []State{StateSched}, To: StateCanceled, At: now,
			By: Staff{ID: "system", Name: "系统"}, Action: "cancel", CancelWhy: "有效期已过，未发送", Note: "expired before it could go out"})
		if errors.Is(err, ErrState) {
			err = nil // someone else moved it meanwhile
		}
		return false, err
	}
	mode, err := d.planMass(ctx, &n, now)
	if err != nil {
		return false, err
	}
	started, err := d.Store.StartSending(ctx, id, from, until, mode, now)
	if started {
		d.log().Info("notices: sending", "notice", id, "kind", n.Kind, "level", n.Level, "audience", n.Audience.Kind, "mass", mode)
	}
	return started, err
}

// planMass decides how an all-followers notice uses mass send, within each
// follower's four a month: to all (or a tag) only when that reaches no one
// who muted notices and no one over the allowance, else by openid list for
// those still under it (the others get one message each).
func (d *Dispatcher) planMass(ctx context.Context, n *Notice, now time.Time) (string, error) {
	if d.Mass == MassOff || (n.Audience.Kind != AudienceAll && n.Audience.Kind != AudienceTag) {
		return MassOff, nil
	}
	q, err := d.Store.MassQuota(ctx, monthOf(now))
	if err != nil {
		return "", err
	}
	if q.Broadcasts >= MassMonthly {
		return MassOff, nil
	}
	broadcast := MassOff
	switch {
	case n.Audience.Kind == AudienceTag:
		broadcast = MassTag
	case d.Mass == MassAll:
		broadcast = MassAll
	case d.Mass == MassTag && d.MassTag > 0:
		broadcast = MassTag
	}
	if broadcast != MassOff && q.Broadcasts+q.MaxList < MassMonthly {
		muted := 0
		// For a tag, who muted is known only once its members are (see
		// Store.AddRecipients).
		if !n.Important() && n.Audience.Kind != AudienceTag {
			if muted, err = d.Store.MutedFollowers(ctx); err != nil {
				return "", err
			}
		}
		if muted == 0 {
			return broadcast, nil
		}
	}
	return MassList, nil
}

// expand resolves a sending notice's audience into delivery rows.
func (d *Dispatcher) expand(ctx context.Context, id int64, now time.Time) error {
	n, err := d.Store.GetNotice(ctx, id)
	if err != nil {
		return err
	}
	if n.Audience.Kind == AudienceTag {
		members, err := d.Sender.TagMembers(ctx, n.Audience.TagID)
		if err != nil {
			return fmt.Errorf("notices: members of tag %d: %w", n.Audience.TagID, err)
		}
		state := RowPending
		if n.MassMode == MassTag {
			state = RowMassQueue // one mass send to the tag reaches them all
		}
		return d.Store.AddRecipients(ctx, id, members, state, now)
	}
	pick, err := d.picker(ctx, &n, now)
	if err != nil {
		return err
	}
	chunk := orDefault(d.ExpandChunk, 2000)
	for {
		done, err := d.Store.ExpandNotice(ctx, id, monthOf(now), chunk, pick, now)
		if err != nil || done {
			return err
		}
		d.Kick() // the senders can start on the rows so far
		if ctx.Err() != nil {
			return nil
		}
	}
}

// picker decides, follower by follower, who gets the notice and whether by
// mass send.
func (d *Dispatcher) picker(ctx context.Context, n *Notice, now time.Time) (func(Candidate) string, error) {
	c := d.Content()
	var inGrid map[string]bool
	reporters := map[string]bool{}
	if n.Audience.Kind == AudienceCommunities || n.Audience.Kind == AudienceGrids {
		ids := n.Audience.GridIDs(c.Grids)
		inGrid = map[string]bool{}
		for _, id := range ids {
			inGrid[id] = true
		}
		list, err := d.Store.ReportersIn(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			reporters[o] = true
		}
	}
	broadcasts := 0
	if n.MassMode == MassList {
		q, err := d.Store.MassQuota(ctx, monthOf(now))
		if err != nil {
			return nil, err
		}
		broadcasts = q.Broadcasts
	}
	a := n.Audience
	important := n.Important()
	return func(cd Candidate) string {
		if cd.Muted && !important {
			return ""
		}
		switch a.Kind {
		case AudienceVolunteers:
			if cd.Role != "volunteer" {
				return ""
			}
		case AudienceCommunities, AudienceGrids:
			in := reporters[cd.OpenID]
			if !in && cd.HasLocation {
				g, ok := c.Grids.Locate(cd.Lat, cd.Lng)
				in = ok && inGrid[g.ID]
			}
			if !in {
				return ""
			}
		case AudienceNear:
			if !cd.HasLocation || hazardbot.Distance(a.Lat, a.Lng, cd.Lat, cd.Lng) > a.Radius {
				return ""
			}
		}
		switch n.MassMode {
		case MassAll, MassTag:
			return RowMassQueue
		case MassList:
			if cd.MassCount+broadcasts < MassMonthly {
				return RowMassQueue
			}
		}
		return RowPending
	}, nil
}

// sendBatch claims a batch of due rows and delivers them one by one; it
// returns how many rows it claimed.
func (d *Dispatcher) sendBatch(ctx context.Context) (int, error) {
	if d.dead.Load() {
		return 0, errCrashed
	}
	rows, err := d.Store.ClaimDeliveries(ctx, d.now(), d.batch(), d.batch()*d.senders()+32, d.lease())
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	// What is recorded must be recorded even when ctx ends: that is what
	// keeps a stop from leaving rows in doubt.
	rctx := context.WithoutCancel(ctx)
	var out []Outcome
	for i, row := range rows {
		if ctx.Err() != nil {
			// Stopping: release what was claimed but not sent.
			for _, r := range rows[i:] {
				out = append(out, Outcome{ID: r.ID, State: RowPending, DueAt: d.now()})
			}
			break
		}
		o, record, err := d.deliver(ctx, row)
		if errors.Is(err, errCrashed) {
			return len(rows), err
		}
		if err != nil && ctx.Err() != nil {
			// Stopped before its call was made: released like the rest.
			out = append(out, Outcome{ID: row.ID, State: RowPending, DueAt: d.now()})
			continue
		}
		if err != nil {
			out = append(out, Outcome{ID: row.ID, State: RowPending, DueAt: d.now().Add(d.backoff(row.Attempts)),
				Detail: err.Error()})
			d.log().Error("notices: delivery failed", "notice", row.NoticeID, "row", row.ID, "err", err)
			continue
		}
		if d.crash != nil && d.crash("sent", row) {
			d.dead.Store(true)
			return len(rows), errCrashed // dead: nothing more is recorded
		}
		switch {
		case record == recordNow:
			if err := d.Store.RecordDeliveries(rctx, []Outcome{o}, d.now()); err != nil {
				return len(rows), err
			}
		case record == recordBatch:
			out = append(out, o)
		}
	}
	return len(rows), d.Store.RecordDeliveries(rctx, out, d.now())
}

type recording int

const (
	recordBatch recording = iota // with the rest of the batch
	recordNow                    // at once: a customer-service message WeChat accepted
	recorded                     // already recorded (a send report was adopted)
)

// deliver sends one row's message through the resident's channel.
func (d *Dispatcher) deliver(ctx context.Context, row Delivery) (Outcome, recording, error) {
	now := d.now()
	n, err := d.notice(ctx, row.NoticeID)
	if err != nil {
		return Outcome{}, 0, err
	}
	if row.Attempts > d.maxAttempts() {
		return Outcome{ID: row.ID, State: RowFailed, Reason: ReasonGaveUp,
			Detail: fmt.Sprintf("gave up after %d attempts", row.Attempts-1)}, recordBatch, nil
	}
	if row.Doubt {
		// The last sender died mid-send: if WeChat reported a template
		// message to this resident since, that was ours.
		found, err := d.Store.AdoptReceipt(ctx, row, time.Minute, now)
		if err != nil {
			return Outcome{}, 0, err
		}
		if found {
			return Outcome{}, recorded, nil
		}
		if row.Started == ChannelCustom {
			// It had called WeChat with a customer-service message: no
			// report will ever say whether that arrived, and in all
			// likelihood it did (the call is made the moment after it is
			// marked), so it is not sent again.
			return Outcome{ID: row.ID, State: RowSent, Channel: ChannelCustom, Reason: ReasonUnconfirmed,
				Detail: "interrupted after the call to WeChat: counted as delivered"}, recordBatch, nil
		}
		if until := row.AttemptAt.Add(d.grace()); now.Before(until) {
			return Outcome{ID: row.ID, State: RowPending, DueAt: until, Detail: "waiting for WeChat's report on an interrupted send"}, recordBatch, nil
		}
	}
	c := d.Content()
	link := Link(d.PublicURL, n.ID)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.callTimeout())
	defer cancel()
	inWindow := !row.LastInteraction.IsZero() && now.Sub(row.LastInteraction) < ServiceWindow
	if inWindow {
		d.pause(ctx)
		// Marked first: a customer-service message has no send report, so
		// after a crash only this mark tells a row whose message may be
		// out from one that was never sent.
		if err := d.Store.MarkAttempt(ctx, row.ID, ChannelCustom, now); err != nil {
			return Outcome{}, 0, err
		}
		if d.crash != nil && d.crash("marked", row) {
			d.dead.Store(true)
			return Outcome{}, 0, errCrashed
		}
		err := d.Sender.SendText(sctx, row.OpenID, Text(n, c, link))
		code := d.code(err)
		switch {
		case err == nil:
			return Outcome{ID: row.ID, State: RowSent, Channel: ChannelCustom}, recordNow, nil
		case code == codeOutOfWindow || code == codeTooMany:
			// The window closed or its allowance is used up: a template
			// still gets through.
			if d.TemplateID == "" {
				reason := map[int]string{codeOutOfWindow: ReasonOutOfWindow, codeTooMany: ReasonTooMany}[code]
				return Outcome{ID: row.ID, State: RowFailed, Channel: ChannelCustom, Reason: reason, Detail: err.Error()}, recordBatch, nil
			}
		default:
			return d.failure(row, ChannelCustom, err), recordBatch, nil
		}
	}
	if d.TemplateID == "" {
		return Outcome{ID: row.ID, State: RowFailed, Channel: ChannelTemplate, Reason: ReasonNoTemplate,
			Detail: "outside the 48-hour window and no notice template is configured"}, recordBatch, nil
	}
	fields := map[string]string{}
	for _, f := range TemplateFields(n, c, d.keys()) {
		fields[f.Key] = f.Value
	}
	d.pause(ctx)
	msgid, err := d.Sender.SendTemplate(sctx, row.OpenID, d.TemplateID, link, fields)
	if err == nil {
		return Outcome{ID: row.ID, State: RowSent, Channel: ChannelTemplate, MsgID: msgid}, recordBatch, nil
	}
	return d.failure(row, ChannelTemplate, err), recordBatch, nil
}

// failure classifies a refused send: the resident cannot be reached (no
// retry will change it), WeChat is busy or unreachable (retry with
// backoff), or WeChat refused the message itself.
func (d *Dispatcher) failure(row Delivery, channel string, err error) Outcome {
	o := Outcome{ID: row.ID, Channel: channel, State: RowFailed, Detail: err.Error()}
	switch code := d.code(err); code {
	case codeNotFollowing:
		o.Reason = ReasonNotFollowing
	case codeOutOfWindow:
		o.Reason = ReasonOutOfWindow
	case codeTooMany:
		o.Reason = ReasonTooMany
	case codeBadOpenID:
		o.Reason = ReasonInvalidOpenID
	case codeBusy, codeFrequency, codeBadToken, codeTokenExpired, 0:
		// 0: no answer (a timeout, a dropped connection); 40001/42001
		// arrive here only if a fresh token failed too.
		if code == codeFrequency {
			d.slowDown()
		}
		if row.Attempts >= d.maxAttempts() {
			o.Reason = ReasonGaveUp
			return o
		}
		o.State, o.DueAt = RowPending, d.now().Add(d.backoff(row.Attempts))
		d.log().Warn("notices: send failed, will retry", "notice", row.NoticeID, "channel", channel, "code", code, "attempt", row.Attempts)
	default:
		o.Reason = ReasonRejected
	}
	return o
}

// slowDown pauses every sender after WeChat's frequency limit.
func (d *Dispatcher) slowDown() {
	p := orDefault(d.FrequencyPause, 5*time.Second)
	d.pauseTill.Store(time.Now().Add(p).UnixNano())
}

// pause waits for the rate cap and any frequency pause: real time, since it
// paces real calls.
func (d *Dispatcher) pause(ctx context.Context) {
	if till := time.Unix(0, d.pauseTill.Load()); time.Now().Before(till) {
		t := time.NewTimer(time.Until(till))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	d.pace.wait(ctx, d.Rate)
}

// pacer spaces calls evenly at a rate per second.
type pacer struct {
	mu   sync.Mutex
	next time.Time
}

func (p *pacer) wait(ctx context.Context, rate float64) {
	if rate <= 0 {
		return
	}
	every := time.Duration(float64(time.Second) / rate)
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(every)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// sendMass makes one mass-send call and records it.
func (d *Dispatcher) sendMass(ctx context.Context, c MassClaim) error {
	n, err := d.notice(ctx, c.NoticeID)
	if err != nil {
		return err
	}
	text := Text(n, d.Content(), Link(d.PublicURL, n.ID))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.callTimeout())
	defer cancel()
	d.pause(ctx)
	var msgID int64
	switch c.Mode {
	case MassList:
		msgID, err = d.Sender.MassSendText(sctx, c.OpenIDs, text, c.ClientMsgID)
	case MassAll:
		msgID, err = d.Sender.MassSendAllText(sctx, 0, text, c.ClientMsgID)
	case MassTag:
		tag := d.MassTag
		if n.Audience.Kind == AudienceTag {
			tag = n.Audience.TagID
		}
		msgID, err = d.Sender.MassSendAllText(sctx, tag, text, c.ClientMsgID)
	default:
		err = fmt.Errorf("notices: unknown mass mode %q", c.Mode)
	}
	out := MassOutcome{State: "sent", MsgID: msgID}
	code := d.code(err)
	switch {
	case err == nil:
	case code == codeMassRepeat:
		// WeChat has this clientmsgid: the earlier attempt went out and
		// only its answer was lost.
		out = MassOutcome{State: "sent", Detail: "45065: sent by an earlier attempt"}
	case (code == codeBusy || code == codeFrequency || code == 0) && c.Attempts < d.maxAttempts():
		if code == codeFrequency {
			d.slowDown()
		}
		out = MassOutcome{State: "pending", DueAt: d.now().Add(d.backoff(c.Attempts)), Detail: err.Error()}
		d.log().Warn("notices: mass send failed, will retry", "notice", c.NoticeID, "code", code, "attempt", c.Attempts)
	default:
		// Its residents get one message each instead.
		out = MassOutcome{State: "failed", Detail: err.Error()}
		d.log().Error("notices: mass send refused, falling back to single messages", "notice", c.NoticeID, "code", code)
	}
	if d.crash != nil && d.crash("mass", Delivery{NoticeID: c.NoticeID}) {
		d.dead.Store(true)
		return errCrashed
	}
	return d.Store.RecordMassBatch(context.WithoutCancel(ctx), c.ClientMsgID, out, d.now())
}

var errCrashed = errors.New("notices: crashed (test)")

// TemplateFinished records WeChat's TEMPLATESENDJOBFINISH.
func (d *Dispatcher) TemplateFinished(ctx context.Context, openid string, msgID int64, status string) error {
	now := d.now()
	return d.Store.TemplateReport(ctx, msgID, openid, status, now, now)
}

// MassFinished records WeChat's MASSSENDJOBFINISH.
func (d *Dispatcher) MassFinished(ctx context.Context, msgID int64, status string, total, filtered, sent, errs int64) error {
	return d.Store.MassReport(ctx, msgID, status, total, filtered, sent, errs, d.now())
}
