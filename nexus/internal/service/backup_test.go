package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

// TestBackupOneAtATime: while a backup's stream is pending, a second is
// refused as busy work is (429, api_busy, reason busy: api/errors.go), and
// the slot comes back once the first stream has run, even when its caller
// was gone before it started.
func TestBackupOneAtATime(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 4)
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	if r := s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "app/x", Values: map[string]string{"v": "1"}}); !succeeded(r) {
		t.Fatalf("put: %+v", r)
	}
	first := s.serveAs(t, su, api.OpOperatorBackup, api.BackupRequest{})
	if first.Stream == nil {
		t.Fatalf("first backup: %+v, want a stream", first)
	}
	ran := false
	t.Cleanup(func() {
		// A pending copy holds a read transaction, which the log's
		// Close waits for.
		if !ran {
			gone, cancel := context.WithCancel(context.Background())
			cancel()
			first.Stream(gone, io.Discard)
		}
	})
	second := s.serveAs(t, su, api.OpOperatorBackup, api.BackupRequest{})
	p, ok := second.Body.(api.Problem)
	if second.Stream != nil || second.Status != http.StatusTooManyRequests || !ok || p.Err != api.CodeBusy || p.Reason != api.ReasonBusy {
		t.Fatalf("second backup while the first runs: status %d, body %+v; want 429 %s (%s)", second.Status, second.Body, api.CodeBusy, api.ReasonBusy)
	}
	if p.Err.Status() != second.Status {
		t.Fatalf("status %d does not match its code %s (%d)", second.Status, p.Err, p.Err.Status())
	}
	var file bytes.Buffer
	ran = true
	if err := first.Stream(context.Background(), &file); err != nil {
		t.Fatal(err)
	}
	br, err := api.NewBackupReader(&file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("the first backup: %v", err)
	}

	// A caller gone before its stream starts: the stream runs with its
	// context done, and gives the slot back.
	third := s.serveAs(t, su, api.OpOperatorBackup, api.BackupRequest{})
	if third.Stream == nil {
		t.Fatalf("backup after the first ended: %+v, want a stream", third)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := third.Stream(gone, io.Discard); err == nil {
		t.Fatal("a stream whose caller is gone succeeded")
	}
	if r := s.serveAs(t, su, api.OpOperatorBackup, api.BackupRequest{}); r.Stream == nil {
		t.Fatalf("backup after a cancelled one: %+v, want a stream", r)
	} else if err := r.Stream(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
}

// soloReplica is a one-replica Replicator: while it leads it applies each
// change to its log at once, and once it no longer leads it refuses as a
// Raft node does.
type soloReplica struct {
	log     *eventlog.Log
	index   atomic.Uint64
	stepped atomic.Bool
}

func (r *soloReplica) Replicate(ctx context.Context, change []byte) error {
	if r.stepped.Load() {
		return commit.ErrNotLeader
	}
	return r.log.ApplyChange(r.index.Add(1), change)
}

// TestBackupOnReplicaNotLeading: a replica that takes a backup request
// but does not lead (one forwarded to it by a follower just as it lost
// the lead) says so as every command does there, 503 not_leader: nothing
// was done and the caller may retry; not a 500.
func TestBackupOnReplicaNotLeading(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rep := &soloReplica{}
	log, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), "events.db"), eventlog.Options{ID: bytes.Repeat([]byte{7}, 16), Replicator: rep, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	rep.log = log
	root := bytes.Repeat([]byte{9}, 32)
	if err := log.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	s := startTestService(t, log, commit.NewLocal(log), root, 4)
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	if r := s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "app/x", Values: map[string]string{"v": "1"}}); !succeeded(r) {
		t.Fatalf("put: %+v", r)
	}
	rep.stepped.Store(true)
	r := s.serveAs(t, su, api.OpOperatorBackup, api.BackupRequest{})
	if r.Stream != nil {
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		r.Stream(gone, io.Discard)
		t.Fatal("a replica that does not lead streamed a backup")
	}
	p, ok := r.Body.(api.Problem)
	if r.Status != http.StatusServiceUnavailable || !ok || p.Err != api.CodeNotReady || p.Reason != api.ReasonNotLeader {
		t.Fatalf("backup on a replica that does not lead: status %d, body %+v; want 503 %s (%s)", r.Status, r.Body, api.CodeNotReady, api.ReasonNotLeader)
	}
	// Leading again, it takes the backup.
	rep.stepped.Store(false)
	if r := s.serveAs(t, su, api.OpOperatorBackup, api.BackupRequest{}); r.Stream == nil {
		t.Fatalf("backup once leading again: %+v, want a stream", r)
	} else if err := r.Stream(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
}
