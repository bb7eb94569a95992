package dialogs

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

	"hazardbot/content"
)

// lockMGetter is a session store that can take a lock and read in one
// round trip (Redis); others lock, then read.
type lockMGetter interface {
	LockMGet(ctx context.Context, key string, ttl, wait time.Duration, keys ...string) (func(), [][]byte, error)
}

// lockAndLoad takes the resident's lock and reads their active and paused
// flows.
func (e *Engine) lockAndLoad(ctx context.Context, openid string) (func(), [][]byte, error) {
	keys := []string{"sess:" + openid, "stash:" + openid}
	if lm, ok := e.Sessions.(lockMGetter); ok {
		return lm.LockMGet(ctx, "lock:"+openid, lockTTL, lockWait, keys...)
	}
	unlock, err := e.Sessions.Lock(ctx, "lock:"+openid, lockTTL, lockWait)
	if err != nil {
		return nil, nil, err
	}
	vals, err := e.Sessions.MGet(ctx, keys...)
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("dialogs: load session: %w", err)
	}
	return unlock, vals, nil
}

// Sessions is the part of the session store the engine needs.
type Sessions interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	MGet(ctx context.Context, keys ...string) ([][]byte, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Del(ctx context.Context, key string) error
	Lock(ctx context.Context, key string, ttl, wait time.Duration) (unlock func(), err error)
}

// Drafts records in the database which flow a resident has open: written
// when a flow starts and ends, read only when a message makes no sense
// without its session.
type Drafts interface {
	MarkDraft(ctx context.Context, openid, flow string, at time.Time) error
	Draft(ctx context.Context, openid string) (flow string, at time.Time, err error)
}

// Route says what a word or a menu key does outside a flow: start a flow, or
// answer at once.
type Route struct {
	Words []string // whole messages, compared after Normalize
	// Match takes free text that no word matched (a ticket number, words
	// of danger); routes with Match are tried in the order added.
	Match  func(c *Ctx, text string) bool
	Keys   []string // menu event keys
	Events []string // events such as subscribe
	Flow   string
	Answer func(c *Ctx, in Input) ([]string, error)
}

// Engine runs conversations: one active flow per resident, global words,
// idle timeout, paused flows and version changes.
type Engine struct {
	Sessions Sessions
	Content  func() *content.Content
	Now      func() time.Time
	Log      *slog.Logger
	// Idle is how long a flow waits for the resident (default 30 minutes).
	Idle time.Duration
	// PhotoFlow and LocationFlow start when a photo or a location arrives
	// outside any flow.
	PhotoFlow, LocationFlow string
	// Drafts, when set, durably marks which flow a resident is in, so that
	// a draft lost with the session store (a Redis restart) is explained
	// instead of met with "not understood".
	Drafts Drafts
	// Ask answers free text outside flows (the knowledge base); false means
	// it has no good answer and the fallback is used.
	Ask func(c *Ctx, text string) ([]string, bool)
	// Metrics, when set, hears when flows start, complete or are abandoned.
	Metrics FlowMetrics

	flows   map[string]runner
	matches []*Route
	words   map[string]*Route
	keys    map[string]*Route
	events  map[string]*Route
}

const (
	stashTTL     = 24 * time.Hour
	lockTTL      = 10 * time.Second
	lockWait     = 3 * time.Second
	maxMisses    = 3
	maxReplySize = 2000 // bytes; WeChat's text messages stop at 2048
)

// ErrBusy means the resident's previous message is still being handled.
var ErrBusy = errors.New("dialogs: busy")

// AddFlow registers a flow (a *Flow[S]).
func (e *Engine) AddFlow(f runner) {
	if e.flows == nil {
		e.flows = map[string]runner{}
	}
	e.flows[f.name()] = f
}

// AddRoute registers words, keys and events.
func (e *Engine) AddRoute(r Route) {
	if e.words == nil {
		e.words, e.keys, e.events = map[string]*Route{}, map[string]*Route{}, map[string]*Route{}
	}
	rr := &r
	for _, w := range r.Words {
		e.words[Normalize(w)] = rr
	}
	for _, k := range r.Keys {
		e.keys[k] = rr
	}
	for _, ev := range r.Events {
		e.events[ev] = rr
	}
	if r.Match != nil {
		e.matches = append(e.matches, rr)
	}
}

// HandlesKey reports whether a menu key does something.
func (e *Engine) HandlesKey(key string) bool { _, ok := e.keys[key]; return ok }

// session is a resident's active flow as stored.
type session struct {
	Flow    string          `json:"flow"`
	Version int             `json:"v"`
	Step    string          `json:"step"`
	Back    []string        `json:"back,omitempty"`
	Misses  int             `json:"misses,omitempty"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data"`
}

// turn is the work of one input: the resident's sessions as loaded, what to
// say, and whether the stored state changed.
type turn struct {
	e       *Engine
	c       *Ctx
	sess    *session
	stash   map[string]*session
	say     []string
	dirty   bool // sess changed
	stashed bool // stash changed
}

// Handle runs one input through the resident's conversation and returns the
// replies. On a storage failure it returns the busy text as its reply along
// with the error, and the resident's state is unchanged.
func (e *Engine) Handle(ctx context.Context, in Input) ([]Reply, error) {
	c := &Ctx{Context: ctx, OpenID: in.OpenID, Now: e.now(), Content: e.Content()}
	unlock, vals, err := e.lockAndLoad(ctx, in.OpenID)
	if err != nil {
		return e.busy(c), fmt.Errorf("dialogs: lock: %w", err)
	}
	defer unlock()
	if echo, err := e.pickerEcho(ctx, in); err != nil || echo {
		return nil, err
	}
	t := &turn{e: e, c: c}
	if err := t.load(vals); err != nil {
		return e.busy(c), err
	}
	if err := t.run(in); err != nil {
		return e.busy(c), err
	}
	if err := t.save(); err != nil {
		return e.busy(c), err
	}
	return pack(t.say), nil
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) idle() time.Duration {
	if e.Idle > 0 {
		return e.Idle
	}
	return 30 * time.Minute
}

func (e *Engine) busy(c *Ctx) []Reply { return []Reply{{Text: c.Content.Messages.Busy}} }

func (t *turn) load(vals [][]byte) error {
	raw := vals[0]
	if raw != nil {
		t.sess = &session{}
		if err := json.Unmarshal(raw, t.sess); err != nil || t.e.flows[t.sess.Flow] == nil {
			// Unreadable or from a flow that no longer exists: start afresh
			// rather than strand the resident.
			t.e.Log.Warn("dropping unreadable session", "err", err)
			t.sess, t.dirty = nil, true
		}
	}
	raw = vals[1]
	t.stash = map[string]*session{}
	if raw != nil {
		if err := json.Unmarshal(raw, &t.stash); err != nil {
			t.stash, t.stashed = map[string]*session{}, true
		}
	}
	return nil
}

func (t *turn) save() error {
	ctx, id := t.c.Context, t.c.OpenID
	if t.dirty {
		if t.sess == nil {
			if err := t.e.Sessions.Del(ctx, "sess:"+id); err != nil {
				return fmt.Errorf("dialogs: clear session: %w", err)
			}
		} else {
			raw, err := json.Marshal(t.sess)
			if err != nil {
				return err
			}
			// Kept a little past the idle timeout so the timeout can be noticed
			// and the draft moved to the paused flows.
			if err := t.e.Sessions.Set(ctx, "sess:"+id, raw, t.e.idle()+stashTTL); err != nil {
				return fmt.Errorf("dialogs: save session: %w", err)
			}
		}
	}
	if t.stashed {
		for name, s := range t.stash {
			if t.c.Now.Sub(s.At) > stashTTL {
				delete(t.stash, name)
			}
		}
		if len(t.stash) == 0 {
			return t.e.Sessions.Del(ctx, "stash:"+id)
		}
		raw, err := json.Marshal(t.stash)
		if err != nil {
			return err
		}
		if err := t.e.Sessions.Set(ctx, "stash:"+id, raw, stashTTL); err != nil {
			return fmt.Errorf("dialogs: save paused flows: %w", err)
		}
	}
	return nil
}

func (t *turn) run(in Input) error {
	m := &t.c.Content.Messages
	if t.sess != nil && t.c.Now.Sub(t.sess.At) > t.e.idle() {
		title := t.e.flows[t.sess.Flow].title()
		t.e.metrics().FlowAbandoned(t.sess.Flow, "idle")
		t.pause()
		t.say = append(t.say, content.Fill(m.IdleTimeout, "flow", title,
			"minutes", strconv.Itoa(int(t.e.idle().Minutes()))))
		// Only an unmistakable new request goes on; anything else was most
		// likely an answer to the old question.
		if t.routeOf(in) == nil && in.Kind != KindImage && in.Kind != KindLocation {
			return nil
		}
	}
	if in.Kind == KindText || in.Kind == KindVoice {
		if done, err := t.globalWord(Normalize(in.Text)); done || err != nil {
			return err
		}
	}
	if in.Kind == KindEvent && in.Event == EventClick {
		return t.route(in)
	}
	// The menu's location picker answers the active flow only when that flow
	// takes locations (a report); in any other flow it is a menu request.
	if in.Kind == KindEvent && in.Event == EventLocationSelect && t.sess != nil && t.sess.Flow != t.e.LocationFlow {
		return t.route(in)
	}
	if t.sess != nil {
		if in.Kind == KindEvent && in.Event == EventPicPhoto {
			return nil // the photos follow as image messages
		}
		return t.step(in)
	}
	return t.route(in)
}

// globalWord handles the words that work in every step.
func (t *turn) globalWord(w string) (bool, error) {
	m := &t.c.Content.Messages
	switch w {
	case "取消", "退出", "不报了", "算了", "cancel":
		if t.sess == nil {
			t.say = append(t.say, m.NothingToCancel)
		} else {
			t.e.metrics().FlowAbandoned(t.sess.Flow, "cancel")
			t.sess, t.dirty = nil, true
			t.markDraft("")
			t.say = append(t.say, m.Cancelled)
		}
		return true, nil
	case "帮助", "help", "?", "？":
		if t.sess == nil {
			t.say = append(t.say, m.Help)
			return true, nil
		}
		t.say = append(t.say, content.Fill(m.StepHelp, "flow", t.e.flows[t.sess.Flow].title()))
		return true, t.askCurrent()
	case "返回上一步", "上一步", "返回", "back":
		if t.sess == nil || len(t.sess.Back) == 0 {
			t.say = append(t.say, m.NothingToGoBack)
			if t.sess != nil {
				return true, t.askCurrent()
			}
			return true, nil
		}
		t.sess.Step = t.sess.Back[len(t.sess.Back)-1]
		t.sess.Back = t.sess.Back[:len(t.sess.Back)-1]
		t.sess.Misses, t.sess.At, t.dirty = 0, t.c.Now, true
		return true, t.askCurrent()
	case "菜单", "menu", "主菜单":
		if t.sess != nil {
			t.pause()
		}
		t.say = append(t.say, m.Menu)
		return true, nil
	case "继续":
		return true, t.resume()
	}
	return false, nil
}

// pause moves the active flow to the paused flows, where 继续 or starting the
// same flow again finds it.
func (t *turn) pause() {
	if t.sess == nil {
		return
	}
	t.stash[t.sess.Flow] = t.sess
	t.sess, t.dirty, t.stashed = nil, true, true
}

func (t *turn) resume() error {
	m := &t.c.Content.Messages
	if t.sess != nil {
		return t.askCurrent()
	}
	var latest *session
	for _, s := range t.stash {
		if latest == nil || s.At.After(latest.At) {
			latest = s
		}
	}
	if latest == nil {
		if !t.explainLostDraft() {
			t.say = append(t.say, m.NothingToResume)
		}
		return nil
	}
	return t.unstash(latest.Flow, true)
}

// unstash makes a paused flow active again; ask re-asks its question.
func (t *turn) unstash(name string, ask bool) error {
	s := t.stash[name]
	delete(t.stash, name)
	t.stashed = true
	s.At = t.c.Now
	t.sess, t.dirty = s, true
	if !t.upToDate() {
		return t.restartAfterUpgrade()
	}
	t.say = append(t.say, content.Fill(t.c.Content.Messages.Resumed, "flow", t.e.flows[s.Flow].title()))
	if !ask {
		return nil
	}
	return t.askCurrent()
}

func (t *turn) routeOf(in Input) *Route {
	switch in.Kind {
	case KindText, KindVoice:
		if r := t.e.words[Normalize(in.Text)]; r != nil {
			return r
		}
		if t.sess == nil {
			for _, r := range t.e.matches {
				if r.Match(t.c, in.Text) {
					return r
				}
			}
		}
		return nil
	case KindEvent:
		if in.Key != "" {
			if r := t.e.keys[in.Key]; r != nil {
				return r
			}
		}
		return t.e.events[in.Event]
	}
	return nil
}

// route handles an input outside any flow, or a menu click inside one.
func (t *turn) route(in Input) error {
	m := &t.c.Content.Messages
	r := t.routeOf(in)
	switch {
	case r != nil && r.Flow != "":
		return t.start(r.Flow, in)
	case r != nil:
		if t.sess != nil && in.Kind == KindEvent {
			t.pause()
			t.say = append(t.say, content.Fill(m.Paused, "flow", t.e.flows[t.stashName()].title()))
		}
		texts, err := r.Answer(t.c, in)
		t.say = append(t.say, texts...)
		return err
	case in.Kind == KindImage && t.e.PhotoFlow != "":
		return t.start(t.e.PhotoFlow, in)
	case (in.Kind == KindLocation || in.Event == EventLocationSelect) && t.e.LocationFlow != "":
		return t.start(t.e.LocationFlow, in)
	case in.Kind == KindEvent:
		return nil // events nobody handles need no answer
	case in.Kind == KindText || in.Kind == KindVoice:
		// A lost draft first: the text was most likely an answer to it.
		if t.explainLostDraft() {
			return nil
		}
		if t.e.Ask != nil && strings.TrimSpace(in.Text) != "" {
			if texts, ok := t.e.Ask(t.c, in.Text); ok {
				t.say = append(t.say, texts...)
				return nil
			}
		}
		t.say = append(t.say, m.Fallback)
	default:
		t.say = append(t.say, m.Unsupported)
	}
	return nil
}

// stashName is the flow most recently paused.
func (t *turn) stashName() string {
	var latest *session
	for _, s := range t.stash {
		if latest == nil || s.At.After(latest.At) {
			latest = s
		}
	}
	return latest.Flow
}

func (t *turn) start(name string, in Input) error {
	f := t.e.flows[name]
	if f == nil {
		return fmt.Errorf("dialogs: no flow %q", name)
	}
	if t.sess != nil {
		if t.sess.Flow == name {
			return t.askCurrent() // already in it
		}
		title := t.e.flows[t.sess.Flow].title()
		t.pause()
		t.say = append(t.say, content.Fill(t.c.Content.Messages.Paused, "flow", title))
	}
	if _, ok := t.stash[name]; ok {
		// A photo or a location goes to the resumed step; otherwise re-ask.
		carried := in.Kind == KindImage || in.Kind == KindLocation
		if err := t.unstash(name, !carried); err != nil || !carried || t.sess == nil {
			return err
		}
		return t.step(in)
	}
	data, res, err := f.begin(t.c, in)
	if err != nil {
		return err
	}
	t.sess = &session{Flow: name, Version: f.version(), At: t.c.Now, Data: data}
	t.e.metrics().FlowStarted(name)
	t.dirty = true
	t.markDraft(name)
	return t.apply(res, false)
}

// step gives the input to the active flow's current step.
func (t *turn) step(in Input) error {
	if !t.upToDate() {
		return t.restartAfterUpgrade()
	}
	f := t.e.flows[t.sess.Flow]
	data, res, err := f.handle(t.c, t.sess.Step, t.sess.Data, in)
	if err != nil {
		return err
	}
	t.sess.Data = data
	return t.apply(res, true)
}

// apply carries out a transition: effects first (an error leaves everything
// as it was), then what to say, then the next question.
func (t *turn) apply(res Result, fromStep bool) error {
	f := t.e.flows[t.sess.Flow]
	t.sess.At, t.dirty = t.c.Now, true
	if res.Hint != "" {
		t.sess.Misses++
		if t.sess.Misses >= maxMisses {
			t.sess.Misses = 0
			t.say = append(t.say, res.Hint, t.c.Content.Messages.TooManyMisses)
			return nil
		}
		t.say = append(t.say, res.Hint)
		return nil
	}
	data, said, err := f.apply(t.c, t.sess.Data, res.Effects)
	if err != nil {
		return err
	}
	t.sess.Data, t.sess.Misses = data, 0
	t.say = append(t.say, res.Say...)
	t.say = append(t.say, said...)
	if res.Next == NextMissing && !res.Done {
		if res.Next, err = f.next(t.c, t.sess.Data); err != nil {
			return err
		}
		res.Done = res.Next == ""
	}
	if res.Done {
		t.e.metrics().FlowCompleted(t.sess.Flow)
		t.sess = nil
		t.markDraft("")
		return nil
	}
	if res.Next != "" && res.Next != t.sess.Step {
		if !f.hasStep(res.Next) {
			return fmt.Errorf("dialogs: %s has no step %q", f.name(), res.Next)
		}
		if fromStep && t.sess.Step != "" {
			t.sess.Back = append(t.sess.Back, t.sess.Step)
		}
		t.sess.Step = res.Next
	}
	return t.askCurrent()
}

func (t *turn) askCurrent() error {
	q, err := t.e.flows[t.sess.Flow].ask(t.c, t.sess.Step, t.sess.Data)
	if err != nil {
		return err
	}
	if q != "" {
		t.say = append(t.say, q)
	}
	return nil
}

// upToDate migrates a session saved by an older flow version when it can.
func (t *turn) upToDate() bool {
	f := t.e.flows[t.sess.Flow]
	if t.sess.Version == f.version() && f.hasStep(t.sess.Step) {
		return true
	}
	data, step, ok := f.migrate(t.sess.Version, t.sess.Data)
	if !ok {
		return false
	}
	t.sess.Version, t.sess.Data, t.sess.Step, t.sess.Back, t.dirty = f.version(), data, step, nil, true
	return true
}

func (t *turn) restartAfterUpgrade() error {
	name := t.sess.Flow
	t.say = append(t.say, content.Fill(t.c.Content.Messages.FlowUpdated, "flow", t.e.flows[name].title()))
	t.sess = nil
	return t.start(name, Input{Kind: KindOther})
}

// pack joins the texts of one turn into as few messages as WeChat allows:
// passive replies are one message, and every further one spends the
// resident's customer-service allowance.
func pack(texts []string) []Reply {
	var out []Reply
	var b strings.Builder
	for _, s := range splitLong(texts) {
		if s == "" {
			continue
		}
		if b.Len() > 0 && b.Len()+2+len(s) > maxReplySize {
			out = append(out, Reply{Text: b.String()})
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(s)
	}
	if b.Len() > 0 {
		out = append(out, Reply{Text: b.String()})
	}
	return out
}

// markDraft records the open flow ("" for none); a failure only costs the
// explanation after a lost session, so it does not stop the conversation.
func (t *turn) markDraft(flow string) {
	if t.e.Drafts == nil {
		return
	}
	if err := t.e.Drafts.MarkDraft(t.c.Context, t.c.OpenID, flow, t.c.Now); err != nil {
		t.e.Log.Warn("cannot record the open flow", "err", err)
	}
}

// explainLostDraft tells a resident whose draft vanished with the session
// store (nothing in it had been submitted) that it must be started again.
func (t *turn) explainLostDraft() bool {
	if t.e.Drafts == nil || t.sess != nil || len(t.stash) > 0 {
		return false
	}
	flow, at, err := t.e.Drafts.Draft(t.c.Context, t.c.OpenID)
	if err != nil || flow == "" || t.e.flows[flow] == nil || t.c.Now.Sub(at) > t.e.idle()+stashTTL {
		return false
	}
	t.markDraft("")
	t.say = append(t.say, content.Fill(t.c.Content.Messages.DraftLost, "flow", t.e.flows[flow].title()))
	return true
}

// FlowMetrics hears when flows start afresh, reach their end, or are
// abandoned (reason: cancel, or idle when the resident stopped answering).
type FlowMetrics interface {
	FlowStarted(flow string)
	FlowCompleted(flow string)
	FlowAbandoned(flow, reason string)
}

type noMetrics struct{}

func (noMetrics) FlowStarted(string)           {}
func (noMetrics) FlowCompleted(string)         {}
func (noMetrics) FlowAbandoned(string, string) {}

func (e *Engine) metrics() FlowMetrics {
	if e.Metrics == nil {
		return noMetrics{}
	}
	return e.Metrics
}

// splitLong cuts any text over the reply size at line breaks (or, for a
// single huge line, at a character boundary).
func splitLong(texts []string) []string {
	var out []string
	for _, s := range texts {
		for len(s) > maxReplySize {
			cut := strings.LastIndexByte(s[:maxReplySize], '\n')
			if cut <= 0 {
				cut = maxReplySize
				for cut > 0 && !utf8.RuneStart(s[cut]) {
					cut--
				}
			}
			out = append(out, s[:cut])
			s = strings.TrimLeft(s[cut:], "\n")
		}
		out = append(out, s)
	}
	return out
}

// pickerWindow is how long after a location picked from the menu the same
// point arriving as a location message counts as the picker's echo.
const pickerWindow = time.Minute

// pickerEcho remembers a point picked with the menu's location picker and
// recognises the location message that may follow with the same point: the
// resident chose once, and gets one answer.
func (e *Engine) pickerEcho(ctx context.Context, in Input) (bool, error) {
	point := []byte(fmt.Sprintf("%.5f,%.5f", in.Lat, in.Lng))
	key := "picked:" + in.OpenID
	switch {
	case in.Kind == KindEvent && in.Event == EventLocationSelect:
		return false, e.Sessions.Set(ctx, key, point, pickerWindow)
	case in.Kind == KindLocation:
		got, ok, err := e.Sessions.Get(ctx, key)
		if err != nil || !ok || string(got) != string(point) {
			return false, err
		}
		return true, e.Sessions.Del(ctx, key)
	}
	return false, nil
}
