package eventlog

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCheck: Check refuses what Append would refuse, with the same
// error, without appending; a refused event's value keys are spent.
func TestCheck(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{MaxPayload: 1024})
	if got := l.MaxPayload(); got != 1024 {
		t.Fatalf("MaxPayload = %d, want 1024", got)
	}
	for _, tc := range []struct {
		name string
		ev   Event
		want error
	}{
		{"fits", ev("secret.written", strings.Repeat("x", 1024)), nil},
		{"one byte over", ev("secret.written", strings.Repeat("x", 1025)), ErrTooLarge},
		{"bad type", ev("Secret Written", "x"), nil},
	} {
		k := NewValueKey()
		tc.ev.NewValueKeys = []*ValueKey{k}
		err := l.Check(tc.ev)
		switch {
		case tc.name == "bad type" && err == nil:
			t.Errorf("%s: Check accepted it", tc.name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		case tc.name == "fits" && err != nil:
			t.Errorf("%s: Check = %v", tc.name, err)
		}
		if spent := k.raw == nil; spent != (err != nil) {
			t.Errorf("%s: value key spent %v, refused %v", tc.name, spent, err != nil)
		}
	}
	if l.Size() != 0 {
		t.Errorf("Check appended: size %d", l.Size())
	}
	_, err := l.Append(context.Background(), ev("secret.written", strings.Repeat("x", 1025)))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of an oversized event: %v, want ErrTooLarge", err)
	}
}
