package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/authz"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/projections"
)

var (
	followWorkload = spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/follow")
	testStranger   = spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/stranger")
)

// call serves req as peer, safe to use from any goroutine.
func (s *Service) call(peer spiffeid.ID, op api.Op, req any) transport.Response {
	body, err := json.Marshal(req)
	if err != nil {
		panic(err) // the tests' own request structs always encode
	}
	return s.routes[op](context.Background(), &transport.Request{ID: "test", Peer: peer, Body: body})
}

// running is a Run or Follow in its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs Run (follow false) or Follow on s until stopped.
func start(s *Service, follow bool) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() {
		if follow {
			r.done <- s.Follow(ctx)
			return
		}
		s.Run(ctx)
		r.done <- nil
	}()
	return r
}

// stop ends it and returns Follow's error, failing t if it does not
// return within 30 s. Later calls return nil.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run or Follow still running 30 s after its context ended")
		return nil
	}
}

// startLeading runs Run on s and waits until it takes commands (a
// command that comes before is answered 503, as between terms).
func startLeading(t *testing.T, s *Service) *running {
	t.Helper()
	r := start(s, false)
	deadline := time.Now().Add(30 * time.Second)
	for s.loop.Load().isStopped() {
		if time.Now().After(deadline) {
			t.Fatal("Run takes no commands 30 s after it started")
		}
		time.Sleep(time.Millisecond)
	}
	return r
}

// waitApplied waits until s's projection holds every event of its log,
// failing t after 30 s.
func waitApplied(t *testing.T, s *Service) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.Lag() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("projection still %d events behind the log after 30 s", s.Lag())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually reports whether cond holds within 10 s.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// newPair returns two services over one log, each with a projection of
// its own: replicas whose logs replication keeps identical, as one.
func newPair(t *testing.T) (a, b *Service, log *eventlog.Log) {
	t.Helper()
	log, root := openTestLog(t, eventlog.Options{})
	return newIdleService(t, log, commit.NewLocal(log), root, 0), newIdleService(t, log, commit.NewLocal(log), root, 0), log
}

// TestFollowAppliesWhatTheLeaderCommits: while A leads, B follows the
// log A writes: secrets, a policy (which B compiles, so it decides as A
// does), audited and denied reads (held, then applied); B appends
// nothing, and its projection equals one rebuilt from the log. When B
// then leads, it serves the workload the policy grants at once.
func TestFollowAppliesWhatTheLeaderCommits(t *testing.T) {
	t.Parallel()
	a, b, log := newPair(t)
	leader := startLeading(t, a)
	defer func() { leader.stop(t) }()
	follower := start(b, true)
	pol := api.PolicyPutRequest{Name: "follow", SPIFFEIDPattern: "^" + followWorkload.String() + "$", PathPattern: "^app/.*$", Permissions: []api.Permission{api.PermRead}}
	steps := []struct {
		peer spiffeid.ID
		op   api.Op
		req  any
		want int
	}{
		{testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "1"}}, http.StatusOK},
		{testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "2"}}, http.StatusOK},
		{testSuperuser, api.OpPolicyPut, pol, http.StatusOK},
		{followWorkload, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}, http.StatusOK},
		{testStranger, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}, http.StatusUnauthorized},
		{testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "3"}}, http.StatusOK},
	}
	for _, st := range steps {
		if r := a.call(st.peer, st.op, st.req); max(r.Status, http.StatusOK) != st.want {
			t.Fatalf("%s as %s on the leader: %d %+v, want %d", st.op, st.peer, r.Status, r.Body, st.want)
		}
		// The follower answers nothing: it does not lead.
		if r := b.call(st.peer, st.op, st.req); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("%s on the follower: %d %+v, want 503", st.op, r.Status, r.Body)
		}
	}
	size := log.Size()
	waitApplied(t, b)
	if got := log.Size(); got != size {
		t.Fatalf("the log grew from %d to %d while B followed: B appended", size, got)
	}
	ctx := context.Background()
	sv, err := b.proj.Secret(ctx, "app/db", 0)
	if err != nil || sv.Version != 3 || sv.Data["v"] != "3" {
		t.Fatalf("follower's app/db: version %d %v, %v; want version 3", sv.Version, sv.Data, err)
	}
	// Policies are recompiled just after the apply that changed them.
	if !eventually(func() bool { return b.authz.Load().Decide(followWorkload, "app/db", api.PermRead) != authz.Denied }) {
		t.Fatal("the follower did not compile the policy the leader wrote")
	}
	for _, typ := range []string{(*events.SecretRead)(nil).Type(), (*events.AccessDenied)(nil).Type()} {
		rows, _, err := b.proj.History(ctx, projections.HistoryQuery{Type: typ})
		if err != nil || len(rows) != 1 {
			t.Fatalf("follower's %s history: %d rows, %v; want 1", typ, len(rows), err)
		}
	}

	// A policy deleted on the leader stops granting on the follower.
	if r := a.call(testSuperuser, api.OpPolicyDelete, api.PolicyDeleteRequest{Name: "follow"}); !succeeded(r) {
		t.Fatalf("policy delete: %d %+v", r.Status, r.Body)
	}
	waitApplied(t, b)
	if !eventually(func() bool { return b.authz.Load().Decide(followWorkload, "app/db", api.PermRead) == authz.Denied }) {
		t.Fatal("the follower still grants a policy the leader deleted")
	}
	if err := follower.stop(t); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	checkRebuildDigest(t, b)

	// Leadership moves to B: A stops, B leads and serves at once,
	// from a projection that holds A's last write.
	if err := leader.stop(t); err != nil {
		t.Fatal(err)
	}
	leader = startLeading(t, b)
	r := b.call(testSuperuser, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"})
	if got, ok := r.Body.(api.SecretGetResponse); !succeeded(r) || !ok || got.Version != 3 {
		t.Fatalf("get on the new leader: %d %+v, want version 3", r.Status, r.Body)
	}
	if r := b.call(testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "4"}}); !succeeded(r) {
		t.Fatalf("put on the new leader: %d %+v", r.Status, r.Body)
	}
	if r := a.call(testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "5"}}); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("put on the old leader: %d %+v, want 503", r.Status, r.Body)
	}
}

// TestFollowTakesBigJumps: the log grows by thousands of events at once
// (a snapshot installed, a follower far behind), appended by another
// writer as the loop would have built them, a policy among them: the
// follower applies them all, in order, and compiles the policy, and its
// projection equals a rebuild.
func TestFollowTakesBigJumps(t *testing.T) {
	t.Parallel()
	log, root := openTestLog(t, eventlog.Options{})
	s := newIdleService(t, log, commit.NewLocal(log), root, 0)
	follower := start(s, true)
	ctx := context.Background()
	r := &transport.Request{ID: "replicated", Peer: testSuperuser}
	denied := func(i int) eventlog.Event {
		return event(r, &events.AccessDenied{Path: fmt.Sprintf("app/%d", i), Action: api.OpSecretGet.String(), Reason: "no policy grants read"})
	}
	const jumps, per = 2, 4500 // each past what a subscription reads at once
	for j := range jumps {
		evs := make([]eventlog.Event, per)
		for i := range evs {
			evs[i] = denied(j*per + i)
		}
		if j == 1 { // in the middle of a jump
			evs[per/2] = event(r, &events.PolicyPut{Name: "jump", SpiffeIDPattern: "^" + followWorkload.String() + "$", PathPattern: "^jump/.*$", Permissions: []string{string(api.PermRead)}})
		}
		if _, err := log.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, s)
	if got := log.Size(); got != jumps*per {
		t.Fatalf("the log holds %d events, want the %d appended: the follower appended", got, jumps*per)
	}
	if !eventually(func() bool { return s.authz.Load().Decide(followWorkload, "jump/x", api.PermRead) != authz.Denied }) {
		t.Fatal("the policy in the middle of a jump is not compiled")
	}
	rows, _, err := s.proj.History(ctx, projections.HistoryQuery{Type: (*events.AccessDenied)(nil).Type(), After: jumps*per - 1})
	if err != nil || len(rows) != 1 || rows[0].Seq != jumps*per {
		t.Fatalf("last denial in the follower's history: %+v, %v; want seq %d", rows, err, jumps*per)
	}
	if err := follower.stop(t); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	checkRebuildDigest(t, s)
}

// notLeader is a committer that, while refusing is set, refuses as a
// replicated one does on a replica that lost the lead, at the step
// given: "check" (Check), "call" (Submit and Commit refuse at once) or
// "wait" (the submission fails as it is waited for).
type notLeader struct {
	commit.Committer
	refusing atomic.Bool
	at       string
}

func (n *notLeader) refuse(at string) error {
	if n.refusing.Load() && n.at == at {
		return fmt.Errorf("raft: %w", commit.ErrNotLeader)
	}
	return nil
}

func (n *notLeader) Check(evs ...eventlog.Event) error {
	if err := n.refuse("check"); err != nil {
		return err
	}
	return n.Committer.Check(evs...)
}

func (n *notLeader) Submit(ctx context.Context, evs ...eventlog.Event) (commit.Pending, error) {
	if err := n.refuse("call"); err != nil {
		return nil, err
	}
	if err := n.refuse("wait"); err != nil {
		return refused{err}, nil
	}
	return n.Committer.Submit(ctx, evs...)
}

func (n *notLeader) Commit(ctx context.Context, evs ...eventlog.Event) ([]eventlog.Record, error) {
	if err := n.refuse("call"); err != nil {
		return nil, err
	}
	if err := n.refuse("wait"); err != nil {
		return nil, err
	}
	return n.Committer.Commit(ctx, evs...)
}

// refused is a submission the leader never committed.
type refused struct{ err error }

func (r refused) Wait() ([]eventlog.Record, error) { return nil, r.err }

// TestNotLeaderAnswers503: a committer that says this replica does not
// lead, wherever it says so, has each command answered 503 not_leader,
// nothing appended or applied, and the loop goes on: once the committer
// takes events again, the same commands succeed.
func TestNotLeaderAnswers503(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"check", "call", "wait"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			log, root := openTestLog(t, eventlog.Options{})
			c := &notLeader{Committer: commit.NewLocal(log), at: at}
			s := startTestService(t, log, c, root, 0)
			s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "1"}})
			waitApplied(t, s)
			size, applied := log.Size(), s.proj.LastApplied()
			c.refusing.Store(true)
			calls := []struct {
				op  api.Op
				req any
			}{
				{api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": "2"}}},
				{api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}},
				{api.OpPolicyPut, api.PolicyPutRequest{Name: "p", SPIFFEIDPattern: "^" + followWorkload.String() + "$", PathPattern: "^app/.*$", Permissions: []api.Permission{api.PermRead}}},
			}
			for _, cl := range calls {
				r := s.call(testSuperuser, cl.op, cl.req)
				p, ok := r.Body.(api.Problem)
				if r.Status != http.StatusServiceUnavailable || !ok || p.Err != api.CodeNotReady || p.Reason != api.ReasonNotLeader {
					t.Errorf("%s while not leading: %d %+v, want 503 %s %s", cl.op, r.Status, r.Body, api.CodeNotReady, api.ReasonNotLeader)
				}
			}
			if err := s.applier.current(context.Background()); err != nil {
				t.Fatal(err)
			}
			if log.Size() != size || s.proj.LastApplied() != applied {
				t.Fatalf("log %d, applied %d after refusals; want %d, %d", log.Size(), s.proj.LastApplied(), size, applied)
			}
			if sv, err := s.proj.Secret(context.Background(), "app/db", 0); err != nil || sv.Version != 1 {
				t.Fatalf("app/db after refusals: version %d, %v; want 1", sv.Version, err)
			}
			if s.Unready() != "" {
				t.Fatalf("not leading made the service unready: %s", s.Unready())
			}
			c.refusing.Store(false)
			for _, cl := range calls {
				if r := s.call(testSuperuser, cl.op, cl.req); !succeeded(r) {
					t.Errorf("%s once leading again: %d %+v", cl.op, r.Status, r.Body)
				}
			}
			if sv, err := s.proj.Secret(context.Background(), "app/db", 0); err != nil || sv.Version != 2 {
				t.Fatalf("app/db after leading again: version %d, %v; want 2", sv.Version, err)
			}
		})
	}
}

// TestNoLoopAnswers503: while no Run runs (between terms, while
// following, after Close) every command is answered 503 at once and
// nothing is appended; a Run after a Follow serves again; after Close,
// Run and Follow return at once.
func TestNoLoopAnswers503(t *testing.T) {
	t.Parallel()
	log, root := openTestLog(t, eventlog.Options{})
	s := newIdleService(t, log, commit.NewLocal(log), root, 0)
	put := func(v string) transport.Response {
		return s.call(testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": v}})
	}
	refused := func(when string, wantRecord error) {
		t.Helper()
		size := log.Size()
		answers := map[string]transport.Response{
			"put":  put("x"),
			"get":  s.call(testSuperuser, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}),
			"deny": s.call(testStranger, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}),
		}
		for name, r := range answers {
			if r.Status != http.StatusServiceUnavailable {
				t.Errorf("%s %s: %d %+v, want 503", name, when, r.Status, r.Body)
			}
		}
		ev := event(&transport.Request{ID: "test", Peer: testSuperuser}, &events.KeeperUnreachable{Keeper: "https://k:1", Error: "down"})
		if err := s.Record(context.Background(), ev); !errors.Is(err, wantRecord) {
			t.Errorf("record %s: %v, want %v", when, err, wantRecord)
		}
		if got := log.Size(); got != size {
			t.Errorf("the log grew %s, from %d to %d", when, size, got)
		}
	}
	leader := startLeading(t, s)
	if r := put("1"); !succeeded(r) {
		t.Fatalf("first put: %d %+v", r.Status, r.Body)
	}
	leader.stop(t)
	refused("between terms", commit.ErrNotLeader)
	follower := start(s, true)
	refused("while following", commit.ErrNotLeader)
	if err := follower.stop(t); err != nil {
		t.Fatal(err)
	}
	leader = startLeading(t, s)
	if r := put("2"); !succeeded(r) {
		t.Fatalf("put in the second term: %d %+v", r.Status, r.Body)
	}
	s.Close()
	select {
	case <-leader.done:
		close(leader.done)
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running 30 s after Close")
	}
	refused("after Close", errNotRecorded)
	for _, follow := range []bool{false, true} {
		r := start(s, follow)
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Follow after Close: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Run or Follow (%v) started after Close still running 30 s later", follow)
		}
		r.cancel()
	}
	if sv, err := s.proj.Secret(context.Background(), "app/db", 0); err != nil || sv.Version != 2 {
		t.Fatalf("app/db: version %d, %v; want 2", sv.Version, err)
	}
}

// TestLeadershipMovesUnderLoad: two replicas over one log (as
// replication keeps theirs) trade the lead several times while clients
// write and read through both. Each client owns a path and writes it
// in sequence, retrying every 503; its audited reads go through either
// replica. Every answer is 200 or 503 (none hangs); a 503 did nothing,
// so each path's version is the count of acknowledged writes; a read
// through the leader sees the last acknowledged write, wherever it was
// made; and at the end both projections equal a rebuild. Run with -race.
func TestLeadershipMovesUnderLoad(t *testing.T) {
	t.Parallel()
	a, b, log := newPair(t)
	replicas := [2]*Service{a, b}
	var lead [2]*running
	lead[0], lead[1] = start(a, false), start(b, true)
	const clients, rounds = 6, 8

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	acked := make([]int, clients)
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			path := fmt.Sprintf("load/%d", c)
			for ctx.Err() == nil {
				s := replicas[rng.IntN(2)]
				if rng.IntN(3) == 0 {
					r := s.call(testSuperuser, api.OpSecretGet, api.SecretGetRequest{Path: path})
					if err := checkRead(r, acked[c]); err != nil {
						errs <- fmt.Errorf("client %d: %w", c, err)
						return
					}
					continue
				}
				v := acked[c] + 1
				r := s.call(testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"v": fmt.Sprint(v)}})
				switch {
				case succeeded(r):
					acked[c] = v
				case r.Status != http.StatusServiceUnavailable:
					errs <- fmt.Errorf("client %d: put of version %d: %d %+v", c, v, r.Status, r.Body)
					return
				}
			}
		})
	}
	leader := 0
	for round := range rounds {
		time.Sleep(20 * time.Millisecond)
		// Like Raft: the old leader stops leading before a new one leads.
		if err := lead[leader].stop(t); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		lead[leader] = start(replicas[leader], true)
		next := 1 - leader
		if err := lead[next].stop(t); err != nil {
			t.Fatalf("round %d: Follow: %v", round, err)
		}
		lead[next] = start(replicas[next], false)
		leader = next
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range lead {
		if err := lead[i].stop(t); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	total := 0
	for _, s := range replicas {
		// A follower stopped while the log was ahead of it stays behind
		// until its next start catches up (see Follow): as here.
		if err := s.catchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitApplied(t, s)
		for c, n := range acked {
			sv, err := s.proj.Secret(context.Background(), fmt.Sprintf("load/%d", c), 0)
			switch {
			case n == 0 && isNotFound(err):
			case err != nil || sv.Version != n || sv.Data["v"] != fmt.Sprint(n):
				t.Errorf("load/%d: version %d %v, %v; want the %d writes acknowledged", c, sv.Version, sv.Data, err, n)
			}
		}
		checkRebuildDigest(t, s)
	}
	for _, n := range acked {
		total += n
	}
	t.Logf("%d writes acknowledged over %d moves of the lead; log holds %d events", total, rounds, log.Size())
	if total == 0 {
		t.Fatal("no write was acknowledged: the test proved nothing")
	}
}

// checkRead checks an audited read of a path whose last acknowledged
// version is want: 503, or that version (404 before the first).
func checkRead(r transport.Response, want int) error {
	switch {
	case r.Status == http.StatusServiceUnavailable:
		return nil
	case want == 0 && r.Status == http.StatusNotFound:
		return nil
	case !succeeded(r):
		return fmt.Errorf("read: %d %+v", r.Status, r.Body)
	}
	got, ok := r.Body.(api.SecretGetResponse)
	if !ok || got.Version != want || got.Data["v"] != fmt.Sprint(want) {
		return fmt.Errorf("read %+v, want version %d", r.Body, want)
	}
	return nil
}

// TestRunCatchesUpFirst: a replica that led, then neither led nor
// followed while another wrote the log (its replication appended past
// it), leads again: before building a command it brings its projection
// to the log's end, forgets what it remembered of each path's state and
// recompiles the policies, so its first read sees the other's write,
// its first write takes the next version (not one the other used), and
// the other's policy decides.
func TestRunCatchesUpFirst(t *testing.T) {
	t.Parallel()
	s, other, _ := newPair(t)
	put := func(s *Service, v string) transport.Response {
		return s.call(testSuperuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"v": v}})
	}
	first := startLeading(t, s)
	if r := put(s, "1"); !succeeded(r) {
		t.Fatalf("put on s: %d %+v", r.Status, r.Body)
	}
	first.stop(t)
	second := startLeading(t, other)
	if r := put(other, "2"); !succeeded(r) {
		t.Fatalf("put on other: %d %+v", r.Status, r.Body)
	}
	pol := api.PolicyPutRequest{Name: "late", SPIFFEIDPattern: "^" + followWorkload.String() + "$", PathPattern: "^app/.*$", Permissions: []api.Permission{api.PermRead}}
	if r := other.call(testSuperuser, api.OpPolicyPut, pol); !succeeded(r) {
		t.Fatalf("policy put on other: %d %+v", r.Status, r.Body)
	}
	second.stop(t)

	third := startLeading(t, s)
	defer third.stop(t)
	r := s.call(followWorkload, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"})
	if got, ok := r.Body.(api.SecretGetResponse); !succeeded(r) || !ok || got.Version != 2 || got.Data["v"] != "2" {
		t.Fatalf("the workload's first read on s: %d %+v, want version 2", r.Status, r.Body)
	}
	r = put(s, "3")
	if got, ok := r.Body.(api.SecretPutResponse); !succeeded(r) || !ok || got.Version != 3 {
		t.Fatalf("first put on s: %d %+v, want version 3", r.Status, r.Body)
	}
	checkRebuildDigest(t, s)
}

// TestNotLeadingNamesOnlyLeadershipRefusals: with no term running, a
// record answered as no term would take it, or refused by the committer
// as not the leader, is "not the leader"; one whose append or apply
// failed is a failure even though the term has ended since, for its
// event may be in the log.
func TestNotLeadingNamesOnlyLeadershipRefusals(t *testing.T) {
	t.Parallel()
	log, root := openTestLog(t, eventlog.Options{})
	s := newIdleService(t, log, commit.NewLocal(log), root, 0)
	leader := startLeading(t, s)
	leader.stop(t)
	for _, c := range []struct {
		name string
		resp transport.Response
		want bool
	}{
		{"term ended", errStopped, true},
		{"committer: not the leader", refuseNotLeader, true},
		{"append or apply failed", errInternal, false},
		{"no space, recorded", refuseNoSpaceRecorded, false},
		{"no space", refuseNoSpace, false},
	} {
		if got := s.notLeading(c.resp); got != c.want {
			t.Errorf("%s: notLeading %v, want %v", c.name, got, c.want)
		}
	}
}
