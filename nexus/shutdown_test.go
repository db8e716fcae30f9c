package nexus

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// TestSubmitEndsWithTheLoop: a command submitted after the loop stopped,
// or queued when it stops, is answered 503 instead of waiting forever.
func TestSubmitEndsWithTheLoop(t *testing.T) {
	t.Parallel()
	s := &Service{cmds: make(chan *command, 8), stopped: make(chan struct{}), applier: newApplier(nil, slog.New(slog.DiscardHandler)), queued: make(chan queuedReads, 1), metrics: newMetrics(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	release := make(chan struct{})
	loopDone := make(chan struct{})
	go func() { s.Run(ctx); close(loopDone) }()

	// The first command holds the loop in its build step while a second
	// one queues behind it; then the loop's context ends.
	first := make(chan transport.Response, 1)
	go func() {
		first <- s.submit(&command{ctx: context.Background(), key: "a", reply: make(chan transport.Response, 1),
			build: func(context.Context) outcome {
				close(running)
				<-release
				return answerNow(transport.Response{})
			}})
	}()
	<-running
	second := make(chan transport.Response, 1)
	go func() {
		second <- s.submit(&command{ctx: context.Background(), key: "b", reply: make(chan transport.Response, 1),
			build: func(context.Context) outcome { return answerNow(transport.Response{}) }})
	}()
	cancel()
	close(release)
	wait := func(name string, ch <-chan transport.Response) transport.Response {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: submit still waiting 30 s after the loop stopped", name)
		}
		return transport.Response{}
	}
	if r := wait("first", first); r.Status != 0 {
		t.Errorf("the command being built = %d, want its own answer", r.Status)
	}
	if r := wait("second", second); r.Status != 0 && r.Status != http.StatusServiceUnavailable {
		t.Errorf("the queued command = %d, want its answer or 503", r.Status)
	}
	<-loopDone
	third := make(chan transport.Response, 1)
	go func() {
		third <- s.submit(&command{ctx: context.Background(), key: "c", reply: make(chan transport.Response, 1),
			build: func(context.Context) outcome { return answerNow(transport.Response{}) }})
	}()
	if r := wait("after stop", third); r.Status != http.StatusServiceUnavailable {
		t.Errorf("after the loop stopped = %d, want 503", r.Status)
	}

	// A caller whose context ends stops waiting too.
	s2 := &Service{cmds: make(chan *command, 8), stopped: make(chan struct{}), metrics: newMetrics(nil)}
	cctx, ccancel := context.WithCancel(context.Background())
	fourth := make(chan transport.Response, 1)
	go func() {
		fourth <- s2.submit(&command{ctx: cctx, key: "d", reply: make(chan transport.Response, 1)})
	}()
	ccancel()
	if r := wait("cancelled caller", fourth); r.Status != http.StatusServiceUnavailable {
		t.Errorf("cancelled caller = %d, want 503", r.Status)
	}
}

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
func busyCaller(ctx context.Context, c *cluster, t *testing.T, n *nexusProc, w int) {
	cl := c.client(superuser, c.roles.IsNexus)
	rec := c.client("/spike/pilot/role/recover", c.roles.IsNexus)
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
