package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/content"
	"hazardbot/jobs"
	"hazardbot/storage"
)

// MaxMedia is WeChat's largest image (10 MB).
const MaxMedia = 10 << 20

// GetMedia downloads a temporary media file (media/get). Media ids expire
// after three days; WeChat then answers 40007. The SDK's GetMediaURL would
// hand back a raw api.weixin.qq.com URL that ignores WECHAT_API_BASE, so the
// download is done here.
func (c *Client) GetMedia(ctx context.Context, mediaID string) ([]byte, string, error) {
	for attempt := 0; ; attempt++ {
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, "", err
		}
		q := url.Values{"access_token": {tok}, "media_id": {mediaID}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/cgi-bin/media/get?"+q.Encode(), nil)
		if err != nil {
			return nil, "", err
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("wechat media/get: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMedia+1))
		resp.Body.Close()
		if err != nil {
			return nil, "", fmt.Errorf("wechat media/get: %w", err)
		}
		ctype := resp.Header.Get("Content-Type")
		if resp.StatusCode != http.StatusOK {
			return nil, "", fmt.Errorf("wechat media/get: HTTP %d", resp.StatusCode)
		}
		if strings.HasPrefix(ctype, "application/json") || strings.HasPrefix(ctype, "text/plain") {
			var e struct {
				Code int    `json:"errcode"`
				Msg  string `json:"errmsg"`
			}
			if json.Unmarshal(data, &e) == nil && e.Code != 0 {
				if attempt == 0 && (e.Code == ErrInvalidToken || e.Code == ErrTokenExpired) {
					c.invalidate(ctx, tok)
					continue
				}
				return nil, "", &APIError{Path: "/cgi-bin/media/get", Code: e.Code, Msg: e.Msg}
			}
		}
		if len(data) > MaxMedia {
			return nil, "", fmt.Errorf("wechat media/get: file over %d bytes", MaxMedia)
		}
		return data, ctype, nil
	}
}

// PhotoStore is what fetching photos needs from storage.
type PhotoStore interface {
	Photo(ctx context.Context, id int64) (hazardbot.Photo, error)
	Report(ctx context.Context, id int64) (hazardbot.Report, error)
	SetPhotoStored(ctx context.Context, id int64, sha string, size int64, path string, now time.Time) error
	SetPhotoLost(ctx context.Context, id int64, now time.Time) (bool, error)
	Enqueue(ctx context.Context, kind, dedupKey string, payload any, runAt time.Time) error
}

// Photos fetches residents' photos from WeChat into the data directory, by
// content hash, in background jobs: a download inside the webhook would
// break WeChat's 5-second deadline.
type Photos struct {
	Client  *Client
	Store   PhotoStore
	DataDir string
	Content func() *content.Content
	Now     func() time.Time
}

// Handle is the job handler for hazardbot.JobFetchPhoto. It is idempotent:
// a photo already stored or lost is left alone, and the same bytes land in
// the same file.
func (p *Photos) Handle(ctx context.Context, job storage.Job) error {
	var payload hazardbot.FetchPhoto
	if err := json.Unmarshal(job.Payload, &payload); err != nil {
		return jobs.Permanent(fmt.Errorf("photo payload: %w", err))
	}
	photo, err := p.Store.Photo(ctx, payload.PhotoID)
	if err != nil {
		return err
	}
	if photo.Status != hazardbot.PhotoPending {
		return nil
	}
	if photo.MediaID == "" {
		return jobs.Permanent(fmt.Errorf("photo %d has no media id", photo.ID))
	}
	hash, size, rel, err := p.fetch(ctx, photo.MediaID)
	if err != nil {
		return err
	}
	return p.Store.SetPhotoStored(ctx, photo.ID, hash, size, rel, p.Now())
}

// fetch downloads a media file into the data directory by its content
// hash and returns where it went.
func (p *Photos) fetch(ctx context.Context, mediaID string) (hash string, size int64, rel string, err error) {
	data, ctype, err := p.Client.GetMedia(ctx, mediaID)
	if ErrCode(err) == ErrInvalidMedia {
		return "", 0, "", jobs.Permanent(err) // expired or unknown: no retry brings it back
	}
	if err != nil {
		return "", 0, "", err
	}
	sum := sha256.Sum256(data)
	hash = hex.EncodeToString(sum[:])
	rel = filepath.Join("photos", hash[:2], hash+extension(ctype))
	if err := writeOnce(filepath.Join(p.DataDir, rel), data); err != nil {
		return "", 0, "", err
	}
	return hash, int64(len(data)), filepath.ToSlash(rel), nil
}

// CheckInPhotos is what fetching patrol photos needs from storage.
type CheckInPhotos interface {
	CheckInPhotoOf(ctx context.Context, id int64) (storage.CheckInPhoto, error)
	SetCheckInPhotoStored(ctx context.Context, id int64, status, sha string, size int64, path string) error
}

// HandleCheckIn is the job handler for hazardbot.JobFetchCheckInPhoto: a
// volunteer's patrol photo, kept like a report's. A photo WeChat no longer
// has is marked lost (the check-in and its points stand without it).
func (p *Photos) HandleCheckIn(store CheckInPhotos) func(ctx context.Context, job storage.Job) error {
	return func(ctx context.Context, job storage.Job) error {
		var payload hazardbot.FetchPhoto
		if err := json.Unmarshal(job.Payload, &payload); err != nil {
			return jobs.Permanent(fmt.Errorf("check-in photo payload: %w", err))
		}
		photo, err := store.CheckInPhotoOf(ctx, payload.PhotoID)
		if err != nil || photo.Status != hazardbot.PhotoPending || photo.MediaID == "" {
			return err
		}
		hash, size, rel, err := p.fetch(ctx, photo.MediaID)
		if jobs.IsPermanent(err) {
			return store.SetCheckInPhotoStored(ctx, payload.PhotoID, hazardbot.PhotoLost, "", 0, "")
		}
		if err != nil {
			return err
		}
		return store.SetCheckInPhotoStored(ctx, payload.PhotoID, hazardbot.PhotoStored, hash, size, rel)
	}
}

// Lost marks a photo that could not be fetched for good and tells the
// reporter, once.
func (p *Photos) Lost(ctx context.Context, job storage.Job) error {
	var payload hazardbot.FetchPhoto
	if err := json.Unmarshal(job.Payload, &payload); err != nil {
		return nil
	}
	changed, err := p.Store.SetPhotoLost(ctx, payload.PhotoID, p.Now())
	if err != nil || !changed {
		return err
	}
	photo, err := p.Store.Photo(ctx, payload.PhotoID)
	if err != nil {
		return err
	}
	r, err := p.Store.Report(ctx, photo.ReportID)
	if err != nil {
		return err
	}
	text := content.Fill(p.Content().Report.PhotoLost, "ticket", r.Ticket, "n", strconv.Itoa(photo.Seq))
	return p.Store.Enqueue(ctx, KindCustomText, fmt.Sprintf("photolost:%d", photo.ID),
		CustomText{OpenID: r.OpenID, Text: text}, p.Now())
}

func extension(ctype string) string {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch mt {
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	}
	return ".jpg"
}

// writeOnce writes a content-addressed file atomically; an existing file
// already holds the same bytes.
func writeOnce(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
