//go:build linux

package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/test/e2e/system"
)

var (
	coldEvents  = flag.Int("cold-events", 1_000_000, "TestColdStart: events in the log before the restart")
	coldSecrets = flag.Int("cold-secrets", 100_000, "TestColdStart: secrets written before the reads that fill the log")
)

// coldCallers is how many callers fill the log.
const coldCallers = 64

// TestColdStart measures what a restart costs a Nexus with a big log:
// from the new process's start to its first successful get, with the
// projection intact and then deleted (a full rebuild), and its memory.
func TestColdStart(t *testing.T) {
	dep := deploy(t)
	if *coldSecrets < 1 || *coldEvents < *coldSecrets {
		t.Fatalf("-cold-secrets %d, -cold-events %d: want 1 ≤ secrets ≤ events", *coldSecrets, *coldEvents)
	}
	cl := superuser(t, dep.su, dep.d.NexusURL())
	defer cl.Close()
	ctx := t.Context()
	paths := make([]string, *coldSecrets)
	for i := range paths {
		paths[i] = fmt.Sprintf("cold/s%06d", i)
	}
	value := map[string]string{"k": strings.Repeat("v", 100)}

	begin := time.Now()
	var next atomic.Int64
	parallel(t, func(int) error {
		for i := next.Add(1) - 1; i < int64(len(paths)); i = next.Add(1) - 1 {
			if err := cl.do(ctx, api.OpSecretPut, api.SecretPutRequest{Path: paths[i], Values: value}, &api.SecretPutResponse{}); err != nil {
				return fmt.Errorf("put %s: %w", paths[i], err)
			}
		}
		return nil
	})
	t.Logf("%d secrets written in %v", len(paths), time.Since(begin).Round(time.Millisecond))
	events := cl.logEvents(t)
	begin = time.Now()
	for events < uint64(*coldEvents) {
		// Reads to fill the log; each is one secret.read event.
		todo := int64(uint64(*coldEvents) - events)
		var done atomic.Int64
		parallel(t, func(w int) error {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(events)))
			for done.Add(1) <= todo {
				p := paths[rng.IntN(len(paths))]
				if err := cl.do(ctx, api.OpSecretGet, api.SecretGetRequest{Path: p}, &api.SecretGetResponse{}); err != nil {
					return fmt.Errorf("get %s: %w", p, err)
				}
			}
			return nil
		})
		events = cl.logEvents(t)
	}
	t.Logf("log filled to %d events by reads in %v", events, time.Since(begin).Round(time.Millisecond))

	// Intact projection: a clean stop, then a start.
	dep.d.Nexus().Stop(t)
	took := coldStart(t, dep, cl, paths[0])
	pid := dep.d.Nexus().Pid()
	t.Logf("BENCH cold start, intact projection, %d events, %d secrets: first get %v after the process started; %s",
		events, len(paths), took.Round(time.Millisecond), memory(pid))
	// Memory once every secret has been read since the start.
	next.Store(0)
	parallel(t, func(int) error {
		for i := next.Add(1) - 1; i < int64(len(paths)); i = next.Add(1) - 1 {
			if err := cl.do(ctx, api.OpSecretGet, api.SecretGetRequest{Path: paths[i]}, &api.SecretGetResponse{}); err != nil {
				return fmt.Errorf("get %s: %w", paths[i], err)
			}
		}
		return nil
	})
	t.Logf("BENCH resident memory with %d secrets, after reading each once: %s", len(paths), memory(pid))
	for _, f := range []string{"events.db", "projections.db"} {
		var size int64
		files, _ := filepath.Glob(filepath.Join(dep.d.DataDir(), f+"*")) // with SQLite's -wal and -shm
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				size += fi.Size()
			}
		}
		t.Logf("BENCH %s: %d MiB on disk", f, size>>20)
	}

	// Deleted projection: the start rebuilds it from the whole log.
	events = cl.logEvents(t)
	dep.d.Nexus().Stop(t)
	matches, err := filepath.Glob(filepath.Join(dep.d.DataDir(), "projections.db*"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no projections.db in %s: %v", dep.d.DataDir(), err)
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil {
			t.Fatal(err)
		}
	}
	took = coldStart(t, dep, cl, paths[0])
	t.Logf("BENCH cold start, projection deleted, %d events: first get %v after the process started (%.0f events/s including start and unseal); %s",
		events, took.Round(time.Millisecond), float64(events)/took.Seconds(), memory(dep.d.Nexus().Pid()))
}

// coldStart starts Nexus and returns the time from just before its
// process started to its first successful get of path.
func coldStart(t *testing.T, dep deployment, cl *client, path string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	got := make(chan time.Time, 1)
	begin := time.Now()
	go func() {
		for ctx.Err() == nil {
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			err := cl.do(actx, api.OpSecretGet, api.SecretGetRequest{Path: path}, &api.SecretGetResponse{})
			acancel()
			if err == nil {
				got <- time.Now()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	dep.d.StartNexus(t)
	select {
	case at := <-got:
		return at.Sub(begin)
	case <-ctx.Done():
		t.Fatalf("no successful get within 5 minutes of the start; nexus log:\n%s", system.Tail(dep.d.NexusLog()))
	}
	return 0
}

// client is the superuser calling Nexus through spike's transport.
type client struct {
	*transport.Client
	src identity.Source
	url string
}

// superuser returns a client for the Nexus at url, which keeps its
// address across restarts.
func superuser(t *testing.T, svidDir, url string) *client {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	src, err := identity.OpenSource(t.Context(), "", svidDir, 10*time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	nexus := spiffeid.RequireFromPath(spiffeid.RequireTrustDomainFromString(system.TrustDomain), identity.PathNexus)
	tc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(nexus),
		Retries: -1, Logger: logger, MaxConnsPerHost: coldCallers, MaxIdleConns: coldCallers})
	if err != nil {
		src.Close()
		t.Fatal(err)
	}
	return &client{Client: tc, src: src, url: url}
}

func (c *client) Close() {
	c.Client.Close()
	c.src.Close()
}

func (c *client) do(ctx context.Context, op api.Op, req, resp any) error {
	return c.Do(ctx, transport.Call{BaseURL: c.url, Path: op.Path(), Action: string(op.Action()), Request: req, Response: resp})
}

// logEvents asks Nexus how many events its log holds.
func (c *client) logEvents(t *testing.T) uint64 {
	t.Helper()
	var st api.SystemStatusResponse
	if err := c.do(t.Context(), api.OpSystemStatus, api.SystemStatusRequest{}, &st); err != nil {
		t.Fatalf("system status: %v", err)
	}
	return st.LogEvents
}

// parallel runs f on coldCallers goroutines and fails t with the first
// error.
func parallel(t *testing.T, f func(worker int) error) {
	t.Helper()
	errs := make([]error, coldCallers)
	var wg sync.WaitGroup
	for w := range coldCallers {
		wg.Go(func() { errs[w] = f(w) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// memory describes a process's resident memory: all of it, the part
// that is the process's own (anonymous: heap, stacks) and the part that
// is files mapped into it (bbolt maps its whole file; those pages are
// the page cache's, shared and reclaimable), and the peak.
func memory(pid int) string {
	var v [4]int64
	for i, f := range []string{"VmRSS", "RssAnon", "RssFile", "VmHWM"} {
		v[i], _ = statusKB(pid, f)
	}
	return fmt.Sprintf("RSS %d MiB (anonymous %d MiB, mapped files %d MiB), peak %d MiB", v[0]>>10, v[1]>>10, v[2]>>10, v[3]>>10)
}

// statusKB reads a "Name: N kB" field of /proc/<pid>/status, in KiB.
func statusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
