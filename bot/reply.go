package bot

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/silenceper/wechat/v2/util"
)

type cdata struct {
	Text string `xml:",cdata"`
}

type encryptedReply struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      cdata
	MsgSignature cdata
	TimeStamp    int64
	Nonce        cdata
}

// write sends the answer, encrypted in safe mode. "success" stays plain in
// plaintext mode; in safe mode the SDK would send nothing, so it is written
// here as WeChat documents.
func (h *Webhook) write(w http.ResponseWriter, answer []byte, safe bool) error {
	if safe && string(answer) != "success" {
		random := make([]byte, 16)
		_, _ = rand.Read(random)
		enc, err := util.EncryptMsg(random, answer, h.AppID, h.AESKey)
		if err != nil {
			return err
		}
		ts := strconv.FormatInt(h.now().Unix(), 10)
		nonceBytes := make([]byte, 8)
		_, _ = rand.Read(nonceBytes)
		nonce := hex.EncodeToString(nonceBytes)
		answer, _ = xml.Marshal(encryptedReply{
			Encrypt:      cdata{string(enc)},
			MsgSignature: cdata{util.Signature(h.Token, ts, nonce, string(enc))},
			TimeStamp:    h.now().Unix(),
			Nonce:        cdata{nonce},
		})
	}
	if string(answer) == "success" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	}
	_, err := w.Write(answer)
	return err
}
