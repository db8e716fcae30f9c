package commit

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/eventlog"
)

func openLog(t *testing.T, maxPayload int) *eventlog.Log {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), "events.db"), eventlog.Options{MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	if err := log.Unlock(ctx, bytes.Repeat([]byte{7}, eventlog.RootKeySize)); err != nil {
		t.Fatal(err)
	}
	return log
}

func event(payload string) eventlog.Event {
	return eventlog.Event{Type: "secret.written", Schema: 1, Payload: []byte(payload)}
}

// TestLocalOrder: commits and submissions, mixed, land in the log in the
// order made, each call's events consecutive, and the records returned
// are the ones the log holds.
func TestLocalOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := openLog(t, 0)
	var c Committer = NewLocal(log)
	steps := []struct {
		name     string
		submit   bool
		payloads []string
	}{
		{"commit one", false, []string{"a"}},
		{"submit two", true, []string{"b", "c"}},
		{"commit three", false, []string{"d", "e", "f"}},
		{"submit one", true, []string{"g"}},
	}
	var pending []Pending
	var want []string
	for _, s := range steps {
		evs := make([]eventlog.Event, len(s.payloads))
		for i, p := range s.payloads {
			evs[i] = event(p)
		}
		want = append(want, s.payloads...)
		if s.submit {
			p, err := c.Submit(ctx, evs...)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			pending = append(pending, p)
			continue
		}
		recs, err := c.Commit(ctx, evs...)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(recs) != len(evs) {
			t.Fatalf("%s: %d records, want %d", s.name, len(recs), len(evs))
		}
		for i, r := range recs {
			if r.Seq != uint64(len(want)-len(evs)+i+1) || string(r.Payload) != s.payloads[i] {
				t.Errorf("%s: record %d is seq %d %q, want seq %d %q", s.name, i, r.Seq, r.Payload, len(want)-len(evs)+i+1, s.payloads[i])
			}
		}
	}
	for _, p := range pending {
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.Size(); got != uint64(len(want)) {
		t.Fatalf("log holds %d events, want %d", got, len(want))
	}
	for i, w := range want {
		r, err := log.Get(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Payload) != w {
			t.Errorf("event %d is %q, want %q", i+1, r.Payload, w)
		}
	}
}

// TestLocalRefuses: an event over the log's limit is refused by Check,
// Submit and Commit alike, with the log's own error, and nothing of it
// is written.
func TestLocalRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := openLog(t, 1024)
	c := NewLocal(log)
	if c.MaxPayload() != 1024 {
		t.Fatalf("MaxPayload %d, want 1024", c.MaxPayload())
	}
	big := event(strings.Repeat("x", 1025))
	tests := []struct {
		name string
		do   func() error
	}{
		{"check", func() error { return c.Check(big) }},
		{"submit", func() error {
			p, err := c.Submit(ctx, big)
			if err == nil || p != nil {
				return errors.New("submit took the event")
			}
			return err
		}},
		{"commit", func() error { _, err := c.Commit(ctx, big); return err }},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, eventlog.ErrTooLarge) {
			t.Errorf("%s: %v, want eventlog.ErrTooLarge", tt.name, err)
		}
	}
	if err := c.Check(event("small")); err != nil {
		t.Errorf("check of a small event: %v", err)
	}
	if n := log.Size(); n != 0 {
		t.Errorf("log holds %d events after refusals, want 0", n)
	}
}
