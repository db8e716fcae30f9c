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

// TestWALCheckpointPages checks that every connection of a projection
// file checkpoints its write-ahead log at walCheckpointPages, not
// SQLite's default, and a bulk rebuild's connection keeps no log at all.
func TestWALCheckpointPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open(filepath.Join(f.dir, "p.db"))
	for i := range 3 { // the pool's connections, held at once, not only the first
		c, err := p.db.Conn(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var pages int
		var mode string
		if err := c.QueryRowContext(f.ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(f.ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if pages != walCheckpointPages || mode != "wal" {
			t.Fatalf("connection %d: wal_autocheckpoint %d, journal_mode %s; want %d, wal", i, pages, mode, walCheckpointPages)
		}
	}
	bulk, err := openFile(f.ctx, filepath.Join(f.dir, "bulk.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer bulk.Close()
	var mode string
	if err := bulk.QueryRowContext(f.ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "off" {
		t.Fatalf("bulk journal_mode %s, want off", mode)
	}
}
