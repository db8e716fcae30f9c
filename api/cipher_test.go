package api

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseCipherEnvelope(t *testing.T) {
	t.Parallel()
	nonce := bytes.Repeat([]byte{7}, NonceSize)
	good := append(append([]byte{1}, nonce...), 0xaa, 0xbb)
	cases := []struct {
		name string
		in   []byte
		want error // nil: ok
	}{
		{"ok", good, nil},
		{"no ciphertext", good[:1+NonceSize], nil},
		{"empty", nil, CodeFailedToReadVersion},
		{"version 2", append([]byte{2}, good[1:]...), CodeUnsupportedVersion},
		{"version 0", []byte{0}, CodeUnsupportedVersion},
		{"short nonce", good[:NonceSize], CodeFailedToReadNonce},
		{"only version", good[:1], CodeFailedToReadNonce},
		{"largest", append(append([]byte{1}, nonce...), make([]byte, MaxCipherPayload)...), nil},
		{"too large", append(append([]byte{1}, nonce...), make([]byte, MaxCipherPayload+1)...), ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := ParseCipherEnvelope(tc.in)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if e.Version != 1 || !bytes.Equal(e.Nonce, nonce) || !bytes.Equal(e.Append(nil), tc.in) {
					t.Errorf("envelope %+v does not round-trip", e)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if CodeOf(err).Status() != 400 {
				t.Errorf("status %d", CodeOf(err).Status())
			}
		})
	}
	if CipherStreamDecryptLimit != 1+12+65536 || CipherStreamEncryptLimit != 65536 {
		t.Error("stream limits changed")
	}
}

func TestShardHelpers(t *testing.T) {
	t.Parallel()
	s, _ := testShard(0)
	if s.IsZero() {
		t.Error("non-zero shard reported zero")
	}
	s.Wipe()
	if !s.IsZero() {
		t.Error("wiped shard not zero")
	}
	var keep Shard
	keep[0] = 9
	if err := keep.UnmarshalJSON([]byte("null")); err != nil || keep[0] != 9 {
		t.Error("null must leave the shard alone")
	}
}
