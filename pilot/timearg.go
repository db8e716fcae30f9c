package pilot

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// timeForms is how a help text or an error names the forms a time
// argument takes.
const timeForms = "an RFC 3339 time (2026-12-01T15:04:05Z), a date (2026-12-01, meaning midnight UTC) or a time ago (30m, 1h, 7d)"

// timeArg is a flag naming an instant: an RFC 3339 time, a date, or how
// long ago. A date is midnight UTC, not local midnight: every time spike
// prints is UTC, so a date typed from its output means what it showed.
// A time ago counts back from this machine's clock when the command line
// is read.
type timeArg struct {
	t   time.Time
	set bool
}

// Decode reads the flag's value (kong.MapperValue).
func (a *timeArg) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("time", &s); err != nil {
		return err
	}
	t, err := parseTimeArg(s, time.Now())
	if err != nil {
		return err
	}
	a.t, a.set = t, true
	return nil
}

// ptr returns the instant, or nil when the flag was not given.
func (a timeArg) ptr() *time.Time {
	if !a.set {
		return nil
	}
	t := a.t
	return &t
}

// parseTimeArg reads s as one of the forms of a timeArg, a time ago
// counting back from now.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil // time.Parse gives a date without a zone in UTC
	}
	d, err := parseAgo(s)
	switch {
	case errors.Is(err, errNotDuration):
		return time.Time{}, fmt.Errorf("%q is not a time: give %s", s, timeForms)
	case err != nil:
		return time.Time{}, fmt.Errorf("%q: %v; give %s", s, err, timeForms)
	}
	return now.Add(-d).UTC(), nil
}

var errNotDuration = errors.New("not a duration")

// parseAgo reads a duration as time.ParseDuration does, with days (d)
// and weeks (w) allowed before the other units: "7d", "1w2d", "1d12h".
// A negative duration (a time to come) is refused.
func parseAgo(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for {
		i := 0
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || rest[i] != 'd' && rest[i] != 'w' {
			break
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		if err != nil || n > (math.MaxInt64-int64(total))/int64(unit) {
			return 0, errors.New("too long ago")
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if rest == "" {
		if total == 0 && s == "" {
			return 0, errNotDuration
		}
		return total, nil
	}
	if rest[0] == '-' {
		return 0, errors.New("a time ago cannot be negative")
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, errNotDuration
	}
	if d > math.MaxInt64-total {
		return 0, errors.New("too long ago")
	}
	return total + d, nil
}

// parsePastTime reads a time argument that must name a point of the past
// (a restore's target): one of timeArg's forms, with a time after now
// refused. flag names the flag in errors, which are usage errors.
func parsePastTime(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := parseTimeArg(s, now)
	if err != nil {
		return time.Time{}, usagef("%s %v", flag, err)
	}
	if t.After(now) {
		return time.Time{}, usagef("%s %s is in the future (now is %s): give a past time: %s",
			flag, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), timeForms)
	}
	return t, nil
}
