package nexus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// TestStopWhileBusy stops Nexus again and again while every kind of work
// is in flight: puts, audited gets, deletes, policy changes, restores,
// operator recover, and the background jobs (retention every 50 ms,
// keeper health, shard distribution). Each stop must finish; a stop that
// hangs is reported after a minute, with whatever was still running.
func TestStopWhileBusy(t *testing.T) {
	t.Parallel()
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	c := newCluster(t, 3)
	cc := CustodyConfig{Threshold: 2, HealthInterval: 20 * time.Millisecond, KeeperUpdateInterval: 30 * time.Millisecond}
	n := c.startNexusWith(cc)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	// Many paths with a delete-after keep the retention job submitting
	// to the command loop nearly all the time.
	after := "1ms"
	for i := range 40 {
		req := api.SecretSettingsPutRequest{Path: fmt.Sprintf("busy/%d", i), DeleteVersionAfter: &after}
		if err := c.call(t, n, superuser, api.OpSecretSettingsPut, req, nil); err != nil {
			t.Fatal(err)
		}
	}
	for round := range rounds {
		ctx, stopLoad := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() { busyCaller(ctx, c, t, n, w) })
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		stopped := make(chan struct{})
		go func() { n.stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(time.Minute):
			stopLoad()
			buf := make([]byte, 1<<20)
			t.Errorf("round %d: Nexus did not stop within a minute; goroutines:\n%s", round, buf[:runtime.Stack(buf, true)])
			// Not t.FailNow: the cleanup would wait on the same hung stop.
			panic("Nexus shutdown hung")
		}
		stopLoad()
		wg.Wait()
		n = c.startNexusWith(cc)
		waitReady(t, n, true)
	}
}

// busyCaller sends one kind of request (by w) until ctx ends, ignoring
// the answers: only that they end matters here.
func busyCaller(ctx context.Context, c *keeperSet, t *testing.T, n *nexusProc, w int) {
	cl := c.Client(superuser, c.Roles.IsNexus)
	rec := c.Client("/spike/pilot/role/recover", c.Roles.IsNexus)
	for i := 0; ctx.Err() == nil; i++ {
		path := fmt.Sprintf("busy/%d", i%4)
		var call transport.Call
		switch w {
		case 0:
			call = transport.Call{Path: api.PathSecrets, Request: api.SecretPutRequest{Path: path, Values: map[string]string{"k": "v"}}}
		case 1:
			call = transport.Call{Path: api.PathSecrets, Action: "get", Request: api.SecretGetRequest{Path: path}}
		case 2:
			call = transport.Call{Path: api.PathSecrets, Action: "delete", Request: api.SecretDeleteRequest{Path: path}}
		case 3:
			call = transport.Call{Path: api.PathPolicy, Request: api.PolicyPutRequest{Name: fmt.Sprintf("p%d", i%3), SPIFFEIDPattern: "^spiffe://spike.test/workload/x$", PathPattern: "^busy/.*$", Permissions: []api.Permission{api.PermRead}}}
		case 4:
			call = transport.Call{Path: api.PathRestorePoints, Request: api.RestorePointApplyRequest{AsOfSeq: 1}}
		case 5:
			call = transport.Call{Path: api.PathOperatorRecover, Request: struct{}{}}
			call.BaseURL = n.api
			rec.Do(ctx, call)
			continue
		}
		call.BaseURL = n.api
		cl.Do(ctx, call)
	}
}
