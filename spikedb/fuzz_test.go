package spikedb

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseDatetime(f *testing.F) {
	for _, s := range []string{
		"2024-05-06 07:08:09.123456789+00:00", "2024-05-06T07:08:09Z", "2024-05-06 07:08:09",
		"2024-05-06 07:08", "2024-05-06", "0000-01-01 00:00:00-23:59", "9999-12-31T23:59:59.999999999+14:00",
		"", "Z", "2024-02-30", "2024-05-06 07:08:09.+00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseDatetime(s)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("parseDatetime(%q) location %v", s, got.Location())
		}
		if checkDatetime(got) != nil {
			return // an offset carried it past a four-digit year in UTC
		}
		again, err := parseDatetime(formatDatetime(got))
		if err != nil || !again.Equal(got) {
			t.Fatalf("parseDatetime(%q) = %v; reformatted %q reads as %v, %v", s, got, formatDatetime(got), again, err)
		}
	})
}

func FuzzDecodeDatetimeInt(f *testing.F) {
	for _, v := range []int64{0, 1, -1, 1e12, 1e12 + 1, -1e12 - 1, 1<<63 - 1, -1 << 63} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v int64) {
		got, ok, err := decodeDatetime(v)
		if err != nil || !ok {
			t.Fatalf("decodeDatetime(%d) = %v, %v, %v", v, got, ok, err)
		}
	})
}

func FuzzMetadataField(f *testing.F) {
	key := bytes.Repeat([]byte{0x42}, KeySize)
	aead, err := newAEAD(key)
	if err != nil {
		f.Fatal(err)
	}
	base := bytes.Repeat([]byte{9}, nonceSize)
	for _, v := range []string{"0", "10", "1700000000", "-1", "x", ""} {
		nonce, _ := fieldNonce(base, saltCurrentVersion)
		f.Add(base, aead.Seal(nil, nonce, []byte(v), nil), int64(0))
	}
	f.Add([]byte{1, 2, 3}, []byte{4, 5}, int64(7))
	f.Fuzz(func(t *testing.T, base, sealed []byte, value int64) {
		// Arbitrary input: never a panic, only the package's errors.
		o := opener{aead: aead, proven: true}
		if _, err := o.openMetaField(base, saltCurrentVersion, sealed); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("openMetaField error %v does not wrap ErrCorrupt", err)
		}
		// Any value sealed as Write seals it reads back.
		if len(base) != nonceSize {
			return
		}
		nonce, err := fieldNonce(base, saltCreatedTime)
		if err != nil {
			t.Fatal(err)
		}
		ct := aead.Seal(nil, nonce, []byte(strconv.FormatInt(value, 10)), nil)
		got, err := (&opener{aead: aead}).openMetaField(base, saltCreatedTime, ct)
		if err != nil || got != value {
			t.Fatalf("round trip of %d = %d, %v", value, got, err)
		}
	})
}

func FuzzDecodeData(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"a":"b"}`, `{"a":1}`, `[]`, `{"a":"\u00e9"}`, ``, `{"a":"b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		data, err := decodeData(plain)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if len(plain) > 3 && strings.Contains(err.Error(), string(plain)) {
				t.Fatalf("error %q quotes the plaintext", err)
			}
			return
		}
		if data == nil {
			t.Fatal("nil map without error")
		}
	})
}

func FuzzSplitPermissions(f *testing.F) {
	for _, s := range []string{"", "read", "read,write", " a , b ,", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		perms := splitPermissions(s)
		if s == "" && perms != nil {
			t.Fatalf("splitPermissions(\"\") = %q", perms)
		}
		if s != "" && len(perms) != strings.Count(s, ",")+1 {
			t.Fatalf("splitPermissions(%q) = %q", s, perms)
		}
		for _, p := range perms {
			if strings.Contains(p, ",") || strings.TrimSpace(p) != p {
				t.Fatalf("splitPermissions(%q) yields %q", s, p)
			}
		}
	})
}
