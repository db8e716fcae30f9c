package nexus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// TestKeeperBackFromAnOutageIsRefilled: a keeper that was seen down and
// comes back empty (restarted) gets its shard from Nexus at once, not at
// the next distribution (an hour here).
func TestKeeperBackFromAnOutageIsRefilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexusWith(CustodyConfig{Threshold: 2, HealthInterval: 50 * time.Millisecond})
	key := c.bootstrap(n, 2)
	waitReady(t, n, true)
	shares, _, err := shamir.Split(&key, shamir.Params{Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.StopKeeper(3)
	waitLog(t, c, "keeper unreachable")
	c.RestartKeeper(3)
	waitLog(t, c, "shard refilled")
	var resp api.ShardGetResponse
	if err := c.Client("/spike/nexus", c.Roles.IsKeeper).Do(context.Background(), transport.Call{BaseURL: c.Keepers[2], Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp}); err != nil {
		t.Fatalf("restarted keeper 3: %v", err)
	}
	if resp.Shard == nil || [32]byte(*resp.Shard) != shares[2].Value {
		t.Fatal("restarted keeper 3 does not hold its shard after the refill")
	}
}

// waitLog waits, at most 10 s, for the cluster's logs to hold want.
func waitLog(t *testing.T, c *keeperSet, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(c.Logs.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the logs never said %q:\n%s", want, c.Logs.String())
		}
	}
}
