package notices

// SetCrash makes d stop dead, as a killed process would, when crash returns
// true: at stage "sent" a message WeChat accepted is not recorded, at
// "marked" a customer-service call is marked but not made, at "mass" a
// mass send WeChat accepted is not recorded.
func SetCrash(d *Dispatcher, crash func(stage string, row Delivery) bool) { d.crash = crash }

// ErrCrashed is what a crashed dispatcher returns.
var ErrCrashed = errCrashed
