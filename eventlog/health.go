package eventlog

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// health is whether the log can write its files now. A failed write is
// not the end of the log: the journal keeps what it made durable, and
// the flusher retries moving it into bbolt every CheckpointInterval, so
// a filesystem that ran out of space and had space freed again serves
// again by itself. health says, in the meantime, why it does not, and
// logs each episode once: when it starts and when it ends, not at every
// failed attempt.
type health struct {
	mu sync.Mutex
	// file is the failure of the latest attempt to write bbolt (a flush,
	// a direct commit); append that of the latest append, whatever
	// failed under it. A write into bbolt that succeeds clears both: a
	// failed append whose journal still works failed for want of room
	// in the journal, which that write made.
	file, append error
	// broken is the journal's failure: it lasts until the log is
	// reopened (see journal.write).
	broken error
	since  time.Time // when the episode started
}

// Err returns why the log cannot write its files now: the error of the
// latest failed attempt, until a later one succeeds, or the journal's
// failure, which lasts until the log is reopened; nil when it can. An
// error from a full filesystem wraps syscall.ENOSPC.
func (l *Log) Err() error {
	if l.readOnly {
		return nil
	}
	h := &l.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err()
}

func (h *health) err() error {
	switch {
	case h.broken != nil:
		return h.broken
	case h.append != nil:
		return h.append
	}
	return h.file
}

// wroteFile records the outcome of a write into bbolt.
func (l *Log) wroteFile(err error) {
	l.noteHealth(func(h *health) {
		h.file = err
		if err == nil {
			h.append = nil
		}
	})
}

// appended records the outcome of an append, and the journal's failure
// if it broke (read by the writer, which alone writes the journal).
func (l *Log) appended(err error) {
	var broken error
	if l.j != nil {
		broken = l.j.broken
	}
	l.noteHealth(func(h *health) { h.append, h.broken = err, broken })
}

// noteHealth applies change and logs the start or the end of an episode.
func (l *Log) noteHealth(change func(*health)) {
	h := &l.health
	h.mu.Lock()
	was := h.err() != nil
	change(h)
	err := h.err()
	now := err != nil
	if now && !was {
		h.since = time.Now()
	}
	since := h.since
	h.mu.Unlock()
	switch {
	case now && !was:
		l.opts.Logger.Error("event log cannot write its files: the journal keeps what was made durable, appends fail once it is full; retrying every checkpoint interval",
			"path", l.path, "err", err)
	case was && !now:
		l.opts.Logger.Info("event log writes its files again", "path", l.path, "after", time.Since(since).Round(time.Millisecond))
	}
}

// probeSize is how much room a probe must find. It proves no more than
// that: an append larger than what is free fails again, and says so.
const probeSize = 1 << 20

// probe tells whether the failure Err reports is over when nothing is
// left to write that would tell: the flusher retries moving the tail
// into bbolt, but after a failed direct commit (no journal, or a batch
// the journal cannot take) the tail may be empty. It writes, syncs and
// removes a scratch file of probeSize beside the log. A broken journal
// is never over, and is not probed.
func (l *Log) probe() {
	h := &l.health
	h.mu.Lock()
	skip := h.err() == nil || h.broken != nil
	h.mu.Unlock()
	if skip || len(l.takeTail().envs) > 0 {
		return
	}
	if err := writeProbe(l.path + ".probe"); err != nil {
		l.wroteFile(fmt.Errorf("event log: %w", err))
		return
	}
	l.wroteFile(nil)
}

func writeProbe(path string) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		if rerr := os.Remove(path); err == nil {
			err = rerr
		}
	}()
	if _, err := f.Write(make([]byte, probeSize)); err != nil {
		return err
	}
	return f.Sync()
}
