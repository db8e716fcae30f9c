package spikedb

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseDatetime(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-05-06 07:08:09.123456789+00:00", utc(2024, 5, 6, 7, 8, 9, 123456789), true},
		{"2024-05-06 07:08:09.5-07:00", utc(2024, 5, 6, 14, 8, 9, 500000000), true},
		{"2024-05-06T07:08:09+02:00", utc(2024, 5, 6, 5, 8, 9, 0), true},
		{"2024-05-06T07:08:09Z", utc(2024, 5, 6, 7, 8, 9, 0), true},
		{"2024-05-06T07:08:09.25Z", utc(2024, 5, 6, 7, 8, 9, 250000000), true},
		{"2024-05-06 07:08:09", utc(2024, 5, 6, 7, 8, 9, 0), true},
		{"2024-05-06T07:08:09.000001", utc(2024, 5, 6, 7, 8, 9, 1000), true},
		{"2024-05-06 07:08", utc(2024, 5, 6, 7, 8, 0, 0), true},
		{"2024-05-06T07:08", utc(2024, 5, 6, 7, 8, 0, 0), true},
		{"2024-05-06", utc(2024, 5, 6, 0, 0, 0, 0), true},
		{"2024-05-06Z", utc(2024, 5, 6, 0, 0, 0, 0), true},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2024-05-06 07:08:09 +0000 UTC", time.Time{}, false}, // time.String: go-sqlite3 rejects it
		{"2024-13-01", time.Time{}, false},
		{"2024-05-06ZZ", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseDatetime(tt.in)
			if (err == nil) != tt.ok || !got.Equal(tt.want) {
				t.Errorf("parseDatetime(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

func TestDecodeDatetime(t *testing.T) {
	t.Parallel()
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name   string
		in     any
		want   time.Time
		ok     bool
		failed bool
	}{
		{"NULL", nil, time.Time{}, false, false},
		{"string", "2024-05-06 07:08:09+00:00", when, true, false},
		{"bytes", []byte("2024-05-06T09:08:09+02:00"), when, true, false},
		{"driver time", when.In(time.FixedZone("x", 3600)), when, true, false},
		{"unix seconds", when.Unix(), when, true, false},
		{"unix milliseconds", when.UnixMilli() + 7, when.Add(7 * time.Millisecond), true, false},
		{"negative seconds", int64(-86400), time.Unix(-86400, 0), true, false},
		{"bad text", "soon", time.Time{}, false, true},
		{"float", 2460000.5, time.Time{}, false, true},
		{"bool", true, time.Time{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := decodeDatetime(tt.in)
			if (err != nil) != tt.failed || ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("decodeDatetime(%v) = %v, %v, %v; want %v, %v, failed %v",
					tt.in, got, ok, err, tt.want, tt.ok, tt.failed)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("location = %v, want UTC", got.Location())
			}
		})
	}
}

func TestSplitPermissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"read", []string{"read"}},
		{"read,write", []string{"read", "write"}},
		{" read , super", []string{"read", "super"}},
		{"read,", []string{"read", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := splitPermissions(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitPermissions(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFieldNonce(t *testing.T) {
	t.Parallel()
	base := bytes.Repeat([]byte{0xff}, 12)
	tests := []struct {
		salt string
		want []byte
	}{
		{saltCurrentVersion, xorAll([]byte("current_ver_"), 0xff)},
		{saltOldestVersion, xorAll([]byte("oldest_ver__"), 0xff)},
		{saltMaxVersions, xorAll([]byte("max_versions"), 0xff)},
		{saltCreatedTime, xorAll([]byte("created_tim_"), 0xff)},
		{saltUpdatedTime, xorAll([]byte("updated_tim_"), 0xff)},
	}
	for _, tt := range tests {
		t.Run(tt.salt, func(t *testing.T) {
			t.Parallel()
			got, err := fieldNonce(base, tt.salt)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("fieldNonce = %x, %v; want %x", got, err, tt.want)
			}
			if _, err := fieldNonce(base[:11], tt.salt); err == nil {
				t.Error("fieldNonce accepted an 11-byte base")
			}
		})
	}
}

func xorAll(b []byte, x byte) []byte {
	for i := range b {
		b[i] ^= x
	}
	return b
}

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"10", 10, true},
		{"-5", -5, true},
		{"1700000000", 1700000000, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false},
		{"", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
		{"s3cr3t", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseDecimal([]byte(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseDecimal(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && tt.in != "" && bytes.Contains([]byte(err.Error()), []byte(tt.in)) {
				t.Errorf("error %q quotes the plaintext", err)
			}
		})
	}
}
