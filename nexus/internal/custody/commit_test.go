package custody

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/nexus/internal/service"
	"github.com/spikeledger/spike/projections"
)

// countingCommitter is a Local committer that counts the events each
// kind of call commits.
type countingCommitter struct {
	*commit.Local
	mu     sync.Mutex
	events map[string]int // by "commit" or "submit"
}

func (c *countingCommitter) count(how string, evs []eventlog.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[how] += len(evs)
}

func (c *countingCommitter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events["commit"] + c.events["submit"]
}

func (c *countingCommitter) Submit(ctx context.Context, evs ...eventlog.Event) (commit.Pending, error) {
	c.count("submit", evs)
	return c.Local.Submit(ctx, evs...)
}

func (c *countingCommitter) Commit(ctx context.Context, evs ...eventlog.Event) ([]eventlog.Record, error) {
	c.count("commit", evs)
	return c.Local.Commit(ctx, evs...)
}

// TestOneWayToCommit: every event Nexus writes, whoever writes it
// (custody before the command loop runs, the loop's writes and audited
// reads, custody once the loop runs), goes through the one Committer:
// after each step the log holds exactly the events the Committer was
// given, so a replicated Committer put in its place sees them all.
func TestOneWayToCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log, root := openUnlockedLog(t)
	cc := &countingCommitter{Local: commit.NewLocal(log), events: map[string]int{}}
	cu, err := New(Config{Keepers: []string{"https://k1", "https://k2"}, Shares: 2, Threshold: 2, Self: "spiffe://spike.test/spike/nexus"},
		Deps{Log: log, Commit: cc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	var svc *service.Service
	serve := func(t *testing.T, op api.Op, req any) {
		t.Helper()
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		h, ok := svc.Handler(op)
		if !ok {
			t.Fatalf("no handler for %s", op)
		}
		if r := h(ctx, &transport.Request{ID: "test", Peer: su, Body: body}); r.Status != 0 && r.Status != http.StatusOK {
			t.Fatalf("%s: %+v", op, r)
		}
	}
	steps := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"custody before the loop", func(t *testing.T) {
			if err := cu.append(ctx, &events.KeeperUnreachable{Keeper: "https://k1"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"a write through the loop", func(t *testing.T) {
			svc = runService(t, log, cc, root)
			serve(t, api.OpSecretPut, api.SecretPutRequest{Path: "one/way", Values: map[string]string{"k": "v"}})
		}},
		{"an audited read through the loop", func(t *testing.T) {
			serve(t, api.OpSecretGet, api.SecretGetRequest{Path: "one/way"})
		}},
		{"custody once the loop runs", func(t *testing.T) {
			cu.SetService(svc)
			if err := cu.append(ctx, &events.KeeperUnreachable{Keeper: "https://k2"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	before := uint64(0)
	for _, s := range steps {
		s.do(t)
		size := log.Size()
		if size == before {
			t.Fatalf("%s: nothing recorded", s.name)
		}
		if got := uint64(cc.total()); got != size {
			t.Fatalf("%s: the log holds %d events, the Committer was given %d", s.name, size, got)
		}
		before = size
	}
	if cc.events["submit"] == 0 {
		t.Error("no read went through Submit: the test no longer covers the loop's queued reads")
	}
}

// openUnlockedLog opens a log in a temporary directory, unlocked with a
// new root key, which it returns.
func openUnlockedLog(t *testing.T) (*eventlog.Log, []byte) {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), "events.db"), eventlog.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	root := make([]byte, 32)
	rand.Read(root)
	if err := log.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	return log, root
}

// runService runs a service over log, committing through c, with its
// projection in memory, until the test ends.
func runService(t *testing.T, log *eventlog.Log, c commit.Committer, root []byte) *service.Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pk, err := projections.KeyFromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	proj, err := projections.Open(ctx, log, projections.Options{Memory: true, Key: pk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proj.Close() })
	svc, err := service.New(ctx, service.Config{Log: log, Commit: c, Proj: proj, Roles: identity.DefaultRoles(),
		WithKey: func(f func([]byte) error) error { return f(root) }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}
