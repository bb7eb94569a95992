package wechattest

import (
	"encoding/base64"
	"errors"
	"testing"
)

// Vectors from shared/WECHAT.md (official docs and the WXBizMsgCrypt sample).
const (
	vecAESKey  = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	vecAppID   = "wxb11529c136998cb6"
	vecRandom  = "aaaabbbbccccdddd"
	vecMsg     = "我是中文abcd123"
	vecEncrypt = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"plain signature", []string{"AAAAA", "1714037059", "486452656"}, "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
		{"order does not matter", []string{"486452656", "AAAAA", "1714037059"}, "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
		{"msg_signature", []string{"pamtest", "1409304348", "xxxxxx", vecEncrypt}, "82c962d39941aa48552f90ef55aa323dc620cc10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Signature(tt.parts...); got != tt.want {
				t.Errorf("Signature = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEncryptVector(t *testing.T) {
	got, err := Encrypt(vecAESKey, vecAppID, []byte(vecRandom), []byte(vecMsg))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecEncrypt {
		t.Fatalf("Encrypt = %s\nwant      %s", got, vecEncrypt)
	}
	msg, err := Decrypt(vecAESKey, vecAppID, vecEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != vecMsg {
		t.Fatalf("Decrypt = %q, want %q", msg, vecMsg)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 11, 12, 13, 31, 32, 33, 1000} {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte('a' + i%26)
		}
		enc, err := Encrypt(vecAESKey, vecAppID, nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%32 != 0 {
			t.Errorf("len %d: ciphertext %d bytes, not a multiple of 32", n, len(raw))
		}
		got, err := Decrypt(vecAESKey, vecAppID, enc)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		if string(got) != string(msg) {
			t.Errorf("len %d: round trip changed the message", n)
		}
	}
	a, _ := Encrypt(vecAESKey, vecAppID, nil, []byte("x"))
	b, _ := Encrypt(vecAESKey, vecAppID, nil, []byte("x"))
	if a == b {
		t.Error("nil random gave the same ciphertext twice")
	}
}

func TestDecryptRejectsTampering(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(vecEncrypt)
	flipLast := append([]byte(nil), raw...)
	flipLast[len(flipLast)-1] ^= 0x55
	truncated := raw[:len(raw)-16]

	// Padded to 16 instead of 32: what an implementation using AES's block
	// size would produce. WeChat rejects it and so must we. With "ab" the
	// plaintext is 40 bytes, padded to 48: not a multiple of 32.
	pad16, _ := encryptPad(vecAESKey, vecAppID, []byte("ab"), 16)

	tests := []struct {
		name, key, appID, b64 string
	}{
		{"wrong appid", vecAESKey, "wx0000000000000000", vecEncrypt},
		{"wrong key", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg", vecAppID, vecEncrypt},
		{"flipped last block", vecAESKey, vecAppID, base64.StdEncoding.EncodeToString(flipLast)},
		{"truncated to 16", vecAESKey, vecAppID, base64.StdEncoding.EncodeToString(truncated)},
		{"not base64", vecAESKey, vecAppID, "%%%"},
		{"empty", vecAESKey, vecAppID, ""},
		{"padded to 16", vecAESKey, vecAppID, pad16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decrypt(tt.key, tt.appID, tt.b64); err == nil {
				t.Fatal("Decrypt accepted it")
			} else if !errors.Is(err, ErrDecrypt) {
				t.Errorf("error %v does not wrap ErrDecrypt", err)
			}
		})
	}
}

func TestBadKey(t *testing.T) {
	for _, key := range []string{"", "short", vecAESKey + "A", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, err := Encrypt(key, vecAppID, nil, []byte("x")); err == nil {
			t.Errorf("Encrypt accepted key %q", key)
		}
		if _, err := Decrypt(key, vecAppID, vecEncrypt); err == nil {
			t.Errorf("Decrypt accepted key %q", key)
		}
	}
	if _, err := Encrypt(vecAESKey, vecAppID, []byte("short"), []byte("x")); err == nil {
		t.Error("Encrypt accepted a 5-byte random")
	}
}
