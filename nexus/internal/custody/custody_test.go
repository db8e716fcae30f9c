package custody

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

func TestFailedRotationKeepsThePreviousEpoch(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	bootstrapLog(t, c, 2)
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	src := c.Source("/spike/nexus")
	kc, _ := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(c.Roles.IsKeeper), Retries: -1, Timeout: 2 * time.Second})
	cu, err := New(Config{Keepers: c.Keepers, Shares: 3, Threshold: 2, Self: "spiffe://spike.test/spike/nexus"}, Deps{Log: log, Commit: commit.NewLocal(log), Keepers: kc, Logger: c.Logger(), OnUnseal: func(context.Context, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	if err := cu.recoverOnce(ctx); err != nil {
		t.Fatal(err)
	}
	c.StopKeeper(2)
	c.StopKeeper(3)
	if err := cu.Rotate(ctx); err == nil {
		t.Fatal("a rotation that reached one keeper of three counted")
	}
	if cu.currentEpoch() != 0 || c.KeeperEpoch(c.Keepers[0]) != 0 {
		t.Fatalf("epoch now %d, keeper 1 at %d; want the previous epoch 0 in force", cu.currentEpoch(), c.KeeperEpoch(c.Keepers[0]))
	}
}

// bootstrapLog does what spike-bootstrap and a first Nexus do: it gives
// the keepers shards of a new root key and, through custody's bootstrap
// verification, records the sharing in the log in c.Dir, which it then
// closes.
func bootstrapLog(t *testing.T, c *cluster, threshold int) {
	t.Helper()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	src := c.Source("/spike/nexus")
	kc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(c.Roles.IsKeeper), Retries: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	cu, err := New(Config{Keepers: c.Keepers, Shares: len(c.Keepers), Threshold: threshold, Self: "spiffe://spike.test/spike/nexus"},
		Deps{Log: log, Commit: commit.NewLocal(log), Keepers: kc, Logger: c.Logger(), OnUnseal: func(context.Context, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	req := c.contributeNewKey(t, threshold)
	if _, err := cu.VerifyBootstrap(ctx, "spiffe://spike.test/spike/bootstrap", req); err != nil {
		t.Fatalf("bootstrap verification: %v", err)
	}
}
