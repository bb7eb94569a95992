package wechattest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// padBlock is WeChat's PKCS#7 block size. It is 32, not AES's 16: an
// implementation that pads to 16 produces ciphertexts WeChat rejects about
// half the time, so the fake insists on 32 in both directions.
const padBlock = 32

// Signature is WeChat's signature: the SHA-1 hex of the parts sorted as
// strings and concatenated. With (token, timestamp, nonce) it is the
// `signature` query parameter; adding the Encrypt text gives `msg_signature`.
func Signature(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

// aesKey turns a 43-character EncodingAESKey into the 32-byte AES key.
func aesKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wechattest: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("wechattest: EncodingAESKey: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("wechattest: EncodingAESKey decodes to %d bytes, want 32", len(key))
	}
	return key, nil
}

// Encrypt seals msg the way WeChat does in safe mode and returns the base64
// text of the Encrypt element: AES-256-CBC with IV = key[:16] over
// random(16) ‖ len(msg) big-endian uint32 ‖ msg ‖ appID, PKCS#7-padded to 32
// bytes. random must be 16 bytes; nil draws fresh random bytes (a fixed value
// is only for reproducing the official test vector).
func Encrypt(encodingAESKey, appID string, random []byte, msg []byte) (string, error) {
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	if random == nil {
		random = make([]byte, 16)
		if _, err := rand.Read(random); err != nil {
			return "", fmt.Errorf("wechattest: random: %w", err)
		}
	}
	if len(random) != 16 {
		return "", fmt.Errorf("wechattest: random must be 16 bytes, got %d", len(random))
	}
	var plain bytes.Buffer
	plain.Write(random)
	_ = binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.Write(msg)
	plain.WriteString(appID)
	pad := padBlock - plain.Len()%padBlock
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))

	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("wechattest: %w", err)
	}
	out := plain.Bytes()
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out), nil
}

// ErrDecrypt is wrapped by every Decrypt failure, so a caller can tell a bad
// envelope from a bad key.
var ErrDecrypt = errors.New("wechattest: decrypt")

// Decrypt opens an Encrypt text and returns the message. It is strict where
// WeChat is: the padding must be valid PKCS#7 for a 32-byte block and the
// trailing appid must be appID, so a reply sealed for another account (or
// padded to 16) is refused.
func Decrypt(encodingAESKey, appID, b64 string) ([]byte, error) {
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrDecrypt, err)
	}
	if len(data) == 0 || len(data)%padBlock != 0 {
		return nil, fmt.Errorf("%w: ciphertext length %d is not a positive multiple of %d", ErrDecrypt, len(data), padBlock)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechattest: %w", err)
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, data)

	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > padBlock {
		return nil, fmt.Errorf("%w: bad padding length %d", ErrDecrypt, pad)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: bad padding bytes", ErrDecrypt)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, fmt.Errorf("%w: plaintext too short", ErrDecrypt)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	rest := plain[20:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: message length %d exceeds plaintext", ErrDecrypt, n)
	}
	msg, gotAppID := rest[:n], string(rest[n:])
	if gotAppID != appID {
		return nil, fmt.Errorf("%w: appid %q, want %q", ErrDecrypt, gotAppID, appID)
	}
	return msg, nil
}
