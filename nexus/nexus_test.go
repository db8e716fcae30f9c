package nexus

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
)

// TestNewServeClose: a Nexus made with New serves on listeners it is
// given (the operations one optional), bootstraps and unseals there,
// refuses a second Serve, and once Serve returns has released the log
// (bbolt locks it: a reopen would wait for a Nexus still holding it).
func TestNewServeClose(t *testing.T) {
	t.Parallel()
	for _, withOps := range []bool{true, false} {
		name := map[bool]string{true: "with ops listener", false: "without ops listener"}[withOps]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 3)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := Config{DataDir: c.Dir, RetentionInterval: 50 * time.Millisecond,
				Custody: CustodyConfig{Keepers: c.Keepers, Shares: 3, Threshold: 2, KeeperUpdateInterval: time.Hour, RecoveryMaxInterval: 200 * time.Millisecond}}
			n, err := New(ctx, cfg, c.Source("/spike/nexus"), c.Roles, c.Logger())
			if err != nil {
				t.Fatal(err)
			}
			apiLn := listenLocal(t)
			var opsLn net.Listener
			proc := &nexusProc{api: "https://" + apiLn.Addr().String()}
			if withOps {
				opsLn = listenLocal(t)
				proc.ops = "http://" + opsLn.Addr().String()
			}
			done := make(chan error, 1)
			go func() { done <- n.Serve(ctx, apiLn, opsLn) }()
			c.bootstrap(proc, 2)
			if withOps {
				waitReady(t, proc, true)
			} else {
				waitUnsealed(t, n)
			}
			if err := n.Serve(ctx, listenLocal(t), nil); err == nil {
				t.Error("a second Serve was accepted")
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return within 30 s of its context ending")
			}
			if err := n.Close(); err != nil {
				t.Errorf("Close after Serve: %v", err)
			}
			if withOps {
				if _, err := http.Get(proc.ops + "/healthz"); err == nil {
					t.Error("the operations listener still answers after Serve returned")
				}
			}
			log, err := eventlog.Open(context.Background(), filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger(), LockTimeout: 2 * time.Second})
			if err != nil {
				t.Fatalf("reopen the log after Serve returned: %v", err)
			}
			defer log.Close()
			if log.Size() == 0 {
				t.Error("the log records nothing: the bootstrap was not served")
			}
		})
	}
}

// TestNewFailsClean: a New that fails releases what it opened, so the
// same data directory opens again at once.
func TestNewFailsClean(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	// One keeper for a sharing of two: custody.New refuses it, after the
	// log and the keeper client are open.
	cfg := Config{DataDir: c.Dir, Custody: CustodyConfig{Keepers: c.Keepers, Shares: 2, Threshold: 2}}
	if _, err := New(context.Background(), cfg, c.Source("/spike/nexus"), c.Roles, c.Logger()); err == nil {
		t.Fatal("New accepted two shares for one keeper")
	}
	log, err := eventlog.Open(context.Background(), filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger(), LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("reopen the log after a failed New: %v", err)
	}
	log.Close()
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitUnsealed waits until n's root key is back.
func waitUnsealed(t *testing.T, n *Nexus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sealed, why := n.custody.Sealed()
		if !sealed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still sealed after 20 s: %s", why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
