package projections

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// TestCheckpointInBackground applies far fewer pages than SQLite's
// checkpoint bound and wants them copied into the database file anyway,
// by the checkpointer rather than by a commit; Close stops it.
func TestCheckpointInBackground(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	path := filepath.Join(f.dir, "p.db")
	p, err := Open(f.ctx, f.log, f.opts(path))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	var evs []eventlog.Event
	for i := range 500 {
		evs = append(evs, f.event(&events.PolicyPut{Meta: events.Meta{Actor: alice}, Name: fmt.Sprintf("policy-%03d", i),
			SpiffeIDPattern: "^spiffe://spike\\.ist/workload/.*$", PathPattern: "^apps/.*$", Permissions: []string{"read"}}))
	}
	if err := p.Apply(f.ctx, f.append(evs...)); err != nil {
		t.Fatal(err)
	}
	// Only a checkpoint writes the new pages into the file itself.
	deadline := time.Now().Add(30 * time.Second)
	for size() == before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes: nothing checkpointed the applied pages", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.ckpt != nil {
		t.Fatal("the checkpointer outlived Close")
	}
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
