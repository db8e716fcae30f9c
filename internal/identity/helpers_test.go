package identity

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// waitLimit bounds every wait for something asynchronous in these tests.
const waitLimit = 10 * time.Second

func newCA(t testing.TB, td string) *DevCA {
	t.Helper()
	ca, err := NewDevCA(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t testing.TB, ca *DevCA, path string) *x509svid.SVID {
	t.Helper()
	svid, err := ca.Issue(spiffeid.RequireFromPath(ca.TrustDomain(), path), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return svid
}

func writeFiles(t testing.TB, ca *DevCA, dir string, svid *x509svid.SVID) SVIDFiles {
	t.Helper()
	files, err := ca.WriteFiles(dir, svid)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// fastFiles is a FileConfig for dir that polls quickly.
func fastFiles(dir string, timeout time.Duration) FileConfig {
	return FileConfig{Dir: dir, Timeout: timeout, PollInterval: 10 * time.Millisecond}
}

// logRecorder is a slog.Handler that keeps every record and signals each
// one, so tests can wait for a log line instead of sleeping.
type logRecorder struct {
	mu      sync.Mutex
	records []string
	signal  chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{signal: make(chan struct{}, 1)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, b.String())
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

func (l *logRecorder) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.records, "\n")
}

// waitFor waits until a record containing substr has been logged.
func (l *logRecorder) waitFor(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		l.mu.Lock()
		for _, r := range l.records {
			if strings.Contains(r, substr) {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		select {
		case <-l.signal:
		case <-deadline:
			t.Fatalf("no log record containing %q; got:\n%s", substr, l.all())
		}
	}
}

// waitUpdated waits for a source's Updated signal.
func waitUpdated(t *testing.T, updated <-chan struct{}) {
	t.Helper()
	select {
	case <-updated:
	case <-time.After(waitLimit):
		t.Fatal("source was not updated in time")
	}
}
