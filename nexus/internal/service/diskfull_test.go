package service

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/testdisk"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/projections"
)

// diskService is a service whose log and projection files are in dir.
type diskService struct {
	*Service
	dir    string
	cancel func()
	done   chan struct{}
	once   sync.Once
}

// newDiskService opens a service over a log in dir, and a projection in
// dir too unless memory is set.
func newDiskService(t *testing.T, dir string, opts eventlog.Options, memory bool) *diskService {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Logger = slog.New(slog.DiscardHandler)
	log, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() }) // before the unmount, however the test ends
	root := make([]byte, 32)
	crand.Read(root)
	if err := log.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	pk, err := projections.KeyFromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	proj, err := projections.Open(ctx, log, projections.Options{Path: filepath.Join(dir, "projections.db"), Memory: memory, Key: pk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proj.Close() })
	withKey := func(f func([]byte) error) error { return f(root) }
	svc, err := New(ctx, Config{Log: log, Commit: commit.NewLocal(log), Proj: proj, Roles: identity.DefaultRoles(), WithKey: withKey, MaxVersions: 3, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	d := &diskService{Service: svc, dir: dir, cancel: cancel, done: make(chan struct{})}
	go func() { svc.Run(ctx); close(d.done) }()
	t.Cleanup(d.stop)
	return d
}

// stop ends the loop and closes the projection and the log (both close
// once, whoever asks first).
func (d *diskService) stop() {
	d.once.Do(func() {
		d.cancel()
		<-d.done
		d.proj.Close()
		d.log.Close()
	})
}

// TestDiskFull fills the filesystem under a running service: writes and
// audited reads fail closed with 503 no_space (a get whose secret.read
// cannot be made durable does not return the secret), the service says
// why it is not ready, and once the space is freed it serves again by
// itself, with every acknowledged write in a log that verifies and a
// projection equal to one rebuilt from it. With the projection on the
// same filesystem, SQLite is the first to find no room, after the log
// made the put durable: the put is answered 500 no_space saying it was
// recorded (not 503, which clients retry), it takes effect once the
// projection has caught up, and until then every request is refused
// 503. With the projection in memory the log's journal fills up and its
// flush into bbolt fails: the put is refused 503 and never happens.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		memory   bool
		recorded bool // the refused put is in the log
	}{
		{"projection fills", false, true},
		{"log fills", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testdisk.Small(t, 8<<20)
			d := newDiskService(t, dir, eventlog.Options{JournalSize: 256 << 10}, tc.memory)
			checkDiskFull(t, d, tc.recorded)
		})
	}
}

func checkDiskFull(t *testing.T, d *diskService, recorded bool) {
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	put := func(path, v string) transport.Response {
		return d.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"v": v}})
	}
	if r := put("keep/a", "before"); !succeeded(r) {
		t.Fatalf("put before the disk fills: %d %+v", r.Status, r.Body)
	}
	filler := testdisk.Fill(t, d.dir)

	acked := map[string]string{"keep/a": "before"}
	var refused transport.Response
	var refusedPath, refusedValue string
	value := strings.Repeat("x", 16<<10)
	for i := 0; ; i++ {
		if i == 2000 {
			t.Fatal("2000 puts of 16 KiB on a full filesystem all succeeded")
		}
		refusedPath, refusedValue = fmt.Sprintf("fill/%d", i), fmt.Sprintf("%d-%s", i, value)
		refused = put(refusedPath, refusedValue)
		if !succeeded(refused) {
			break
		}
		acked[refusedPath] = refusedValue
	}
	if recorded {
		// Recorded, not applied: 500, which clients do not retry.
		p, _ := refused.Body.(api.Problem)
		if refused.Status != http.StatusInternalServerError || p.Err != api.CodeInternal || p.Reason != api.ReasonNoSpace || !strings.Contains(p.Message, "recorded this change") {
			t.Errorf("put recorded but not applied: %d %+v, want 500 %s %s saying it was recorded", refused.Status, refused.Body, api.CodeInternal, api.ReasonNoSpace)
		}
		// Nothing more is built while the projection is behind.
		checkNoSpace(t, "put while the projection is behind", put("fill/next", "x"))
	} else {
		checkNoSpace(t, "put", refused)
	}
	// A retried flush may still find room (pages a failed bbolt write
	// allocated stay the file's), so an audited get may succeed for a
	// while: only with its secret.read durable. It is refused soon.
	for i := 0; ; i++ {
		if i == 2000 {
			t.Fatal("2000 audited gets on a full filesystem all succeeded")
		}
		size := d.log.Size()
		get := d.serveAs(t, su, api.OpSecretGet, api.SecretGetRequest{Path: "keep/a"})
		if !succeeded(get) {
			checkNoSpace(t, "get", get)
			break
		}
		if d.log.Size() <= size {
			t.Fatalf("get %d answered, its secret.read not in the log", i)
		}
	}
	meta := d.serveAs(t, su, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "keep/a"})
	if recorded {
		// Unrecorded reads answer from the projection: not while it is
		// behind the log.
		checkNoSpace(t, "metadata get", meta)
	}
	if why := d.Unready(); !strings.Contains(why, "no space left on device") {
		t.Errorf("Unready() = %q, want it to say there is no space left", why)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.Unready() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("still not ready 30 s after the space was freed: %s", d.Unready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := put("keep/b", "after"); !succeeded(r) {
		t.Fatalf("put after the space was freed: %d %+v", r.Status, r.Body)
	}
	acked["keep/b"] = "after"
	if recorded {
		acked[refusedPath] = refusedValue
	}
	for path, want := range acked {
		r := d.serveAs(t, su, api.OpSecretGet, api.SecretGetRequest{Path: path})
		got, ok := r.Body.(api.SecretGetResponse)
		if !succeeded(r) || !ok || got.Data["v"] != want {
			t.Fatalf("%s: %d, %d bytes, want its value", path, r.Status, len(got.Data["v"]))
		}
	}
	if !recorded {
		if r := d.serveAs(t, su, api.OpSecretGet, api.SecretGetRequest{Path: refusedPath}); r.Status != http.StatusNotFound {
			t.Errorf("the put refused before it was recorded: get %d %+v, want 404", r.Status, r.Body)
		}
	}
	checkRebuildDigest(t, d.Service)
	vkey, err := d.log.VerifierKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	path := d.log.Path()
	d.stop()
	if _, err := eventlog.VerifyFile(context.Background(), path, vkey, eventlog.VerifyOptions{}); err != nil {
		t.Fatalf("the log after the disk filled: %v", err)
	}
}

// checkNoSpace fails t unless r is 503 no_space (nothing was done),
// without a secret in it.
func checkNoSpace(t *testing.T, what string, r transport.Response) {
	t.Helper()
	p, ok := r.Body.(api.Problem)
	if r.Status != http.StatusServiceUnavailable || !ok || p.Err != api.CodeNotReady || p.Reason != api.ReasonNoSpace {
		t.Errorf("%s on a full disk: %d %+v, want 503 %s %s", what, r.Status, r.Body, api.CodeNotReady, api.ReasonNoSpace)
	}
}
