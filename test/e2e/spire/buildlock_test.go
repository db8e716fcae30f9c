//go:build linux

package spire

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The waiter tests run no real build: a fake builder process (this test
// binary, see TestMain) takes the build lock and writes build.log when
// told to, and the waiter's looks are paced by ticks the test sends, so
// that "a long time" is a count of looks and nothing depends on the
// clock.

// fakeBuilderEnv makes the test binary a fake builder of the cache it
// names: see runFakeBuilder.
const fakeBuilderEnv = "SPIKE_E2E_FAKE_BUILDER"

// runFakeBuilder takes the cache's build lock, starts build.log as a
// real build does and says "locked"; then, for each line on stdin, "log"
// appends a line to build.log (answering "ok") and "done" writes the
// binaries and "rc=0" and exits. When stdin ends first it exits without
// finishing, as a build that dies.
func runFakeBuilder(cache string) int {
	f, err := os.OpenFile(filepath.Join(cache, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	}
	var logf *os.File
	if err == nil {
		logf, err = os.Create(filepath.Join(cache, "build.log"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake builder:", err)
		return 1
	}
	writeMarker(logf)
	fmt.Println("locked")
	in := bufio.NewScanner(os.Stdin)
	for n := 0; in.Scan(); n++ {
		switch in.Text() {
		case "log":
			fmt.Fprintf(logf, "github.com/spiffe/spire/pkg/package%d\n", n)
			fmt.Println("ok")
		case "done":
			if err := fakeBinaries(cache); err != nil {
				fmt.Fprintln(os.Stderr, "fake builder:", err)
				return 1
			}
			fmt.Fprintln(logf, "rc=0")
			return 0
		}
	}
	return 1
}

// fakeBuilder is the test's handle on a fake builder process.
type fakeBuilder struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	exited chan struct{}
}

// startFakeBuilder starts a fake builder and returns once it holds the
// lock.
func startFakeBuilder(t *testing.T, cache string) *fakeBuilder {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakeBuilderEnv+"="+cache)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &fakeBuilder{cmd: cmd, in: in, out: bufio.NewReader(out), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-b.exited })
	b.expect(t, "locked")
	return b
}

func (b *fakeBuilder) expect(t *testing.T, want string) {
	t.Helper()
	line, err := b.out.ReadString('\n')
	if strings.TrimSpace(line) != want {
		t.Fatalf("fake builder said %q (%v), want %q", line, err, want)
	}
}

// log makes the builder write a line to build.log.
func (b *fakeBuilder) log(t *testing.T) {
	t.Helper()
	fmt.Fprintln(b.in, "log")
	b.expect(t, "ok")
}

// finish makes the builder finish its build and waits for it to exit.
func (b *fakeBuilder) finish(t *testing.T) {
	t.Helper()
	fmt.Fprintln(b.in, "done")
	<-b.exited
	if !b.cmd.ProcessState.Success() {
		t.Fatalf("fake builder: %v", b.cmd.ProcessState)
	}
}

// die kills the builder mid-build and waits for it to be gone.
func (b *fakeBuilder) die() {
	b.cmd.Process.Kill()
	<-b.exited
}

// waiter runs builder.ensure with ticks the test sends and a fake build.
type waiter struct {
	ticks  chan time.Time
	done   chan error
	err    error
	sent   int          // ticks received by the waiter
	builds atomic.Int32 // fake builds run
}

func startWaiter(t *testing.T, cache string, stallLooks int) *waiter {
	w := &waiter{ticks: make(chan time.Time), done: make(chan error, 1)}
	b := builder{cache: cache, ticks: w.ticks, every: time.Second, stallLooks: stallLooks,
		build: func(_ context.Context, cache string) error {
			w.builds.Add(1)
			if err := fakeBinaries(cache); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(cache, "build.log"), []byte("$ go install\nrc=0\n"), 0o644)
		}}
	go func() {
		_, _, err := b.ensure(t.Context())
		w.done <- err
	}()
	return w
}

// tick gives the waiter one more look and reports whether it is still
// waiting; once it has returned, w.err is its error.
func (w *waiter) tick() bool {
	select {
	case w.ticks <- time.Time{}:
		w.sent++
		return true
	case w.err = <-w.done:
		return false
	}
}

// untilDone ticks until the waiter returns, at most limit times.
func (w *waiter) untilDone(t *testing.T, limit int) {
	t.Helper()
	for range limit + 1 {
		if !w.tick() {
			return
		}
	}
	t.Fatalf("the waiter still waits after %d looks", w.sent)
}

// TestWaiterWaitsWhileBuildProgresses: a build that keeps writing to
// build.log is waited for, however long it takes (here over 6 times the
// waiter's stall limit), and its result is used.
func TestWaiterWaitsWhileBuildProgresses(t *testing.T) {
	t.Parallel()
	const stall = 3
	cache := t.TempDir()
	b := startFakeBuilder(t, cache)
	w := startWaiter(t, cache, stall)
	for range 10 {
		b.log(t)
		for range stall - 1 {
			if !w.tick() {
				t.Fatalf("gave up after %d looks while the build made progress: %v", w.sent, w.err)
			}
		}
	}
	b.finish(t)
	w.untilDone(t, 1)
	if w.err != nil || w.builds.Load() != 0 || !ready(cache) {
		t.Fatalf("after the other build finished: %v, %d builds of its own, ready %v", w.err, w.builds.Load(), ready(cache))
	}
}

// TestWaiterGivesUpOnStuckBuild: a builder that holds the lock and writes
// nothing for more than the stall limit is given up on, with an error
// that names it, the lock and the log.
func TestWaiterGivesUpOnStuckBuild(t *testing.T) {
	t.Parallel()
	const stall = 3
	cache := t.TempDir()
	b := startFakeBuilder(t, cache)
	w := startWaiter(t, cache, stall)
	w.untilDone(t, stall+1)
	if w.sent != stall+1 {
		t.Errorf("gave up after %d looks, want %d", w.sent, stall+1)
	}
	for _, want := range []string{"pid " + strconv.Itoa(b.cmd.Process.Pid), filepath.Join(cache, "build.lock"), filepath.Join(cache, "build.log"), "stuck"} {
		if w.err == nil || !strings.Contains(w.err.Error(), want) {
			t.Errorf("error %v does not say %q", w.err, want)
		}
	}
	if w.builds.Load() != 0 {
		t.Error("the waiter built while the lock was held")
	}
}

// TestWaiterRebuildsAfterBuilderDied: when the builder dies mid-build,
// its lock goes with it; the waiter takes the lock, sees the unfinished
// log written under the lock and builds again at once.
func TestWaiterRebuildsAfterBuilderDied(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	b := startFakeBuilder(t, cache)
	w := startWaiter(t, cache, 3)
	b.log(t)
	b.die()
	w.untilDone(t, 1)
	if w.err != nil || w.builds.Load() != 1 || !ready(cache) {
		t.Fatalf("after the builder died: %v, %d builds, ready %v", w.err, w.builds.Load(), ready(cache))
	}
}

// TestWaiterLocklessBuild: an unfinished build.log without the lock's
// marker may be a build by hand: it is waited for while it grows, and
// built over once it has not grown for the stall limit.
func TestWaiterLocklessBuild(t *testing.T) {
	t.Parallel()
	const stall = 3
	for _, finishes := range []bool{true, false} {
		t.Run(map[bool]string{true: "finishes", false: "abandoned"}[finishes], func(t *testing.T) {
			t.Parallel()
			cache := t.TempDir()
			logPath := filepath.Join(cache, "build.log")
			if err := os.WriteFile(logPath, []byte("$ go install\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			appendLog := func(line string) {
				f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
				if err == nil {
					_, err = fmt.Fprintln(f, line)
					f.Close()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			w := startWaiter(t, cache, stall)
			if finishes {
				for i := range 3 * stall {
					appendLog("github.com/spiffe/spire/pkg/package" + strconv.Itoa(i))
					if !w.tick() {
						t.Fatalf("gave up after %d looks while the build grew: %v", w.sent, w.err)
					}
				}
				if err := fakeBinaries(cache); err != nil {
					t.Fatal(err)
				}
				appendLog("rc=0")
			}
			w.untilDone(t, stall+1)
			want := int32(1)
			if finishes {
				want = 0
			}
			if w.err != nil || w.builds.Load() != want || !ready(cache) {
				t.Fatalf("%v, %d builds (want %d), ready %v", w.err, w.builds.Load(), want, ready(cache))
			}
		})
	}
}

// fakeBinaries writes executable stand-ins for the two binaries.
func fakeBinaries(cache string) error {
	server, agent := binPaths(filepath.Join(cache, "bin"))
	if err := os.MkdirAll(filepath.Dir(server), 0o755); err != nil {
		return err
	}
	for _, p := range []string{server, agent} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			return err
		}
	}
	return nil
}
