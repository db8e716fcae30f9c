package service

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// TestNoAnswerBeforeDurable stalls the log's sync under each kind of
// request, a write, an audited read, a denied read and a refused write,
// and checks that no answer leaves while its event is not on disk, and
// that the event is there (and in the history) once it is.
func TestNoAnswerBeforeDurable(t *testing.T) {
	t.Parallel()
	stranger := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/stranger")
	for _, tc := range []struct {
		name   string
		peer   spiffeid.ID
		op     api.Op
		req    any
		status int
		typ    string
	}{
		{"put", testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/new", Values: map[string]string{"k": "v"}}, http.StatusOK, "secret.version.written"},
		{"get", testSuperuser, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}, http.StatusOK, "secret.read"},
		{"denied get", stranger, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}, http.StatusUnauthorized, "access.denied"},
		{"refused put", testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"k": "v"}, CAS: new(int(7))}, http.StatusConflict, "request.refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var stall chan struct{}      // closed by the test to let the stalled sync finish
			entered := make(chan int, 1) // the stalled sync began
			opts := eventlog.Options{JournalSync: func(f *os.File) error {
				mu.Lock()
				wait := stall
				stall = nil
				mu.Unlock()
				if wait != nil {
					entered <- 1
					<-wait
				}
				return f.Sync()
			}}
			s := newTestServiceWith(t, 0, opts)
			s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"k": "v"}})
			ctx := context.Background()
			before := s.log.Size()

			release := make(chan struct{})
			var releaseOnce sync.Once
			unstall := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(unstall) // a failed check must not leave the loop stalled
			mu.Lock()
			stall = release
			mu.Unlock()
			answered := make(chan transport.Response, 1)
			go func() { answered <- s.serveAs(t, tc.peer, tc.op, tc.req) }()
			select {
			case <-entered:
			case r := <-answered:
				t.Fatalf("answered %d without syncing the log", r.Status)
			}
			// The event is written and its sync stalled: whatever the loop
			// does meanwhile, it must not answer.
			select {
			case r := <-answered:
				t.Fatalf("answered %d while its event's sync was stalled", r.Status)
			case <-time.After(100 * time.Millisecond):
			}
			if got := s.log.Size(); got != before {
				t.Fatalf("log size %d published before the sync (was %d)", got, before)
			}
			unstall()
			r := <-answered
			if status := max(r.Status, http.StatusOK); status != tc.status {
				t.Fatalf("answer %d %+v, want %d", r.Status, r.Body, tc.status)
			}
			if s.log.Size() != before+1 {
				t.Fatalf("log size %d after the answer, want %d", s.log.Size(), before+1)
			}
			rec, err := s.log.Get(ctx, before+1)
			if err != nil || rec.Type != tc.typ {
				t.Fatalf("event %d: %+v, %v; want %s", before+1, rec.Type, err, tc.typ)
			}
			// And audit queries see it, however briefly it is held.
			h, _ := s.mustServe(t, api.OpAuditList, api.AuditListRequest{Page: api.Page{After: before}}).Body.(api.AuditListResponse)
			if len(h.Events) == 0 || h.Events[0].Seq != before+1 || h.Events[0].Type != tc.typ {
				t.Fatalf("audit list after the answer: %+v", h.Events)
			}
		})
	}
}
