package cluster

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
)

// waitFor bounds every wait of these tests: generous, since a loaded CI
// machine is slow, but finite so that a broken cluster fails.
const waitFor = 15 * time.Second

var (
	mainTD  = spiffeid.RequireTrustDomainFromString(identity.DefaultTrustRoot)
	otherTD = spiffeid.RequireTrustDomainFromString("other.test")
)

// newCA returns a development CA for td.
func newCA(t *testing.T, td spiffeid.TrustDomain) *identity.DevCA {
	t.Helper()
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// source issues an SVID for path from ca, valid for ttl, in a source
// that trusts bundles.
func source(t *testing.T, ca *identity.DevCA, path string, ttl time.Duration, bundles ...*x509bundle.Bundle) *identity.StaticSource {
	t.Helper()
	id, err := spiffeid.FromPath(ca.TrustDomain(), path)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.Issue(id, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return identity.NewStaticSource(svid, bundles...)
}

// captureLog is a slog handler that keeps every record, so that tests can
// wait for one.
type captureLog struct {
	mu      sync.Mutex
	records []slog.Record
	added   chan struct{}
}

func newCaptureLog() *captureLog { return &captureLog{added: make(chan struct{}, 1)} }

func (c *captureLog) logger() *slog.Logger { return slog.New(c) }

func (c *captureLog) Enabled(context.Context, slog.Level) bool { return true }

func (c *captureLog) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.records = append(c.records, r.Clone())
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return nil
}

// WithAttrs and WithGroup are not used by the code under test; the
// records keep their own attributes.
func (c *captureLog) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captureLog) WithGroup(string) slog.Handler      { return c }

// attrs returns r's attributes as strings.
func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// wait returns the first record match accepts, failing the test if none
// comes within waitFor.
func (c *captureLog) wait(t *testing.T, what string, match func(slog.Record) bool) slog.Record {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		i := slices.IndexFunc(c.records, match)
		var r slog.Record
		if i >= 0 {
			r = c.records[i]
		}
		c.mu.Unlock()
		if i >= 0 {
			return r
		}
		select {
		case <-c.added:
		case <-deadline.C:
			t.Fatalf("no log record %s within %v", what, waitFor)
		}
	}
}

// refusal matches the log record of a refused peer whose logged reason
// contains why.
func refusal(direction, peerID, why string) func(slog.Record) bool {
	return func(r slog.Record) bool {
		a := attrs(r)
		return r.Message == "cluster: refused peer" && a["direction"] == direction &&
			a["peer_id"] == peerID && strings.Contains(a["err"], why)
	}
}

// listen returns a stream layer on a fresh loopback port (or addr).
func listen(t *testing.T, addr string, src identity.Source, logger *slog.Logger) *StreamLayer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStreamLayer(ln, src, identity.DefaultRoles(), logger)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	return s
}

// recorder is a trivial raft.FSM that records the entries applied.
type recorder struct {
	mu      sync.Mutex
	applied []string
}

func (f *recorder) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, string(l.Data))
	return len(f.applied)
}

func (f *recorder) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

// Snapshot and Restore are needed by raft.FSM; these tests never take a
// snapshot (the thresholds are far above what they apply).
func (f *recorder) Snapshot() (raft.FSMSnapshot, error) {
	return nil, errNoSnapshots
}

func (f *recorder) Restore(rc io.ReadCloser) error {
	_ = rc.Close()
	return errNoSnapshots
}

type testError string

func (e testError) Error() string { return string(e) }

const errNoSnapshots = testError("recorder: snapshots are not used in these tests")

// raftConfig is a Raft configuration for loopback tests: short timeouts
// so that elections end quickly, and no snapshots.
func raftConfig(id raft.ServerID, logger *slog.Logger) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 10 * time.Millisecond
	c.SnapshotThreshold = 1 << 30
	c.SnapshotInterval = time.Hour
	c.Logger = NewHCLogger(logger, "raft")
	return c
}

// waitUntil polls cond until it holds, failing the test after waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
