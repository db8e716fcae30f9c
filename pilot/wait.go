package pilot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/sdk"
)

// A command waits for two things: its own SVID (the SVID files, or the
// SPIRE agent), and a Nexus that answers. Both waits are short by
// default and configurable, and on a terminal the command says what it
// waits for instead of sitting silent. Without a terminal it says
// nothing extra: a script gets the one-line error or the result.
const (
	// defaultSourceTimeout is --spiffe-source-timeout for spike: files
	// that spiffe-helper has written, or an agent that knows this user,
	// answer in well under a second. (The SDK waits 30 s, for a workload
	// starting beside its agent.)
	defaultSourceTimeout = "5s"
	// defaultRetryWait is --retry-wait for spike: long enough for a
	// restarting Nexus to unseal from its Keepers.
	defaultRetryWait = "10s"
	// refusedGrace is how long a refused connection is retried (within
	// --retry-wait): nothing listens at the URL, which a restart explains
	// for a moment and a stopped Nexus for ever.
	refusedGrace = time.Second
	// noticeDelay is how long an SVID wait that was expected to be quick
	// runs before the command says what it waits for.
	noticeDelay = time.Second
)

// notifier writes notices to stderr, on a terminal only. Notices may come
// from a timer's goroutine while the SDK logs from the command's, so
// every write that can overlap another goes through mu.
type notifier struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
}

func (n *notifier) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.w.Write(p)
}

// say prints one notice line, when enabled.
func (n *notifier) say(format string, a ...any) {
	if !n.enabled {
		return
	}
	fmt.Fprintf(n, format+"\n", a...)
}

// after says msg once d has passed, unless the returned stop is called
// first; stop returns only once no notice can be written any more.
func (n *notifier) after(d time.Duration, msg string) (stop func()) {
	if !n.enabled {
		return func() {}
	}
	var mu sync.Mutex
	stopped := false
	t := time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			n.say("%s", msg)
		}
	})
	return func() {
		t.Stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}

// waitForSVID tells the user, on a terminal, what the command is about to
// wait for: at once when the files or the agent's socket are not there
// (the wait will last), after noticeDelay otherwise. The returned
// function ends the wait.
func (e *env) waitForSVID() (done func()) {
	timeout := e.g.SourceTimeout
	if dir := e.g.SVIDDir; dir != "" {
		msg := fmt.Sprintf("waiting up to %s for an SVID in %s (--svid-dir, SPIKE_SVID_DIR): is spiffe-helper writing there?", timeout, dir)
		if !exists(identity.FilesIn(dir).Cert) {
			e.notices.say("%s", msg)
			return func() {}
		}
		return e.notices.after(noticeDelay, msg)
	}
	addr := strings.TrimSpace(e.g.Socket)
	if addr == "" {
		addr = identity.DefaultWorkloadSocket
	}
	if strings.HasPrefix(addr, "/") {
		addr = "unix://" + addr
	}
	msg := fmt.Sprintf("waiting up to %s for an SVID from the SPIRE agent at %s (--spiffe-endpoint-socket, SPIFFE_ENDPOINT_SOCKET; or --svid-dir): is the agent running, and this workload registered?", timeout, addr)
	if path, ok := strings.CutPrefix(addr, "unix://"); ok && !exists(path) {
		e.notices.say("%s", msg)
		return func() {}
	}
	return e.notices.after(noticeDelay, msg)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// waitOptions are the SDK options for the command's waits on Nexus:
// refused connections retried for refusedGrace only, and a notice for
// the first wait on a Nexus that answers but is not ready.
func (e *env) waitOptions() []sdk.Option {
	said := false
	return []sdk.Option{
		sdk.WithRetry(e.g.RetryWait),
		sdk.WithRefusedWait(min(refusedGrace, e.g.RetryWait)),
		sdk.WithWaitNotice(func(w sdk.Wait) {
			if !said {
				said = e.noticeWait(w)
			}
		}),
	}
}

// noticeWait says, on a terminal, that the command waits for a Nexus
// that is not ready, and reports whether it said so. A refused
// connection is retried for a moment only, and its error says the rest.
func (e *env) noticeWait(w sdk.Wait) bool {
	if w.Refused() {
		return false
	}
	e.notices.say("Nexus at %s %s; retrying for up to %s (--retry-wait) …", e.g.NexusURL, notReady(w.Err), w.For.Round(100*time.Millisecond))
	return true
}

// notReady says why Nexus is not ready, in its words when it gave any.
func notReady(se *sdk.Error) string {
	if se.Message != "" {
		return "is not ready (" + oneLine(se.Message) + ")"
	}
	return "is sealed or still starting"
}
