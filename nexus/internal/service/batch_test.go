package service

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// TestOversizedEventFailsOnlyItsCommand queues, behind a command that
// holds the loop, small writes, an audited read and one write whose event
// is over the log's payload limit, so that one loop step takes them all:
// the oversized write alone is refused (400 too_large), and every other
// command commits.
func TestOversizedEventFailsOnlyItsCommand(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	s := newTestServiceWith(t, 10, eventlog.Options{MaxPayload: limit})
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	if r := s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "batch/read", Values: map[string]string{"k": "v"}}); !succeeded(r) {
		t.Fatalf("first put: %d %+v", r.Status, r.Body)
	}

	release := make(chan struct{})
	held := make(chan struct{})
	go s.read(context.Background(), "\x00hold", func(context.Context) outcome {
		close(held)
		<-release
		return answerNow(transport.Response{Status: http.StatusOK})
	})
	<-held

	type call struct {
		op  api.Op
		req any
	}
	calls := []call{{api.OpSecretPut, api.SecretPutRequest{Path: "batch/huge", Values: map[string]string{"k": strings.Repeat("x", 2*limit)}}}}
	for i := range 6 {
		calls = append(calls, call{api.OpSecretPut, api.SecretPutRequest{Path: fmt.Sprintf("batch/small-%d", i), Values: map[string]string{"k": "v"}}})
	}
	calls = append(calls, call{api.OpSecretGet, api.SecretGetRequest{Path: "batch/read"}})
	answers := make([]transport.Response, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() { answers[i] = s.serveAs(t, su, c.op, c.req) })
	}
	for s.QueueDepth() < len(calls) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()

	if p, ok := answers[0].Body.(api.Problem); answers[0].Status != http.StatusBadRequest || !ok || p.Reason != api.ReasonTooLarge {
		t.Errorf("oversized put: %d %+v, want 400 too_large", answers[0].Status, answers[0].Body)
	}
	for i, a := range answers[1:] {
		if !succeeded(a) {
			t.Errorf("%s %+v beside the oversized put: %d %+v, want 200", calls[i+1].op, calls[i+1].req, a.Status, a.Body)
		}
	}
	if _, err := s.proj.Secret(context.Background(), "batch/huge", 0); !isNotFound(err) {
		t.Errorf("the refused put stored something: %v", err)
	}
	for i := range 6 {
		if _, err := s.proj.Secret(context.Background(), fmt.Sprintf("batch/small-%d", i), 0); err != nil {
			t.Errorf("small put %d: %v", i, err)
		}
	}
	// The path refused stays writable: its write state was forgotten.
	if r := s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "batch/huge", Values: map[string]string{"k": "fits"}}); !succeeded(r) {
		t.Errorf("put after the refusal: %d %+v", r.Status, r.Body)
	}
}

func TestPayloadLimitHoldsTheWorstVersion(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, DefaultMaxSecretSize, MaxSecretSizeLimit} {
		if got, max := PayloadLimit(size), eventlog.MaxEnvelopeLen-eventlog.MaxTypeLen-1024; got > max {
			t.Errorf("PayloadLimit(%d) = %d, more than an envelope holds (%d)", size, got, max)
		}
	}
}

// succeeded reports whether r is a success: a handler leaves the status
// 0 for the transport's 200.
func succeeded(r transport.Response) bool { return r.Status == 0 || r.Status == http.StatusOK }
