package nexus

// Regression tests for findings of a security review of custody; each
// failed before its fix.

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Finding: Custody splits with the configured threshold, not the recorded
// one. Changing SPIKE_SHAMIR_THRESHOLD after bootstrap makes Distribute
// send the keepers shards that do not match the recorded commitment: the
// next restart stays sealed ("wrong shard" for every keeper).
func TestThresholdChangeKeepsRecordedSharing(t *testing.T) {
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	n.stop()
	n = c.startNexus(3) // operator changes the threshold
	waitReady(t, n, true)
	time.Sleep(time.Second) // let the post-recovery Distribute run
	n.stop()
	n = c.startNexus(3)
	deadline := time.Now().Add(5 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.ops + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			last = string(b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after a threshold change Nexus cannot recover from its own keepers: %q", last)
}
