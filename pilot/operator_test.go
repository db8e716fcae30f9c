package pilot_test

import (
	"bytes"
	"context"
	"errors"
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
	// Besides an older set's shard 7, the directory holds files that are
	// not recovery files, however alike their names: they stay.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := shardFile(t, dir, 7)
	keep := []string{"spike.recovery-old.txt", "spike.recovery.07.txt", "spike.recovery.1.txt.bak", "notes.txt"}
	for _, name := range keep {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("the operator's"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec := svidDir(t, devcluster.SVIDRecover)
	runCases(t, []cliCase{
		{name: "recover", who: rec, args: []string{"operator", "recover", "--recovery-dir", dir}, want: "3 recovery shards written to " + dir},
		{name: "recover json", who: rec, args: []string{"-f", "json", "operator", "recover", "--recovery-dir", dir}, golden: "operator-recover"},
		{name: "recover unauthorized", args: []string{"operator", "recover", "--recovery-dir", dir}, code: 1, want: "recover needs the spike/pilot/role/recover identity"},
		{name: "recover extra argument", who: rec, args: []string{"operator", "recover", "x"}, code: 2, want: "unexpected argument"},
	})
	files, err := filepath.Glob(filepath.Join(dir, "spike.recovery.[0-9].txt"))
	if err != nil || len(files) != 3 {
		t.Fatalf("recovery files %v, %v", files, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the older set's shard 7 is still there: %v", err)
	}
	for _, name := range keep {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "the operator's" {
			t.Errorf("%s: %q, %v; want it left alone", name, b, err)
		}
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
		{name: "restore malformed shard", who: res, stdin: "spike:1:nothex", args: []string{"operator", "restore"}, code: 2, want: "standard input: recovery shard 1"},
		{name: "restore missing file", who: res, args: []string{"operator", "restore", files[0] + ".none"}, code: 2, want: "no such file"},
	})
}

// fakeNexus is a stand-in for Nexus on the real transport, with a dev
// CA's identities: it serves routes, and its svidDir holds SVID files for
// a caller at clientPath.
type fakeNexus struct {
	url     string
	svidDir string
}

func newFakeNexus(t *testing.T, clientPath string, routes ...transport.Route) *fakeNexus {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("spike.ist")
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNexus{svidDir: filepath.Join(t.TempDir(), "client")}
	client, err := ca.Issue(spiffeid.RequireFromPath(td, clientPath), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteFiles(f.svidDir, client); err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(spiffeid.RequireFromPath(td, identity.PathNexus), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	src := identity.NewStaticSource(server, ca.Bundle())
	srv, err := transport.NewServer(transport.ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(),
		Logger: slog.New(slog.DiscardHandler)}, routes)
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
	f.url = "https://" + ln.Addr().String()
	return f
}

// run runs the CLI as the fake's client.
func (f *fakeNexus) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLI(t, stdin, append([]string{"--nexus-url", f.url, "--svid-dir", f.svidDir, "--retry-wait", "0"}, args...)...)
}

// route answers op with h.
func route(op api.Op, h transport.Handler) transport.Route {
	return transport.Route{Path: op.Path(), Action: string(op.Action()), Handler: h}
}

// sealedNexus is a stand-in for a sealed Nexus: it serves only operator
// restore, for the restore identity, and is restored by its second
// shard.
type sealedNexus struct {
	*fakeNexus

	mu  sync.Mutex
	ids []int
}

func newSealedNexus(t *testing.T) *sealedNexus {
	t.Helper()
	n := &sealedNexus{}
	restorer := spiffeid.RequireFromPath(spiffeid.RequireTrustDomainFromString("spike.ist"), identity.PathPilotRestore)
	r := route(api.OpOperatorRestore, n.restore)
	r.Allow = func(id spiffeid.ID) bool { return id == restorer }
	n.fakeNexus = newFakeNexus(t, identity.PathPilotRestore, r)
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
		return n.run(t, stdin, args...)
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

	// - is standard input, among files too, once.
	n = newSealedNexus(t)
	r = restore(t, n, string(shard), "operator", "restore", three, "-")
	r.check(t, 0, "")
	if n.got() != "[3 1]" || !strings.HasSuffix(r.stdout, "SPIKE is now restored and ready to use.\n") {
		t.Errorf("a file and standard input: Nexus got %v, stdout %q", n.got(), r.stdout)
	}
	n = newSealedNexus(t)
	restore(t, n, string(shard), "operator", "restore", "-", two, "-").check(t, 2, "give - once")
	restore(t, n, strings.Repeat(" ", 5000)+string(shard), "operator", "restore", "-").check(t, 2, "standard input: recovery shard: more than 4096 bytes")
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, []byte(string(shard)+strings.Repeat("\n", 5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	restore(t, n, "", "operator", "restore", big).check(t, 2, big+": recovery shard: more than 4096 bytes")
	// Every file is read before any shard is sent: a bad one among good
	// ones sends nothing.
	restore(t, n, "", "operator", "restore", one, big).check(t, 2, big+": recovery shard")
	if n.got() != "[]" {
		t.Errorf("Nexus got shards %v from refused input", n.got())
	}
}
