package wechattest

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// MediaTTL is how long a temporary media_id lives, photos residents send
// included.
const MediaTTL = 72 * time.Hour

type mediaItem struct {
	kind        string
	contentType string
	data        []byte
	created     time.Time
}

// Upload limits per media type, with WeChat's error codes.
var mediaLimits = map[string]struct {
	max     int
	errcode int
}{
	"image": {10 << 20, 40009},
	"voice": {2 << 20, 40010},
	"video": {10 << 20, 40011},
	"thumb": {64 << 10, 40012},
}

// AddMedia stores data as a temporary media, created now by the API's clock,
// and returns its media_id: what WeChat holds for a photo a resident sends.
func (a *API) AddMedia(data []byte, contentType string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addMediaLocked("image", data, contentType)
}

func (a *API) addMediaLocked(kind string, data []byte, contentType string) string {
	id := randomHex(24)
	a.media[id] = &mediaItem{kind: kind, contentType: contentType, data: append([]byte(nil), data...), created: a.now()}
	return id
}

func (a *API) mediaValid(id string, now time.Time) bool {
	m := a.media[id]
	return m != nil && now.Sub(m.created) < MediaTTL
}

func (a *API) handleMediaGet(c *apiCall) any {
	id := c.q.Get("media_id")
	if !a.mediaValid(id, c.now) {
		return errc(40007)
	}
	m := a.media[id]
	return mediaResponse{id: id, contentType: m.contentType, data: m.data}
}

func extension(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/bmp":
		return ".bmp"
	case "audio/amr":
		return ".amr"
	case "audio/mpeg":
		return ".mp3"
	case "video/mp4":
		return ".mp4"
	}
	return ""
}

// handleMediaUpload takes multipart field "media". The kind of file is
// judged by its bytes, not its name, since that is what WeChat can trust.
func (a *API) handleMediaUpload(c *apiCall) any {
	kind := c.q.Get("type")
	limit, known := mediaLimits[kind]
	if !known {
		return errc(40004)
	}
	_, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return errc(41005)
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	var data []byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FormName() == "media" {
			data, err = io.ReadAll(p)
			if err != nil {
				return errc(41005)
			}
			break
		}
	}
	if len(data) == 0 {
		return errc(41005)
	}
	if len(data) > limit.max {
		return errc(limit.errcode)
	}
	ct := http.DetectContentType(data)
	switch kind {
	case "image", "thumb":
		if ct != "image/jpeg" && ct != "image/png" && ct != "image/gif" && ct != "image/bmp" {
			return errc(40005)
		}
		if kind == "thumb" && ct != "image/jpeg" {
			return errc(40005)
		}
	case "voice":
		if ct == "application/octet-stream" && bytes.HasPrefix(data, []byte("#!AMR")) {
			ct = "audio/amr"
		}
	}
	id := a.addMediaLocked(kind, data, ct)
	res := map[string]any{"type": kind, "media_id": id, "created_at": c.now.Unix()}
	if kind == "thumb" {
		// WeChat names the id differently for thumbnails.
		delete(res, "media_id")
		res["thumb_media_id"] = id
	}
	return res
}
