package pilot

import (
	"errors"
	"strings"
	"testing"
	"time"
)

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
		{in: "2026-11-27T12:00:01Z", err: "--time 2026-11-27T12:00:01Z is in the future (now is 2026-11-27T12:00:00Z): give a past time, such as 2026-11-27T09:00:00Z"},
		{in: "2026-11-28", err: "is in the future"},
		{in: "-2h", err: `--time "-2h" is not a time: give one such as 2026-11-27T09:00:00Z (RFC 3339), 2026-11-27 (midnight UTC) or 2h (two hours ago`},
		{in: "0s", err: "is not a time"},
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
