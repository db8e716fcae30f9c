package projections

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Copying the write-ahead log into the database file (a checkpoint) is
// left to SQLite only as a bound. SQLite checkpoints inside the commit
// that takes the log past wal_autocheckpoint pages, so inside the command
// loop's step, and syncs both files there: at SQLite's default of 1,000
// pages a stream of puts stalled a step every few hundred milliseconds,
// and a larger bound alone made each stall longer (p99 of puts at 32
// callers doubled at 8,192 pages). So a goroutine checkpoints every
// checkpointEvery while applies commit, beside the loop rather than in
// it, and the commit that reaches walCheckpointPages finds little left
// to copy or sync. Most pages a checkpoint copies are the same hot few
// (the history's tail, the position row), so copying them once per
// interval instead of once per 1,000 pages also costs less.
const (
	checkpointEvery    = 50 * time.Millisecond
	walCheckpointPages = 8192 // at most 32 MiB of log; a clean close empties it
)

// checkpointer checkpoints a projection file in the background.
type checkpointer struct {
	p    *Projection // whose commits it follows, and logger
	db   *sql.DB     // p's, until Close has stopped the checkpointer
	stop chan struct{}
	done chan struct{}
	// mu is held while a checkpoint copies pages into the file: a test
	// holds it to copy the file as a crash would leave it, rather than
	// half-way through a checkpoint (which a crash never shows without
	// the write-ahead log that completes it).
	mu sync.Mutex
}

// startCheckpointer starts checkpointing db, p's file, while applies
// commit; Close stops it before closing db.
func (p *Projection) startCheckpointer(db *sql.DB) {
	c := &checkpointer{p: p, db: db, stop: make(chan struct{}), done: make(chan struct{})}
	p.ckpt = c
	go c.run()
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var seen uint64
	failing := false
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		n := c.p.commits.Load()
		if n == seen {
			continue // nothing new in the log
		}
		// PASSIVE copies what it can without waiting for readers or the
		// writer; what it cannot, the next one (or SQLite's bound) will.
		c.mu.Lock()
		_, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		c.mu.Unlock()
		switch {
		case err == nil:
			seen, failing = n, false
		case !failing:
			// Once per run of failures: the log only grows to SQLite's
			// bound meanwhile, and applies report their own errors.
			failing = true
			c.p.opts.Logger.Warn("projection checkpoint failed; retrying", "path", c.p.path, "err", err)
		}
	}
}

// close stops the checkpointer and waits for a checkpoint under way.
func (c *checkpointer) close() {
	close(c.stop)
	<-c.done
}
