//go:build linux

package system

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

const (
	// ReadyWait bounds every WaitFor.
	ReadyWait = 60 * time.Second
	// Poll is the polling period of WaitFor.
	Poll = 100 * time.Millisecond
	// tailBytes is how much of a log Tail returns.
	tailBytes = 6000
)

// WaitFor polls cond every Poll until it holds, and returns how long that
// took. After ReadyWait it fails t with the last thing cond saw and, if p
// is not nil, p's log; if p exits first, it fails at once.
func WaitFor(t testing.TB, what string, p *Proc, cond func() (ok bool, seen string)) time.Duration {
	t.Helper()
	begin := time.Now()
	deadline := time.NewTimer(ReadyWait)
	defer deadline.Stop()
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	var died <-chan struct{}
	if p != nil {
		died = p.done
	}
	for {
		ok, last := cond()
		if ok {
			return time.Since(begin)
		}
		select {
		case <-died:
			t.Fatalf("%s: %s exited while waiting (%v); last seen: %s\n--- %s ---\n%s", what, p.name, p.err, last, p.logPath, Tail(p.logPath))
		case <-deadline.C:
			msg := fmt.Sprintf("%s: not within %v; last seen: %s", what, ReadyWait, last)
			if p != nil {
				msg += fmt.Sprintf("\n--- %s ---\n%s", p.logPath, Tail(p.logPath))
			}
			t.Fatal(msg)
		case <-tick.C:
		}
	}
}

// OKAt is a WaitFor condition: a plain-HTTP GET of url answers 200.
func OKAt(url string) func() (bool, string) {
	return func() (bool, string) {
		code, body := HTTPGet(url)
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	}
}

// HTTPGet returns the status and body of a plain-HTTP GET, for the ops
// endpoints; 0 and the error when there is no answer.
func HTTPGet(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// Tail returns the end of a log file, for failure messages.
func Tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > tailBytes {
		b = append([]byte("…"), b[len(b)-tailBytes:]...)
	}
	return string(b)
}
