package pilot

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTimeArg(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	cases := []struct {
		in   string
		want time.Time
		err  string // substring of the error; "" for none
	}{
		{"2026-11-30T10:00:00Z", time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), ""},
		{"2026-11-30T10:00:00.5+02:00", time.Date(2026, 11, 30, 8, 0, 0, 5e8, time.UTC), ""},
		{"2026-11-30", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), ""},
		{"30m", now.Add(-30 * time.Minute), ""},
		{"1h", now.Add(-time.Hour), ""},
		{"1.5h", now.Add(-90 * time.Minute), ""},
		{"7d", now.Add(-7 * 24 * time.Hour), ""},
		{"1w2d", now.Add(-9 * 24 * time.Hour), ""},
		{"1d12h", now.Add(-36 * time.Hour), ""},
		{"0s", now, ""},
		{"yesterday", time.Time{}, `"yesterday" is not a time: give an RFC 3339 time (2026-12-01T15:04:05Z)`},
		{"", time.Time{}, "is not a time"},
		{"d", time.Time{}, "is not a time"},
		{"7", time.Time{}, "is not a time"},
		{"2026-11-30 10:00", time.Time{}, "is not a time"},
		{"2026-11-30T10:00:00", time.Time{}, "is not a time"}, // no zone: which one?
		{"1d-1h", time.Time{}, "cannot be negative"},
		{"99999999999999d", time.Time{}, "too long ago"},
		{"106751d", time.Time{}, ""}, // just fits a time.Duration
		{"106751d999999h", time.Time{}, "too long ago"},
	}
	for _, tc := range cases {
		got, err := parseTimeArg(tc.in, now)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseTimeArg(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			} else if !strings.Contains(err.Error(), timeForms) {
				t.Errorf("parseTimeArg(%q): error %q shows no example", tc.in, err)
			}
		case err != nil:
			t.Errorf("parseTimeArg(%q): %v", tc.in, err)
		case !tc.want.IsZero() && !got.Equal(tc.want):
			t.Errorf("parseTimeArg(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseTimeArg(f *testing.F) {
	for _, s := range []string{"7d", "1w2d3h", "2026-01-02", "2026-01-02T03:04:05Z", "-1h", "9223372036854775807d"} {
		f.Add(s)
	}
	now := time.Unix(1e9, 0)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTimeArg(s, now)
		if err == nil && strings.ContainsAny(s, "dwhms") && !strings.Contains(s, "T") && !strings.Contains(s, "-") && got.After(now) {
			t.Errorf("parseTimeArg(%q) = %v, after now", s, got)
		}
	})
}
func TestParsePastTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2026-11-27T09:00:00Z", want: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)},
		{in: "2026-11-27T10:00:00.5+01:00", want: time.Date(2026, 11, 27, 9, 0, 0, 5e8, time.UTC)},
		{in: "2026-11-26", want: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: " 1h30m ", want: now.Add(-90 * time.Minute)},
		{in: "3d", want: now.Add(-72 * time.Hour)},
		{in: "2026-11-27T12:00:00Z", want: now}, // now itself is not the future
		{in: "2026-11-27T12:00:01Z", err: "--time 2026-11-27T12:00:01Z is in the future (now is 2026-11-27T12:00:00Z): give a past time"},
		{in: "2026-11-28", err: "is in the future"},
		{in: "-2h", err: "cannot be negative"},
		{in: "0s", want: now},
		{in: "yesterday", err: "is not a time"},
		{in: "2026-13-01", err: "is not a time"},
		{in: "d", err: "is not a time"},
		{in: "", err: "is not a time"},
	} {
		got, err := parsePastTime("--time", tc.in, now)
		var u *usageError
		switch {
		case tc.err != "" && (err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want a usage error containing %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || !got.Equal(tc.want)):
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
