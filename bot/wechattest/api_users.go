package wechattest

import (
	"slices"
)

// Tag limits.
const (
	TagNameMax     = 30 // bytes
	TagsMax        = 100
	TagsPerUserMax = 20
	TagBatchMax    = 50
	userPage       = 10000
)

func (a *API) handleUserInfo(c *apiCall) any {
	openid := c.q.Get("openid")
	if openid == "" {
		return errc(40003)
	}
	u := a.userLocked(openid)
	if !u.subscribed {
		return map[string]any{"subscribe": 0, "openid": openid, "tagid_list": []int{}}
	}
	return map[string]any{
		"subscribe": 1, "openid": openid, "nickname": "", "sex": 0, "language": "zh_CN",
		"city": "", "province": "", "country": "", "headimgurl": "",
		"subscribe_time": u.since.Unix(), "remark": "", "groupid": 0,
		"tagid_list": sortedTagIDs(u.tags), "subscribe_scene": "ADD_SCENE_OTHERS",
		"qr_scene": 0, "qr_scene_str": "",
	}
}

// page returns up to userPage openids after next ("" = from the start).
func page(ids []string, next string) ([]string, string) {
	start := 0
	if next != "" {
		if i := slices.Index(ids, next); i >= 0 {
			start = i + 1
		}
	}
	ids = ids[start:]
	if len(ids) > userPage {
		ids = ids[:userPage]
	}
	last := ""
	if len(ids) > 0 {
		last = ids[len(ids)-1]
	}
	return ids, last
}

func pageAnswer(total int, ids []string, next string) map[string]any {
	res := map[string]any{"count": len(ids), "next_openid": next}
	if total >= 0 {
		res["total"] = total
	}
	if len(ids) > 0 {
		res["data"] = map[string]any{"openid": ids}
	}
	return res
}

func (a *API) handleUserGet(c *apiCall) any {
	var followers []string
	for _, id := range a.userOrder {
		if a.users[id].subscribed {
			followers = append(followers, id)
		}
	}
	ids, next := page(followers, c.q.Get("next_openid"))
	return pageAnswer(len(followers), ids, next)
}

func (a *API) handleTagCreate(c *apiCall) any {
	var req struct {
		Tag struct {
			Name string `json:"name"`
		} `json:"tag"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	name := req.Tag.Name
	if len(name) > TagNameMax {
		return errc(45158)
	}
	if name == "" {
		return errc(45157)
	}
	for _, n := range a.tags {
		if n == name {
			return errc(45157)
		}
	}
	if len(a.tags) >= TagsMax {
		return errc(45056)
	}
	id := a.nextTagID
	a.nextTagID++
	a.tags[id] = name
	a.tagOrder = append(a.tagOrder, id)
	return map[string]any{"tag": map[string]any{"id": id, "name": name}}
}

func (a *API) handleTagGet(c *apiCall) any {
	tags := []map[string]any{}
	for _, id := range a.tagOrder {
		tags = append(tags, map[string]any{"id": id, "name": a.tags[id], "count": len(a.taggedLocked(id))})
	}
	return map[string]any{"tags": tags}
}

func (a *API) taggedLocked(tag int) []string {
	var out []string
	for _, id := range a.userOrder {
		u := a.users[id]
		if u.subscribed && slices.Contains(u.tags, tag) {
			out = append(out, id)
		}
	}
	return out
}

type batchTagRequest struct {
	OpenIDList []string `json:"openid_list"`
	TagID      int      `json:"tagid"`
}

func (a *API) checkBatch(c *apiCall) (batchTagRequest, any) {
	var req batchTagRequest
	if e, ok := decode(c, &req); !ok {
		return req, e
	}
	if len(req.OpenIDList) == 0 || len(req.OpenIDList) > TagBatchMax {
		return req, errc(40032)
	}
	if slices.Contains(req.OpenIDList, "") {
		return req, errc(40003)
	}
	if _, ok := a.tags[req.TagID]; !ok {
		return req, errc(45159)
	}
	return req, nil
}

func (a *API) handleBatchTagging(c *apiCall) any {
	req, e := a.checkBatch(c)
	if e != nil {
		return e
	}
	// All or nothing: check every resident before tagging any.
	for _, id := range req.OpenIDList {
		u := a.userLocked(id)
		if !slices.Contains(u.tags, req.TagID) && len(u.tags) >= TagsPerUserMax {
			return errc(45059)
		}
	}
	for _, id := range req.OpenIDList {
		u := a.users[id]
		if !slices.Contains(u.tags, req.TagID) {
			u.tags = append(u.tags, req.TagID)
		}
	}
	return ok()
}

func (a *API) handleBatchUntagging(c *apiCall) any {
	req, e := a.checkBatch(c)
	if e != nil {
		return e
	}
	for _, id := range req.OpenIDList {
		u := a.userLocked(id)
		u.tags = slices.DeleteFunc(u.tags, func(t int) bool { return t == req.TagID })
	}
	return ok()
}

func (a *API) handleTagUsers(c *apiCall) any {
	var req struct {
		TagID      int    `json:"tagid"`
		NextOpenID string `json:"next_openid"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	if _, ok := a.tags[req.TagID]; !ok {
		return errc(45159)
	}
	ids, next := page(a.taggedLocked(req.TagID), req.NextOpenID)
	return pageAnswer(-1, ids, next)
}

func (a *API) handleTagIDList(c *apiCall) any {
	var req struct {
		OpenID string `json:"openid"`
	}
	if e, ok := decode(c, &req); !ok {
		return e
	}
	if req.OpenID == "" {
		return errc(40003)
	}
	return map[string]any{"tagid_list": sortedTagIDs(a.userLocked(req.OpenID).tags)}
}
