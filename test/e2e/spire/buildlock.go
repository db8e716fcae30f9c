//go:build linux

package spire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Waiting for another process's build. A cold build takes about 7
// minutes on 2 idle cores and much longer on busy ones, so no fixed
// deadline fits: a waiter waits as long as the build makes progress,
// which it sees in build.log growing ("go install -v" names every package
// it builds), and gives up only after stallLimit without any.
const (
	// lookEvery is how often a waiter looks at the lock and the log.
	lookEvery = time.Second
	// stallLimit is how long a build may write nothing before a waiter
	// takes it for stuck. The longest silent step, linking spire-server,
	// takes a minute or two on 2 busy cores.
	stallLimit = 10 * time.Minute
	// markerPrefix starts the first line of a build.log written under the
	// lock; a build by hand (spire-local.md's recipe) has none.
	markerPrefix = "# SPIRE build by pid "
)

// builder builds the binaries into cache once, however many processes
// ask at the same time.
type builder struct {
	cache string
	// ticks paces every wait: one look at the lock and the log per tick,
	// every so often (for messages).
	ticks <-chan time.Time
	every time.Duration
	// stallLooks is how many looks in a row may find build.log unchanged
	// before the build is taken for stuck or abandoned.
	stallLooks int
	build      func(ctx context.Context, cache string) error
}

// ensure returns the binaries, building them under the lock unless they
// are ready or become ready while it waits.
func (b builder) ensure(ctx context.Context) (serverBin, agentBin string, err error) {
	serverBin, agentBin = binPaths(filepath.Join(b.cache, "bin"))
	if ready(b.cache) {
		return serverBin, agentBin, nil
	}
	if err := os.MkdirAll(b.cache, 0o755); err != nil {
		return "", "", fmt.Errorf("spire cache dir: %w", err)
	}
	unlock, err := b.lock(ctx)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if err := b.waitLockless(ctx); err != nil {
		return "", "", err
	}
	if ready(b.cache) {
		return serverBin, agentBin, nil
	}
	if err := b.build(ctx, b.cache); err != nil {
		return "", "", err
	}
	return serverBin, agentBin, nil
}

// lock takes an exclusive flock on the cache's build.lock. While another
// process holds it (it is alive: the kernel drops the lock of a process
// that dies), lock waits as long as that process's build.log keeps
// growing; it fails only when the log has not changed for stallLooks
// looks, or when ctx ends. The returned function releases the lock.
func (b builder) lock(ctx context.Context) (unlock func(), err error) {
	path := filepath.Join(b.cache, "build.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("spire build lock: %w", err)
	}
	watch := logWatch{path: filepath.Join(b.cache, "build.log")}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("spire build lock %s: %w", path, err)
		}
		if watch.look() > b.stallLooks {
			_ = f.Close()
			return nil, fmt.Errorf("waiting for another SPIRE build: %s, which holds %s, has not written to %s for %s (last at %s): "+
				"it seems stuck; stop it and run again", watch.builder(), path, watch.path, time.Duration(watch.idle)*b.every, watch.last.mod.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("waiting for another SPIRE build (lock %s): %w", path, ctx.Err())
		case <-b.ticks:
		}
	}
}

// waitLockless runs with the lock held and build.log unfinished (no
// "rc=" line). A log written under the lock is abandoned: its builder
// held the lock, so it is gone, and the caller builds again at once.
// Otherwise a build by hand, without the lock, may be writing it: wait as
// long as it grows, then build again.
func (b builder) waitLockless(ctx context.Context) error {
	watch := logWatch{path: filepath.Join(b.cache, "build.log")}
	for {
		last, err := lastLine(watch.path)
		if err != nil || strings.HasPrefix(last, "rc=") || strings.HasPrefix(firstLine(watch.path), markerPrefix) {
			return nil
		}
		if watch.look() > b.stallLooks {
			return nil // abandoned too
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the SPIRE build logging to %s: %w", watch.path, ctx.Err())
		case <-b.ticks:
		}
	}
}

// writeMarker starts a build.log written under the lock.
func writeMarker(w io.Writer) {
	_, _ = fmt.Fprintf(w, "%s%d, holding build.lock (SPIRE %s)\n", markerPrefix, os.Getpid(), Version)
}

// logWatch tells whether a log file changed between looks.
type logWatch struct {
	path string
	last logState
	idle int // looks in a row that found no change
}

// logState is what a look sees of the log: a missing file is the zero
// value.
type logState struct {
	size int64
	mod  time.Time
}

// look looks at the log once and returns how many looks in a row, this
// one included, found it unchanged.
func (w *logWatch) look() int {
	var now logState
	if fi, err := os.Stat(w.path); err == nil {
		now = logState{size: fi.Size(), mod: fi.ModTime()}
	}
	if now == w.last {
		w.idle++
	} else {
		w.last, w.idle = now, 0
	}
	return w.idle
}

// builder names the process writing the log, from its first line.
func (w *logWatch) builder() string {
	first := firstLine(w.path)
	if pid, ok := strings.CutPrefix(first, markerPrefix); ok {
		pid, _, _ = strings.Cut(pid, ",")
		return "the build by pid " + pid
	}
	return "the process"
}

// firstLine returns the first line of a file, or "".
func firstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return strings.TrimSpace(line)
}
