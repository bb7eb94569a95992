package wechattest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
)

// encryptPad is Encrypt with a chosen padding block, to build envelopes that
// a careless implementation would produce.
func encryptPad(encodingAESKey, appID string, msg []byte, block int) (string, error) {
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	var plain bytes.Buffer
	plain.Write(make([]byte, 16))
	_ = binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.Write(msg)
	plain.WriteString(appID)
	pad := block - plain.Len()%block
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	c, _ := aes.NewCipher(key)
	out := plain.Bytes()
	cipher.NewCBCEncrypter(c, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out), nil
}
