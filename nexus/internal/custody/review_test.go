package custody

// Regression tests for findings of a security review of custody; each
// failed before its fix. (Those that need a whole Nexus are in package
// nexus.)

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

func (c *cluster) reviewCustody(t *testing.T, threshold int, onUnseal func(context.Context, []byte) error) (*Custody, *eventlog.Log) {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	src := c.Source("/spike/nexus")
	kc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(c.Roles.IsKeeper), Retries: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	cu, err := New(Config{Keepers: c.Keepers, Shares: len(c.Keepers), Threshold: threshold, Self: "spiffe://spike.test/spike/nexus"}, Deps{Log: log, Commit: commit.NewLocal(log), Keepers: kc, Logger: c.Logger(), OnUnseal: onUnseal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cu.Close)
	return cu, log
}

// Finding: on a never-bootstrapped system, operator restore accepts any
// threshold of shards, and Log.Unlock on a fresh log adopts whatever key
// they combine to. A restore-role caller chooses the root key.
func TestRestoreRefusedBeforeBootstrap(t *testing.T) {
	c := newCluster(t, 3)
	cu, _ := c.reviewCustody(t, 2, func(context.Context, []byte) error { return nil })
	ctx := context.Background()
	var chosen [32]byte
	chosen[31] = 7 // attacker's key
	shares, _, err := shamir.Split(&chosen, shamir.Params{Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	var res RestoreResult
	for _, s := range shares[:2] {
		if res, err = cu.Restore(ctx, "spiffe://spike.test/spike/pilot/role/restore", s); err != nil {
			break
		}
	}
	if err == nil && res.Restored {
		var got [32]byte
		cu.WithKey(func(k []byte) error { copy(got[:], k); return nil })
		boot, _ := cu.Bootstrapped(ctx)
		t.Fatalf("restore on a fresh, never-bootstrapped system unsealed Nexus (key is the caller's choice: %v; bootstrapped recorded: %v)", got == chosen, boot)
	}
}

// Finding: two concurrent bootstrap verifications (Bootstrap retrying
// after a client timeout) both unseal: onUnseal (projections.Open) runs
// twice, the first LockedKey is leaked without Destroy, and two
// Bootstrapped events are recorded.
func TestConcurrentVerifyUnsealsOnce(t *testing.T) {
	c := newCluster(t, 3)
	var opened atomic.Int32
	cu, log := c.reviewCustody(t, 2, func(context.Context, []byte) error {
		opened.Add(1)
		time.Sleep(50 * time.Millisecond)
		return nil
	})
	req := c.contributeNewKey(t, 2)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := cu.VerifyBootstrap(ctx, "spiffe://spike.test/spike/bootstrap", req); err != nil {
				t.Log("verify:", err)
			}
		})
	}
	wg.Wait()
	n := 0
	log.ScanBack(ctx, func(eventlog.Record) bool { n++; return true }, SharingTypes[0])
	if opened.Load() != 1 || n != 1 {
		t.Fatalf("concurrent verifications: onUnseal ran %d times, %d bootstrapped events; want 1 and 1", opened.Load(), n)
	}
}
