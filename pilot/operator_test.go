package pilot_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

func TestOperatorRecover(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "recover")
	rec := svidDir(t, devcluster.SVIDRecover)
	runCases(t, []cliCase{
		{name: "recover", who: rec, args: []string{"operator", "recover", "--recovery-dir", dir}, want: "3 recovery shards written to " + dir},
		{name: "recover json", who: rec, args: []string{"-f", "json", "operator", "recover", "--recovery-dir", dir}, golden: "operator-recover"},
		{name: "recover unauthorized", args: []string{"operator", "recover", "--recovery-dir", dir}, code: 1, want: "recover needs the spike/pilot/role/recover identity"},
		{name: "recover extra argument", who: rec, args: []string{"operator", "recover", "x"}, code: 2, want: "unexpected argument"},
	})
	files, err := filepath.Glob(filepath.Join(dir, "spike.recovery.*.txt"))
	if err != nil || len(files) != 3 {
		t.Fatalf("recovery files %v, %v", files, err)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v (want 0600)", f, fi.Mode(), err)
		}
	}
	// A live Nexus holds its key already: restoring it is refused.
	res := svidDir(t, devcluster.SVIDRestore)
	runCases(t, []cliCase{
		{name: "restore unsealed", who: res, args: []string{"operator", "restore", files[0]}, code: 1, want: "Nexus is already unsealed: nothing to restore"},
		{name: "restore unauthorized", args: []string{"operator", "restore", files[0]}, code: 1, want: "restore needs the spike/pilot/role/restore identity"},
		{name: "restore malformed shard", who: res, stdin: "spike:1:nothex", args: []string{"operator", "restore"}, code: 1, want: "recovery shard 1"},
		{name: "restore missing file", who: res, args: []string{"operator", "restore", files[0] + ".none"}, code: 2, want: "no such file"},
	})
}

// sealedNexus is a stand-in for a sealed Nexus: it serves only operator
// restore, for the restore identity, and is restored by its second
// shard.
type sealedNexus struct {
	url     string
	svidDir string // the restore role's SVID files

	mu  sync.Mutex
	ids []int
}

func newSealedNexus(t *testing.T) *sealedNexus {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("spike.ist")
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(path string) *identity.StaticSource {
		svid, err := ca.Issue(spiffeid.RequireFromPath(td, path), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return identity.NewStaticSource(svid, ca.Bundle())
	}
	n := &sealedNexus{svidDir: filepath.Join(t.TempDir(), "restore")}
	client, err := ca.Issue(spiffeid.RequireFromPath(td, identity.PathPilotRestore), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteFiles(n.svidDir, client); err != nil {
		t.Fatal(err)
	}
	restorer := spiffeid.RequireFromPath(td, identity.PathPilotRestore)
	src := issue(identity.PathNexus)
	srv, err := transport.NewServer(transport.ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(),
		Logger: slog.New(slog.DiscardHandler)}, []transport.Route{{
		Path:    api.PathOperatorRestore,
		Allow:   func(id spiffeid.ID) bool { return id == restorer },
		Handler: n.restore,
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	n.url = "https://" + ln.Addr().String()
	return n
}

func (n *sealedNexus) restore(_ context.Context, r *transport.Request) transport.Response {
	req, err := api.DecodeRequest[api.RestoreRequest](bytes.NewReader(r.Body), 0)
	if err != nil {
		return transport.Response{Status: 400, Body: api.NewErrorResponse(api.CodeBadRequest)}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ids = append(n.ids, req.ID)
	return transport.Response{Body: api.RestoreResponse{Collected: len(n.ids), Remaining: max(0, 2-len(n.ids)), Restored: len(n.ids) >= 2}}
}

// got lists the shard IDs Nexus was given, in order.
func (n *sealedNexus) got() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprint(n.ids)
}

func shardFile(t *testing.T, dir string, id int) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("spike.recovery.%d.txt", id))
	text := fmt.Sprintf("spike:%d:%s", id, strings.Repeat(fmt.Sprintf("%02x", id), 32))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOperatorRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	one, two, three := shardFile(t, dir, 1), shardFile(t, dir, 2), shardFile(t, dir, 3)
	restore := func(t *testing.T, n *sealedNexus, stdin string, args ...string) result {
		return runCLI(t, stdin, append([]string{"--nexus-url", n.url, "--svid-dir", n.svidDir, "--retry-wait", "0"}, args...)...)
	}

	n := newSealedNexus(t)
	shard, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	r := restore(t, n, string(shard)+"\n", "operator", "restore")
	r.check(t, 0, "")
	if r.stdout != "Shards collected: 1\nShards remaining: 1\n" {
		t.Errorf("after one shard from standard input: %q", r.stdout)
	}
	r = restore(t, n, "", "operator", "restore", two, three)
	r.check(t, 0, "")
	if r.stdout != "SPIKE is now restored and ready to use.\n" {
		t.Errorf("after the threshold: %q", r.stdout)
	}
	if n.got() != "[1 2]" {
		t.Errorf("Nexus got shards %v, want [1 2] (none after the restore)", n.got())
	}

	// Several files: progress after each, and none sent once restored.
	n = newSealedNexus(t)
	r = restore(t, n, "", "operator", "restore", three, one, two)
	r.check(t, 0, "")
	if r.stdout != "Shards collected: 1\nShards remaining: 1\nSPIKE is now restored and ready to use.\n" {
		t.Errorf("three files: %q", r.stdout)
	}
	if n.got() != "[3 1]" {
		t.Errorf("Nexus got shards %v, want [3 1]", n.got())
	}

	n = newSealedNexus(t)
	r = restore(t, n, "", "-f", "json", "operator", "restore", one, two)
	r.check(t, 0, "")
	golden(t, "operator-restore", r.stdout)
}
