package service

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
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
