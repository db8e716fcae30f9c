package nexus

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
)

// TestSystemStatus follows one Nexus from its first start to a keeper
// outage: status is answered while sealed, says why, and then shows the
// keepers, the log and its checkpoint as they change.
func TestSystemStatus(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexusWith(CustodyConfig{Threshold: 2, HealthInterval: 20 * time.Millisecond})
	status := func(who string) (api.SystemStatusResponse, error) {
		var s api.SystemStatusResponse
		err := c.call(t, n, who, api.OpSystemStatus, api.SystemStatusRequest{}, &s)
		return s, err
	}
	must := func(s api.SystemStatusResponse, err error) api.SystemStatusResponse {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const node = "spiffe://" + td + "/spike/nexus"

	// Sealed, before bootstrap: answered, while every other route is 503.
	if err := c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{}, nil); status4xx(err) != http.StatusServiceUnavailable {
		t.Fatalf("audit list while sealed: %v", err)
	}
	var s api.SystemStatusResponse
	waitFor(t, func() bool {
		s = must(status(auditor))
		return s.KeepersReachable == 3 && strings.Contains(s.Reason, "not bootstrapped")
	})
	if s.State != api.SystemSealed || s.Bootstrapped || s.UnsealedAt != nil || s.Node != node || s.Leader != node ||
		s.Shares != 3 || s.Threshold != 2 || s.LogEvents != 0 || s.LogBytes <= 0 || s.Checkpoint != nil || len(s.Keepers) != 3 {
		t.Fatalf("sealed status = %+v", s)
	}
	for i, k := range s.Keepers {
		// Before bootstrap a keeper answers recovery's shard request
		// with 400, as SPIKE's do: it is up, and empty. The health
		// probe in between finds it up, and says no more.
		if k.URL != c.Keepers[i] || !k.Reachable || k.LastSeen == nil || k.LastChecked == nil || k.Error != "" && !strings.HasPrefix(k.Error, "holds no shard yet: ") {
			t.Errorf("keeper %d = %+v", i, k)
		}
	}

	// Only the superuser and the auditor may ask.
	for _, who := range []string{"/spike/pilot/role/operator", "/spike/pilot/role/admin", "/spike/bootstrap", "/workload/app", "/spike/pilot/role/superuser-evil"} {
		if _, err := status(who); status4xx(err) != http.StatusUnauthorized {
			t.Errorf("status as %s: %v, want 401", who, err)
		}
	}
	if err := c.call(t, n, auditor, api.OpSystemStatus, "{}", nil); status4xx(err) != http.StatusBadRequest {
		t.Errorf("status with a string for a body: %v, want 400", err)
	}

	// Ready: unsealed at a time, bootstrapped, and soon a checkpoint.
	before := time.Now().Add(-time.Second)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	waitFor(t, func() bool {
		s = must(status(superuser))
		return s.Checkpoint != nil
	})
	for i, k := range s.Keepers {
		if !k.Reachable || k.Error != "" {
			t.Errorf("keeper %d once ready = %+v", i, k)
		}
	}
	if s.State != api.SystemReady || s.Reason != "" || !s.Bootstrapped || s.UnsealedAt == nil || s.UnsealedAt.Before(before) ||
		s.Shares != 3 || s.Threshold != 2 || s.LogEvents == 0 || s.Checkpoint.Size == 0 || s.Checkpoint.Size > s.LogEvents ||
		s.Checkpoint.Time.Before(before) || s.Checkpoint.Time.After(time.Now()) {
		t.Fatalf("ready status = %+v, checkpoint %+v", s, s.Checkpoint)
	}

	// A keeper stops: the next probe shows it, with what went wrong.
	c.StopKeeper(3)
	waitFor(t, func() bool {
		s = must(status(auditor))
		return s.KeepersReachable == 2
	})
	k := s.Keepers[2]
	if k.Reachable || k.Error == "" || strings.Contains(k.Error, "no shard") || k.LastSeen == nil || k.LastChecked == nil || !k.LastChecked.After(*k.LastSeen) || s.State != api.SystemReady {
		t.Fatalf("stopped keeper = %+v in %+v", k, s)
	}
}

// TestSawKeeper: what counts as reaching a keeper.
