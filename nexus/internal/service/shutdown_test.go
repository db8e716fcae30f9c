package service

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

// TestSubmitEndsWithTheLoop: a command submitted after the loop stopped,
// or queued when it stops, is answered 503 instead of waiting forever.
func TestSubmitEndsWithTheLoop(t *testing.T) {
	t.Parallel()
	log, root := openTestLog(t, eventlog.Options{})
	s := newIdleService(t, log, commit.NewLocal(log), root, 0)
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
	s2 := newIdleService(t, log, commit.NewLocal(log), root, 0) // no loop runs: it waits for the first
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
