package dialogs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"hazardbot/content"
)

// Ctx is what a step sees besides its state and the input: who, when, and the
// content to word its answers. It carries a context for effects only; a
// transition itself does no I/O.
type Ctx struct {
	context.Context
	OpenID  string
	Now     time.Time
	Content *content.Content
}

// NextMissing as Result.Next asks the flow's Next function, after the
// effects ran, which step comes next; "" from it ends the flow.
const NextMissing = "\x00next"

// Result is a step's transition.
type Result struct {
	Next    string   // the step to go to; "" stays (with Hint when the input was not understood); NextMissing asks Flow.Next
	Hint    string   // input not understood: this re-asks the question in place of it
	Say     []string // said before the next question
	Done    bool     // the flow ends after Say
	Effects []any    // carried out by the flow's Apply, in order, before the state is saved
}

// Step is a named step: the question it asks and how it takes an answer.
type Step[S any] struct {
	Ask    func(c *Ctx, s *S) string
	Handle func(c *Ctx, s *S, in Input) Result
}

// Flow is a conversation with a typed, versioned state S.
type Flow[S any] struct {
	Name    string // stable id, stored in sessions
	Title   string // what residents call it, e.g. 隐患上报
	Version int    // bump when S or the steps change incompatibly
	First   string
	Steps   map[string]Step[S]
	// Begin takes the input that started the flow (a photo, a location, a
	// menu click). Nil: go to First.
	Begin func(c *Ctx, s *S, in Input) Result
	// Apply carries out one effect and returns what to say about it. An
	// error leaves the resident's state as it was before the input.
	Apply func(c *Ctx, s *S, effect any) ([]string, error)
	// Migrate turns state saved by an older version into this one; nil or
	// ok=false restarts the flow with an apology.
	Migrate func(from int, data json.RawMessage) (s S, step string, ok bool)
	// Next picks the step after a Result with Next: NextMissing, once the
	// effects have run (a flow whose order depends on what is already
	// known, or on what an effect looked up).
	Next func(c *Ctx, s *S) string
}

// runner is a Flow with its state type erased, as the engine holds it.
type runner interface {
	name() string
	title() string
	version() int
	begin(c *Ctx, in Input) (data json.RawMessage, res Result, err error)
	handle(c *Ctx, step string, data json.RawMessage, in Input) (json.RawMessage, Result, error)
	ask(c *Ctx, step string, data json.RawMessage) (string, error)
	apply(c *Ctx, data json.RawMessage, effects []any) (json.RawMessage, []string, error)
	migrate(from int, data json.RawMessage) (json.RawMessage, string, bool)
	hasStep(step string) bool
	next(c *Ctx, data json.RawMessage) (string, error)
}

func (f *Flow[S]) name() string  { return f.Name }
func (f *Flow[S]) title() string { return f.Title }
func (f *Flow[S]) version() int  { return f.Version }

func (f *Flow[S]) hasStep(step string) bool { _, ok := f.Steps[step]; return ok }

func (f *Flow[S]) load(data json.RawMessage) (*S, error) {
	s := new(S)
	if len(data) > 0 {
		if err := json.Unmarshal(data, s); err != nil {
			return nil, fmt.Errorf("dialogs: %s state: %w", f.Name, err)
		}
	}
	return s, nil
}

func (f *Flow[S]) begin(c *Ctx, in Input) (json.RawMessage, Result, error) {
	s := new(S)
	res := Result{Next: f.First}
	if f.Begin != nil {
		res = f.Begin(c, s, in)
	}
	data, err := json.Marshal(s)
	return data, res, err
}

func (f *Flow[S]) handle(c *Ctx, step string, data json.RawMessage, in Input) (json.RawMessage, Result, error) {
	st, ok := f.Steps[step]
	if !ok {
		return nil, Result{}, fmt.Errorf("dialogs: %s has no step %q", f.Name, step)
	}
	s, err := f.load(data)
	if err != nil {
		return nil, Result{}, err
	}
	res := st.Handle(c, s, in)
	out, err := json.Marshal(s)
	return out, res, err
}

func (f *Flow[S]) ask(c *Ctx, step string, data json.RawMessage) (string, error) {
	st, ok := f.Steps[step]
	if !ok {
		return "", fmt.Errorf("dialogs: %s has no step %q", f.Name, step)
	}
	s, err := f.load(data)
	if err != nil {
		return "", err
	}
	return st.Ask(c, s), nil
}

func (f *Flow[S]) apply(c *Ctx, data json.RawMessage, effects []any) (json.RawMessage, []string, error) {
	if len(effects) == 0 {
		return data, nil, nil
	}
	if f.Apply == nil {
		return nil, nil, fmt.Errorf("dialogs: %s returned effects but has no Apply", f.Name)
	}
	s, err := f.load(data)
	if err != nil {
		return nil, nil, err
	}
	var said []string
	for _, e := range effects {
		texts, err := f.Apply(c, s, e)
		if err != nil {
			return nil, nil, err
		}
		said = append(said, texts...)
	}
	out, err := json.Marshal(s)
	return out, said, err
}

func (f *Flow[S]) next(c *Ctx, data json.RawMessage) (string, error) {
	if f.Next == nil {
		return "", fmt.Errorf("dialogs: %s returned NextMissing but has no Next", f.Name)
	}
	s, err := f.load(data)
	if err != nil {
		return "", err
	}
	return f.Next(c, s), nil
}

func (f *Flow[S]) migrate(from int, data json.RawMessage) (json.RawMessage, string, bool) {
	if f.Migrate == nil {
		return nil, "", false
	}
	s, step, ok := f.Migrate(from, data)
	if !ok || !f.hasStep(step) {
		return nil, "", false
	}
	out, err := json.Marshal(s)
	if err != nil {
		return nil, "", false
	}
	return out, step, true
}
