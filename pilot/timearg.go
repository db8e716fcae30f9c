package pilot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeExamples is what an error about a time argument shows.
const timeExamples = "such as 2026-11-27T09:00:00Z (RFC 3339), 2026-11-27 (midnight UTC) or 2h (two hours ago; s, m, h and d work)"

// parsePastTime reads a time argument as an operator types it: an RFC
// 3339 instant, a date (midnight UTC, as human output shows times), or a
// duration meaning that long before now ("90m", "2h", "3d"). A time after
// now is refused: the argument names a point of the past. flag names the
// flag, for errors, which are usage errors showing examples.
func parsePastTime(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := parseTime(s, now)
	if err != nil {
		return time.Time{}, usagef("%s %q is not a time: give one %s", flag, s, timeExamples)
	}
	if t.After(now) {
		return time.Time{}, usagef("%s %s is in the future (now is %s): give a past time, %s",
			flag, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), timeExamples)
	}
	return t, nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseAgo(s)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d), nil
}

// parseAgo reads a duration back from now: Go's ("1h30m") or a whole
// number of days ("3d"). It must be positive.
func parseAgo(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("not a number of days: %q", days)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("not a positive duration: %q", s)
	}
	return d, nil
}
