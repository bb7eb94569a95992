package bot

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// push is the part of a WeChat push that hazardbot reads, with the SDK's
// names and types for the fields. Decoding only these costs half of
// decoding the SDK's hundred-field MixMessage, on every push.
type push struct {
	ToUserName    string            `xml:"ToUserName"`
	FromUserName  string            `xml:"FromUserName"`
	CreateTime    int64             `xml:"CreateTime"`
	MsgType       message.MsgType   `xml:"MsgType"`
	MsgID         int64             `xml:"MsgId"` // messages
	TemplateMsgID int64             `xml:"MsgID"` // TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH
	Content       string            `xml:"Content"`
	Recognition   string            `xml:"Recognition"`
	PicURL        string            `xml:"PicUrl"`
	MediaID       string            `xml:"MediaId"`
	LocationX     float64           `xml:"Location_X"`
	LocationY     float64           `xml:"Location_Y"`
	Label         string            `xml:"Label"`
	Event         message.EventType `xml:"Event"`
	EventKey      string            `xml:"EventKey"`
	Latitude      string            `xml:"Latitude"`
	Longitude     string            `xml:"Longitude"`
	Status        string            `xml:"Status"`
	TotalCount    int64             `xml:"TotalCount"`
	FilterCount   int64             `xml:"FilterCount"`
	SentCount     int64             `xml:"SentCount"`
	ErrorCount    int64             `xml:"ErrorCount"`

	SendLocationInfo struct {
		LocationX float64 `xml:"Location_X"`
		LocationY float64 `xml:"Location_Y"`
		Label     string  `xml:"Label"`
		Poiname   string  `xml:"Poiname"`
	} `xml:"SendLocationInfo"`
}

// passiveText is the XML of a text reply to m, appended by hand: it is
// byte for byte what encoding/xml makes, at a fraction of its cost.
func passiveText(m *push, text string, now time.Time) []byte {
	b := make([]byte, 0, 192+len(text))
	b = append(b, "<xml><ToUserName>"...)
	b = appendCDATA(b, m.FromUserName)
	b = append(b, "</ToUserName><FromUserName>"...)
	b = appendCDATA(b, m.ToUserName)
	b = append(b, "</FromUserName><CreateTime>"...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>"...)
	b = appendCDATA(b, text)
	return append(b, "</Content></xml>"...)
}

// appendCDATA wraps s in CDATA, splitting any "]]>" inside it, and leaves
// an empty s empty, as encoding/xml does.
func appendCDATA(b []byte, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		b = append(b, s[:i+2]...)
		b = append(b, "]]><![CDATA["...)
		s = s[i+2:]
	}
	b = append(b, s...)
	return append(b, "]]>"...)
}

// touchLimiter lets this process record a resident's interaction at most
// once a minute: the 48-hour window needs no finer clock, and the check
// costs nothing when kept in memory.
type touchLimiter struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const touchEvery = time.Minute

func (l *touchLimiter) due(openid string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.seen[openid]; ok && now.Sub(last) < touchEvery && now.Sub(last) >= 0 {
		return false
	}
	if l.seen == nil || len(l.seen) >= 100_000 {
		l.seen = map[string]time.Time{} // bounded: forgetting only costs a write
	}
	l.seen[openid] = now
	return true
}
