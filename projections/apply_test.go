package projections

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"testing"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// TestApplyKnownMatchesDecoding applies the same records twice, decoded
// from the log and taken from what their builder knew, and wants the
// same projection: a put's apply may skip decoding only because nothing
// differs.
func TestApplyKnownMatchesDecoding(t *testing.T) {
	t.Parallel()
	type knownOf func(p *Projection, w *events.SecretVersionWritten, plain []byte) Known
	for _, tc := range []struct {
		name  string
		known knownOf
	}{
		{"payload and value", func(p *Projection, w *events.SecretVersionWritten, plain []byte) Known {
			return Known{Payload: w, Value: p.SealValue(w.Path, w.Version, plain)}
		}},
		{"payload only, value resealed", func(_ *Projection, w *events.SecretVersionWritten, _ []byte) Known {
			return Known{Payload: w}
		}},
		{"another event's payload, decoded instead", func(_ *Projection, w *events.SecretVersionWritten, _ []byte) Known {
			return Known{Payload: &events.PolicyDeleted{Name: w.Path}}
		}},
		{"no payload, decoded instead", func(p *Projection, w *events.SecretVersionWritten, plain []byte) Known {
			return Known{Value: p.SealValue(w.Path, w.Version, plain)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			decoded, known := f.open(""), f.open("")
			// Twelve versions of one path (the last two prune the oldest)
			// and a read between them: records only the log decodes.
			var evs []eventlog.Event
			var pls []*events.SecretVersionWritten
			var plains [][]byte
			for v := 1; v <= 12; v++ {
				var pruned []int
				if v > DefaultMaxVersions {
					pruned = []int{v - DefaultMaxVersions}
				}
				data := map[string]string{"password": "pw-" + string(rune('a'+v))}
				ev, pl, plain := f.writtenPayload(alice, "apps/db", v, data, pruned...)
				evs = append(evs, ev, f.event(&events.SecretRead{Meta: events.Meta{Actor: alice, RequestID: "r"}, Path: "apps/db", Version: v, Outcome: events.OutcomeOK}))
				pls, plains = append(pls, pl), append(plains, plain)
			}
			recs := f.append(evs...)
			if err := decoded.Apply(f.ctx, recs); err != nil {
				t.Fatal(err)
			}
			byseq := map[uint64]Known{}
			for i, pl := range pls {
				byseq[recs[2*i].Seq] = tc.known(known, pl, plains[i])
			}
			if err := known.ApplyKnown(f.ctx, recs, byseq); err != nil {
				t.Fatal(err)
			}
			if f.digest(decoded) != f.digest(known) {
				t.Fatal("the projection applied from what was known differs from the one decoded from the log")
			}
			got, err := known.Secret(f.ctx, "apps/db", 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"password": "pw-m"}; got.Version != 12 || !maps.Equal(got.Data, want) {
				t.Fatalf("current version %d %v, want 12 %v", got.Version, got.Data, want)
			}
		})
	}
}

// writtenPayload is written, also returning the payload and the value
// in clear, as the command loop has them.
func (f *fixture) writtenPayload(actor, path string, version int, data map[string]string, pruned ...int) (eventlog.Event, *events.SecretVersionWritten, []byte) {
	f.t.Helper()
	ev := f.written(actor, path, version, data, pruned...)
	pl, err := events.Decode(ev.Type, ev.Schema, ev.Payload)
	if err != nil {
		f.t.Fatal(err)
	}
	plain, err := json.Marshal(data)
	if err != nil {
		f.t.Fatal(err)
	}
	return ev, pl.(*events.SecretVersionWritten), plain
}

// TestAppliesShareOneConnection checks that applies to a projection file
// all write through the connection kept for them: SQLite's data_version
// on a connection changes only when another connection commits.
func TestAppliesShareOneConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open(filepath.Join(f.dir, "p.db"))
	apply := func(name string) {
		t.Helper()
		if err := p.Apply(f.ctx, f.append(f.event(&events.PolicyDeleted{Name: name}))); err != nil {
			t.Fatal(err)
		}
	}
	apply("first")
	if p.wconn == nil {
		t.Fatal("no connection kept for applies")
	}
	version := func() int64 {
		t.Helper()
		var v int64
		if err := p.wconn.QueryRowContext(f.ctx, "PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for i := range 20 {
		apply(fmt.Sprintf("p-%d", i))
		// Reads between applies take other connections meanwhile.
		if _, err := p.Policies(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := version(); after != before {
		t.Fatalf("data_version of the kept connection went from %d to %d: another connection wrote", before, after)
	}
}

// TestBrokenWriteConnectionIsDropped: when the kept connection cannot
// begin a transaction, the pool must not hand the same connection back
// for the next write: here it is left inside a transaction of its own
// (holding SQLite's write lock), and a catch-up after the failed apply
// must get a working one.
func TestBrokenWriteConnectionIsDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open(filepath.Join(f.dir, "p.db"))
	if err := p.Apply(f.ctx, f.append(f.event(&events.PolicyDeleted{Name: "first"}))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.wconn.ExecContext(f.ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(f.ctx, f.append(f.event(&events.PolicyDeleted{Name: "second"}))); err == nil {
		t.Fatal("an apply on a connection already inside a transaction succeeded")
	}
	if err := p.CatchUp(f.ctx); err != nil {
		t.Fatalf("catch-up after the kept connection broke: %v", err)
	}
	if got, want := p.LastApplied(), f.log.Size(); got != want {
		t.Fatalf("projection at %d after the catch-up, log at %d", got, want)
	}
}
