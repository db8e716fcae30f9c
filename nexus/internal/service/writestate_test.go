package service

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/projections"
)

// newTestService is a Service over a fresh unlocked log and a memory
// projection, its loop running, without HTTP in between.
func newTestService(t testing.TB, maxVersions int) *Service {
	t.Helper()
	return newTestServiceWith(t, maxVersions, eventlog.Options{})
}

// newTestServiceWith is newTestService over a log opened with opts.
func newTestServiceWith(t testing.TB, maxVersions int, opts eventlog.Options) *Service {
	t.Helper()
	log, root := openTestLog(t, opts)
	return startTestService(t, log, commit.NewLocal(log), root, maxVersions)
}

// openTestLog opens a log in a temporary directory, unlocked with a new
// root key, which it returns.
func openTestLog(t testing.TB, opts eventlog.Options) (*eventlog.Log, []byte) {
	t.Helper()
	ctx := context.Background()
	opts.Logger = slog.New(slog.DiscardHandler)
	log, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), "events.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	root := make([]byte, 32)
	crand.Read(root)
	if err := log.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	return log, root
}

// startTestService runs a service over log, committing through c, its
// projection in memory, until the test ends.
func startTestService(t testing.TB, log *eventlog.Log, c commit.Committer, root []byte, maxVersions int) *Service {
	t.Helper()
	svc := newIdleService(t, log, c, root, maxVersions)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc
}

// newIdleService builds a service over log, committing through c, its
// projection in memory, and leaves running it (Run, Follow) to the test.
func newIdleService(t testing.TB, log *eventlog.Log, c commit.Committer, root []byte, maxVersions int) *Service {
	t.Helper()
	ctx := context.Background()
	pk, err := projections.KeyFromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	proj, err := projections.Open(ctx, log, projections.Options{Memory: true, Key: pk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proj.Close() })
	withKey := func(f func([]byte) error) error { return f(root) }
	svc, err := New(ctx, Config{Log: log, Commit: c, Proj: proj, Roles: identity.DefaultRoles(), WithKey: withKey, MaxVersions: maxVersions, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// serve calls op's handler as the superuser.
func (s *Service) serveAs(t *testing.T, peer spiffeid.ID, op api.Op, req any) transport.Response {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return s.routes[op](context.Background(), &transport.Request{ID: "test", Peer: peer, Body: body})
}

// TestWriteStateMatchesProjection runs random writes through the loop and
// checks, after each, that every path state the loop remembers is exactly
// what the projection holds: the cache may be absent, never wrong.
func TestWriteStateMatchesProjection(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			s := newTestService(t, 4)
			su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
			rng := rand.New(rand.NewPCG(seed, 1))
			paths := []string{"a", "b/c", "d"}
			checked := 0
			for i := range 400 {
				path := paths[rng.IntN(len(paths))]
				v := rng.IntN(8)
				switch rng.IntN(10) {
				case 0:
					s.serveAs(t, su, api.OpSecretDelete, api.SecretDeleteRequest{Path: path, Versions: []int{v}})
				case 1:
					s.serveAs(t, su, api.OpSecretUndelete, api.SecretUndeleteRequest{Path: path})
				case 2:
					s.serveAs(t, su, api.OpSecretDestroy, api.SecretDestroyRequest{Path: path, Versions: []int{max(v, 1)}})
				case 3:
					mv, cas := rng.IntN(6), rng.IntN(2) == 0
					s.serveAs(t, su, api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: path, MaxVersions: &mv, CASRequired: &cas})
				case 4:
					s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"i": fmt.Sprint(i)}, CAS: &v})
				default:
					s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"i": fmt.Sprint(i)}})
				}
				// The reply was sent after the loop's bookkeeping: reading
				// its state here is ordered after it.
				for p, got := range s.state.paths {
					checkPathState(t, s, i, p, got)
					checked++
				}
			}
			if checked < 100 {
				t.Fatalf("path states checked %d times: the cache was hardly used", checked)
			}
		})
	}
}

func checkPathState(t *testing.T, s *Service, step int, path string, got *pathState) {
	t.Helper()
	ctx := context.Background()
	want, ok, err := (&writeState{}).load(ctx, s.proj, path)
	if err != nil || !ok {
		t.Fatalf("step %d: %s remembered but not in the projection: %v", step, path, err)
	}
	if got.casRequired != want.casRequired || got.maxVersions != want.maxVersions || got.current != want.current || len(got.versions) != len(want.versions) {
		t.Fatalf("step %d: %s remembered %+v, projection %+v", step, path, *got, *want)
	}
	for i, v := range got.versions {
		w := want.versions[i]
		if v.version != w.version || v.destroyed != w.destroyed {
			t.Fatalf("step %d: %s version %d remembered %+v, projection %+v", step, path, i, v, w)
		}
		if v.valueKey != "" {
			k, err := s.proj.ValueKey(ctx, path, v.version)
			if err != nil || k != v.valueKey {
				t.Fatalf("step %d: %s v%d value key %s, projection %s (%v)", step, path, v.version, v.valueKey, k, err)
			}
		}
	}
}
