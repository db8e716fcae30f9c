package pilot

import (
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
