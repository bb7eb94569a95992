package hazardbot

import (
	"fmt"
	"math"
	"regexp"
	"time"
)

// Status is where a report stands in the closed loop
// (登记 → 核实 → 交办 → 整改 → 复核 → 销号).
type Status string

// The statuses, with the names residents and staff read.
const (
	StatusPending   Status = "pending"   // 待核实
	StatusVerified  Status = "verified"  // 已核实
	StatusRejected  Status = "rejected"  // 不予受理
	StatusDuplicate Status = "duplicate" // 重复
	StatusAssigned  Status = "assigned"  // 已交办
	StatusFixing    Status = "fixing"    // 整改中
	StatusReview    Status = "review"    // 待复核
	StatusClosed    Status = "closed"    // 已销号
)

var statusNames = map[Status]string{
	StatusPending: "待核实", StatusVerified: "已核实", StatusRejected: "不予受理", StatusDuplicate: "重复",
	StatusAssigned: "已交办", StatusFixing: "整改中", StatusReview: "待复核", StatusClosed: "已销号",
}

// Name is the status as residents and staff read it.
func (s Status) Name() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return string(s)
}

// Open reports whether the hazard is still being handled.
func (s Status) Open() bool {
	return s != StatusRejected && s != StatusDuplicate && s != StatusClosed
}

// CoordGCJ02 names the coordinate system WeChat clients in mainland China
// send; reports store coordinates as they arrived, with this name.
const CoordGCJ02 = "gcj02"

// Report is a hazard reported by a resident.
type Report struct {
	ID          int64
	Ticket      string
	OpenID      string
	Source      string // wechat, or another channel
	Category    string // content category id
	Description string
	HasLocation bool
	Lat, Lng    float64 // in CoordSys
	CoordSys    string
	Address     string
	CommunityID string
	GridID      string
	Phone       string
	Anonymous   bool
	Urgent      bool
	Status      Status
	RiskLevel   string
	Followers   int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Photos      []Photo
}

// Photo states.
const (
	PhotoPending = "pending"
	PhotoStored  = "stored"
	PhotoLost    = "lost"
)

// Photo is one photo of a report, fetched from WeChat in the background.
type Photo struct {
	ID       int64
	ReportID int64
	Seq      int
	MediaID  string
	PicURL   string
	Status   string
	SHA256   string
	Size     int64
	Path     string // relative to the data directory
}

// Event is one entry of a report's history.
type Event struct {
	ID       int64
	ReportID int64
	At       time.Time
	Actor    string
	From, To Status
	Note     string
	Public   bool
}

// Job kinds that several packages enqueue and handle.
const (
	JobFetchPhoto = "report.fetch_photo"
	// JobFetchCheckInPhoto fetches a patrol check-in's photo; its payload is
	// a FetchPhoto naming the check-in.
	JobFetchCheckInPhoto = "patrol.fetch_photo"
	JobNotifyStatus      = "report.notify_status"
)

// FetchPhoto is the payload of JobFetchPhoto.
type FetchPhoto struct {
	PhotoID int64 `json:"photo_id"`
}

// NotifyStatus is the payload of JobNotifyStatus: tell one resident about
// one event of a report.
type NotifyStatus struct {
	EventID int64  `json:"event_id"`
	OpenID  string `json:"openid"`
}

// Ticket formats a ticket number: YH-20261128-0042.
func Ticket(day time.Time, n int) string {
	return fmt.Sprintf("YH-%s-%04d", day.In(Shanghai).Format("20060102"), n)
}

// TicketPattern matches a ticket number in a resident's text.
var TicketPattern = regexp.MustCompile(`(?i)YH-?\d{8}-?\d{4,}`)

// Distance is the great-circle distance in metres between two points given
// in the same coordinate system.
func Distance(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
