package dialogs

// Menu keys and words every deployment has.
const (
	KeyHelp = "HELP"
)

// AddBasics registers the welcome on subscribe, help and the menu.
func (e *Engine) AddBasics() {
	e.AddRoute(Route{
		Events: []string{EventSubscribe},
		Answer: func(c *Ctx, in Input) ([]string, error) { return []string{c.Content.Messages.Welcome}, nil },
	})
	e.AddRoute(Route{
		// A follower scanning a QR code again is greeted briefly.
		Events: []string{EventScan},
		Answer: func(c *Ctx, in Input) ([]string, error) { return []string{c.Content.Messages.Menu}, nil },
	})
	e.AddRoute(Route{
		Words:  []string{"你好", "您好", "hi", "hello", "在吗", "开始"},
		Keys:   []string{KeyHelp},
		Answer: func(c *Ctx, in Input) ([]string, error) { return []string{c.Content.Messages.Help}, nil },
	})
}
