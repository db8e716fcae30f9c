package service

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

var (
	testAuditor  = spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotAuditor)
	testOperator = spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotOperator)
	testWorkload = spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/app")
)

// tail is an audit tail opened on a service directly: its lines arrive
// on lines, and it ends when the test does or stop is called.
type tail struct {
	lines chan api.AuditTailLine
	stop  context.CancelFunc
	done  chan error // the stream's result
	r     *io.PipeReader
}

// openTail opens a tail as peer; it fails the test unless the answer is a
// stream. paused leaves the stream unread (a slow follower).
func openTail(t *testing.T, s *Service, peer spiffeid.ID, req api.AuditTailRequest, paused bool) *tail {
	t.Helper()
	resp := s.serveAs(t, peer, api.OpAuditTail, req)
	if resp.Stream == nil {
		t.Fatalf("audit tail: status %d %+v, want a stream", resp.Status, resp.Body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	tl := &tail{lines: make(chan api.AuditTailLine, 1024), stop: cancel, done: make(chan error, 1), r: r}
	go func() {
		err := resp.Stream(ctx, w)
		w.CloseWithError(io.EOF)
		tl.done <- err
	}()
	t.Cleanup(func() { cancel(); r.Close(); <-tl.done })
	if !paused {
		go func() {
			defer close(tl.lines)
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				var l api.AuditTailLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					panic(fmt.Sprintf("line %q: %v", sc.Bytes(), err))
				}
				tl.lines <- l
			}
		}()
	}
	return tl
}

// events reads lines until it has n events, skipping heartbeats.
func (tl *tail) events(t *testing.T, n int) []api.AuditEvent {
	t.Helper()
	var evs []api.AuditEvent
	timeout := time.After(30 * time.Second)
	for len(evs) < n {
		select {
		case l, ok := <-tl.lines:
			if !ok {
				t.Fatalf("stream ended after %d events", len(evs))
			}
			if l.Err != "" {
				t.Fatalf("stream error line %+v", l)
			}
			if l.Event != nil {
				if l.Next != l.Event.Seq+1 {
					t.Fatalf("event %d has next %d", l.Event.Seq, l.Next)
				}
				evs = append(evs, *l.Event)
			}
		case <-timeout:
			t.Fatalf("only %d of %d events arrived", len(evs), n)
		}
	}
	return evs
}

func put(t *testing.T, s *Service, path string) {
	t.Helper()
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"k": "v"}})
}

// TestAuditTailSeam: a tail that starts in the past catches up and then
// follows, while writes go on, with every event exactly once and in order.
func TestAuditTailSeam(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 0)
	for i := range 300 {
		put(t, s, fmt.Sprintf("app/%d", i%7))
	}
	tl := openTail(t, s, testAuditor, api.AuditTailRequest{From: 1}, false)
	const more = 300
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := range more {
			s.serveAs(t, testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: fmt.Sprintf("app/%d", i%5), Values: map[string]string{"k": "v"}})
		}
	}()
	<-writing
	total := int(s.log.Size())
	evs := tl.events(t, total)
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: a gap or a duplicate", i, e.Seq)
		}
	}
}

func TestAuditTail(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 0)
	s.heartbeat = 20 * time.Millisecond
	put(t, s, "app/db")
	put(t, s, "other/x")

	t.Run("filters", func(t *testing.T) {
		t.Parallel()
		tl := openTail(t, s, testAuditor, api.AuditTailRequest{PathPrefix: "app/", Types: []string{"secret.read"}}, false)
		s.mustServe(t, api.OpSecretGet, api.SecretGetRequest{Path: "other/x"})
		s.mustServe(t, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"})
		ev := tl.events(t, 1)[0]
		if ev.Type != "secret.read" || ev.Path != "app/db" || ev.Actor != testSuperuser.String() || ev.Outcome != "ok" {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		t.Parallel()
		tl := openTail(t, s, testAuditor, api.AuditTailRequest{Types: []string{"policy.put"}}, false)
		first := <-tl.lines
		if first.Event != nil || first.Err != "" || first.Next == 0 {
			t.Fatalf("first line %+v, want a heartbeat", first)
		}
		select {
		case l := <-tl.lines:
			if l.Event != nil || l.Err != "" || l.Next < first.Next {
				t.Fatalf("line %+v, want a heartbeat", l)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no heartbeat")
		}
	})
	t.Run("since", func(t *testing.T) {
		t.Parallel()
		since := time.Now()
		time.Sleep(time.Millisecond)
		put(t, s, "app/since")
		tl := openTail(t, s, testAuditor, api.AuditTailRequest{Since: &since, Path: "app/since"}, false)
		ev := tl.events(t, 1)[0]
		if ev.Path != "app/since" || ev.Time.Before(since) {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name   string
			peer   spiffeid.ID
			req    api.AuditTailRequest
			status int
		}{
			{"workload", testWorkload, api.AuditTailRequest{}, http.StatusUnauthorized},
			{"operator", testOperator, api.AuditTailRequest{}, http.StatusUnauthorized},
			{"unknown type", testAuditor, api.AuditTailRequest{Types: []string{"secret.reed"}}, http.StatusBadRequest},
			{"from beyond the end", testAuditor, api.AuditTailRequest{From: 1 << 40}, http.StatusBadRequest},
			{"from and since", testAuditor, api.AuditTailRequest{From: 1, Since: &time.Time{}}, http.StatusBadRequest},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := s.serveAs(t, tc.peer, api.OpAuditTail, tc.req)
				if resp.Status != tc.status || resp.Stream != nil {
					t.Fatalf("status %d %+v, want %d", resp.Status, resp.Body, tc.status)
				}
			})
		}
	})
}

// TestAuditTailFollowers: a caller holds at most maxFollowers tails at
// once; the next is refused 429 until one ends.
func TestAuditTailFollowers(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 0)
	s.maxFollowers = 2
	a := openTail(t, s, testAuditor, api.AuditTailRequest{}, false)
	openTail(t, s, testAuditor, api.AuditTailRequest{}, false)
	resp := s.serveAs(t, testAuditor, api.OpAuditTail, api.AuditTailRequest{})
	p, _ := resp.Body.(api.Problem)
	if resp.Status != http.StatusTooManyRequests || p.Err != api.CodeBusy || p.Reason != api.ReasonTooManyFollowers || resp.Stream != nil {
		t.Fatalf("third tail: %d %+v", resp.Status, resp.Body)
	}
	// Another caller is counted apart.
	openTail(t, s, testSuperuser, api.AuditTailRequest{}, false)
	a.stop()
	<-a.done
	a.done <- nil // for the cleanup
	openTail(t, s, testAuditor, api.AuditTailRequest{}, false)
}

// TestAuditTailSlowFollower: a follower that reads nothing holds up no
// write.
func TestAuditTailSlowFollower(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 0)
	openTail(t, s, testAuditor, api.AuditTailRequest{}, true)
	for i := range 2000 { // far more lines than the pipe and the buffer hold
		put(t, s, fmt.Sprintf("app/%d", i%3))
	}
}

// TestAuditTailEnds: when the server ends the stream (shutting down),
// the last line says why and where to pick up.
func TestAuditTailEnds(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 0)
	put(t, s, "app/db")
	tl := openTail(t, s, testAuditor, api.AuditTailRequest{From: 1}, false)
	tl.events(t, 1)
	tl.stop() // what the transport does when the server shuts down
	for l := range tl.lines {
		if l.Err != "" {
			if l.Err != api.CodeNotReady || l.Next != 2 {
				t.Fatalf("last line %+v", l)
			}
			return
		}
	}
	t.Fatal("the stream ended without saying why")
}
