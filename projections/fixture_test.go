package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// fixture is an unlocked event log plus what a writer (Nexus, later)
// must remember to produce well-formed events: the value key of every
// secret version, so that pruning and destroying can shred it.
type fixture struct {
	t    testing.TB
	ctx  context.Context
	dir  string
	log  *eventlog.Log
	root []byte
	key  []byte
	vkey map[string]eventlog.ValueKeyID // "path\x00version" → value key
}

var quiet = slog.New(slog.DiscardHandler)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	root := bytes.Repeat([]byte{7}, 32)
	if err := l.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	key, err := KeyFromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, dir: dir, log: l, root: root, key: key, vkey: map[string]eventlog.ValueKeyID{}}
}

func (f *fixture) opts(path string) Options {
	if path == "" {
		return Options{Memory: true, Key: f.key, Logger: quiet}
	}
	return Options{Path: path, Key: f.key, Logger: quiet}
}

func vk(path string, version int) string { return fmt.Sprintf("%s\x00%d", path, version) }

// event turns a payload into a log event, with the value-key bookkeeping
// that written, pruned and destroyed versions need.
func (f *fixture) event(p events.Payload) eventlog.Event {
	f.t.Helper()
	ev := eventlog.Event{Type: p.Type(), Schema: p.Schema()}
	shred := func(path string, vs []int) {
		for _, v := range vs {
			if id, ok := f.vkey[vk(path, v)]; ok {
				ev.DestroyValueKeys = append(ev.DestroyValueKeys, id)
				delete(f.vkey, vk(path, v))
			}
		}
	}
	switch e := p.(type) {
	case *events.SecretVersionWritten:
		shred(e.Path, e.Pruned)
	case *events.SecretVersionsDestroyed:
		shred(e.Path, e.Versions)
	case *events.SecretMetadataUpdated:
		shred(e.Path, e.Pruned)
	case *events.SecretMetadataDeleted:
		shred(e.Path, e.Versions)
	}
	b, err := events.Encode(p)
	if err != nil {
		f.t.Fatal(err)
	}
	ev.Payload = b
	return ev
}

// written builds a SecretVersionWritten with data sealed under a new value
// key, and returns the event carrying that key.
func (f *fixture) written(actor, path string, version int, data map[string]string, pruned ...int) eventlog.Event {
	f.t.Helper()
	k := eventlog.NewValueKey()
	plain, _ := json.Marshal(data)
	sealed, err := k.Seal(plain, events.ValueAAD(path, version))
	if err != nil {
		f.t.Fatal(err)
	}
	ev := f.event(&events.SecretVersionWritten{Meta: events.Meta{Actor: actor, RequestID: "req"}, Path: path, Version: version,
		ValueKey: k.ID().String(), Sealed: sealed, Pruned: pruned})
	ev.NewValueKeys = []*eventlog.ValueKey{k}
	f.vkey[vk(path, version)] = k.ID()
	return ev
}

func (f *fixture) append(evs ...eventlog.Event) []eventlog.Record {
	f.t.Helper()
	recs, err := f.log.Append(f.ctx, evs...)
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

func (f *fixture) open(path string) *Projection {
	f.t.Helper()
	p, err := Open(f.ctx, f.log, f.opts(path))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { p.Close() })
	return p
}

func (f *fixture) digest(p *Projection) [32]byte {
	f.t.Helper()
	d, err := p.Digest(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}
