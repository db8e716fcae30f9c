package devcluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
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

// start runs a cluster on ephemeral ports, closed when the test ends.
func start(t *testing.T, o devcluster.Options) *devcluster.Cluster {
	t.Helper()
	if o.NexusAddr == "" {
		o.NexusAddr = "127.0.0.1:0"
	}
	if o.OpsAddr == "" {
		o.OpsAddr = devcluster.OpsOff
	}
	c, err := devcluster.Start(t.Context(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// client calls c's Nexus with the SVID files in dir, as spike and
// spike-demo in a second shell would.
func client(t *testing.T, c *devcluster.Cluster, dir string) *transport.Client {
	t.Helper()
	src, err := identity.OpenSource(t.Context(), "", dir, 5*time.Second, nil)
	if err != nil {
		t.Fatalf("SVID files: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	nexusID := spiffeid.RequireFromPath(c.TrustDomain(), identity.PathNexus)
	cl, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src,
		Server: tlsconfig.AuthorizeID(nexusID), Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func put(ctx context.Context, c *devcluster.Cluster, cl *transport.Client, path string, values map[string]string) error {
	return cl.Do(ctx, transport.Call{BaseURL: c.NexusURL(), Path: api.PathSecrets,
		Request: api.SecretPutRequest{Path: path, Values: values}, Response: &api.SecretPutResponse{}})
}

func get(ctx context.Context, c *devcluster.Cluster, cl *transport.Client, path string) (map[string]string, error) {
	var resp api.SecretGetResponse
	err := cl.Do(ctx, transport.Call{BaseURL: c.NexusURL(), Path: api.PathSecrets, Action: string(api.ActionGet),
		Request: api.SecretGetRequest{Path: path}, Response: &resp})
	return resp.Data, err
}

// status is the HTTP status of a failed call, 200 for none.
func status(err error) int {
	var se *transport.StatusError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &se):
		return se.Status
	}
	return -1
}

func TestSecretsThroughSVIDFiles(t *testing.T) {
	t.Parallel()
	c := start(t, devcluster.Options{OpsAddr: "127.0.0.1:0"})
	ctx := t.Context()
	value := map[string]string{"username": "admin", "password": "x"}
	if err := put(ctx, c, client(t, c, c.SVIDDir(devcluster.SVIDSuperuser)), "tenants/demo/db/creds", value); err != nil {
		t.Fatalf("superuser put: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := c.IssueSVIDDir(ctx, "/workload/other", other); err != nil {
		t.Fatalf("IssueSVIDDir: %v", err)
	}
	for _, tc := range []struct {
		name, dir string
		want      int
	}{
		{"superuser", c.SVIDDir(devcluster.SVIDSuperuser), http.StatusOK},
		{"demo workload without a policy", c.SVIDDir(devcluster.SVIDDemo), http.StatusUnauthorized},
		{"issued workload without a policy", other, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := get(ctx, c, client(t, c, tc.dir), "tenants/demo/db/creds")
			if status(err) != tc.want {
				t.Fatalf("get: %v, want status %d", err, tc.want)
			}
			if tc.want == http.StatusOK && !maps.Equal(got, value) {
				t.Fatalf("get returned other values than were put (%d keys)", len(got))
			}
		})
	}
	resp, err := http.Get(c.OpsURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz answered %d after Start", resp.StatusCode)
	}
}

func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	c := start(t, devcluster.Options{Keepers: 1})
	names := []string{devcluster.SVIDSuperuser, devcluster.SVIDAuditor, devcluster.SVIDDemo,
		devcluster.SVIDAdmin, devcluster.SVIDOperator, devcluster.SVIDRecover, devcluster.SVIDRestore}
	var files []string
	for _, name := range names {
		dir := c.SVIDDir(name)
		if want := filepath.Join(c.DataDir(), "svid", name); dir != want {
			t.Errorf("SVIDDir(%q) = %s, want %s", name, dir, want)
		}
		checkMode(t, dir, os.ModeDir|0o700)
		for _, f := range []string{identity.DefaultCertFile, identity.DefaultKeyFile, identity.DefaultBundleFile} {
			files = append(files, filepath.Join(dir, f))
		}
	}
	recovery, _ := filepath.Glob(filepath.Join(c.RecoveryDir(), "spike.recovery.*.txt"))
	if len(recovery) != 1 {
		t.Errorf("recovery files %v, want one per keeper", recovery)
	}
	checkMode(t, c.RecoveryDir(), os.ModeDir|0o700)
	for _, f := range append(files, recovery...) {
		checkMode(t, f, 0o600)
	}
	if d := c.SVIDDir("nexus"); d != "" {
		t.Errorf(`SVIDDir("nexus") = %q, want ""`, d)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

func TestRestartRestoresFromRecoveryFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ctx := t.Context()
	value := map[string]string{"k": "v1"}

	first, err := devcluster.Start(ctx, devcluster.Options{DataDir: dir, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err != nil {
		t.Fatal(err)
	}
	err = put(ctx, first, client(t, first, first.SVIDDir(devcluster.SVIDSuperuser)), "app/db", value)
	if cerr := first.Close(); err != nil || cerr != nil {
		t.Fatalf("put %v, close %v", err, cerr)
	}

	// Another keeper count than the data was bootstrapped with is refused.
	_, err = devcluster.Start(ctx, devcluster.Options{DataDir: dir, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff, Keepers: 5})
	if err == nil || !strings.Contains(err.Error(), "--keepers 3") {
		t.Fatalf("restart with 5 keepers: %v, want an error naming --keepers 3", err)
	}

	// Files beside the recovery files that only look like them (a copy
	// an operator kept) are not read.
	for _, name := range []string{"spike.recovery.old.txt", "spike.recovery.01.txt", "spike.recovery-copy.txt"} {
		if err := os.WriteFile(filepath.Join(first.RecoveryDir(), name), []byte("not a shard"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The restart unseals as a production Nexus does, from its Keepers
	// (given back their shards from the recovery files): Nexus never
	// finds them empty, so it warns of nothing.
	logs := &warnings{}
	second := start(t, devcluster.Options{DataDir: dir, Logger: slog.New(logs)})
	got, err := get(ctx, second, client(t, second, second.SVIDDir(devcluster.SVIDSuperuser)), "app/db")
	if err != nil || !maps.Equal(got, value) {
		t.Fatalf("get after restart: %v (%d keys)", err, len(got))
	}
	if w := logs.String(); strings.Contains(w, "nexus sealed") || strings.Contains(w, "400") {
		t.Errorf("the restart warned:\n%s", w)
	}
}

// warnings is a slog handler that keeps the warnings and errors logged,
// as text.
type warnings struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(&w.b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&w.b, " %s=%v", a.Key, a.Value)
		return true
	})
	w.b.WriteByte('\n')
	return nil
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestRestartWithoutRecoveryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, devcluster.Options{DataDir: dir, Keepers: 1})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(first.RecoveryDir()); err != nil {
		t.Fatal(err)
	}
	_, err := devcluster.Start(t.Context(), devcluster.Options{DataDir: dir, Keepers: 1, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err == nil || !strings.Contains(err.Error(), "no recovery files") {
		t.Fatalf("restart without recovery files: %v", err)
	}
}

func TestCloseStopsEverythingOnce(t *testing.T) {
	t.Parallel()
	c, err := devcluster.Start(t.Context(), devcluster.Options{NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(c.DataDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data directory after Close: %v", err)
	}
	u, _ := url.Parse(c.NexusURL())
	if conn, err := net.Dial("tcp", u.Host); err == nil {
		conn.Close()
		t.Errorf("Nexus still listens at %s after Close", u.Host)
	}
	if err := c.IssueSVIDDir(t.Context(), "/workload/late", t.TempDir()); err == nil {
		t.Error("IssueSVIDDir after Close succeeded")
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    devcluster.Options
		want string
	}{
		{"negative keepers", devcluster.Options{Keepers: -1}, "keepers -1"},
		{"too many keepers", devcluster.Options{Keepers: devcluster.MaxKeepers + 1}, "keepers 17"},
		{"bad trust domain", devcluster.Options{TrustDomain: "Not A Domain"}, "trust domain"},
		{"bad nexus address", devcluster.Options{NexusAddr: "localhost"}, "nexus address"},
		{"bad port", devcluster.Options{NexusAddr: "127.0.0.1:99999"}, "nexus address"},
		{"bad ops address", devcluster.Options{NexusAddr: "127.0.0.1:0", OpsAddr: "x:y:z"}, "operations address"},
		{"data dir is a file", devcluster.Options{DataDir: file, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff}, "data directory"},
		{"data dir under a file", devcluster.Options{DataDir: filepath.Join(file, "sub"), NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff}, "data directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := devcluster.Start(t.Context(), tc.o)
			if err == nil {
				c.Close()
				t.Fatalf("Start succeeded, want an error containing %q", tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line containing %q", msg, tc.want)
			}
		})
	}
}

func TestNexusPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = devcluster.Start(t.Context(), devcluster.Options{NexusAddr: ln.Addr().String(), OpsAddr: devcluster.OpsOff})
	if err == nil || !strings.Contains(err.Error(), "nexus") {
		t.Fatalf("Start on a used port: %v", err)
	}
}

// bannerWriter collects Run's output and signals when the banner is
// complete.
type bannerWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	printed chan struct{}
	once    sync.Once
}

func (w *bannerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if strings.Contains(w.b.String(), "Press Ctrl-C to stop.") {
		w.once.Do(func() { close(w.printed) })
	}
	return n, err
}

func (w *bannerWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestRunPrintsBannerAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &bannerWriter{printed: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- devcluster.Run(ctx, devcluster.Options{NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff}, out)
	}()
	select {
	case <-out.printed:
	case err := <-done:
		t.Fatalf("Run returned before the banner: %v\n%s", err, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	text := out.String()
	for _, want := range []string{
		"NOT FOR PRODUCTION",
		"export SPIKE_NEXUS_URL=https://127.0.0.1:",
		"/svid/superuser",
		"/svid/demo spike-demo",
		"/recover",
		"stopped; removed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestRunFailsToStart(t *testing.T) {
	t.Parallel()
	err := devcluster.Run(t.Context(), devcluster.Options{Keepers: -2}, io.Discard)
	if err == nil {
		t.Fatal("Run with bad options succeeded")
	}
}

func TestSecondClusterOnSameDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, devcluster.Options{DataDir: dir, Keepers: 1})
	superuser := client(t, first, first.SVIDDir(devcluster.SVIDSuperuser))
	_, err := devcluster.Start(t.Context(), devcluster.Options{DataDir: dir, Keepers: 1, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err == nil || !strings.Contains(err.Error(), "in use") || strings.Count(err.Error(), "events.db") != 1 {
		t.Fatalf("second Start on a data directory in use: %v, want the lock named once", err)
	}
	// The first cluster's files are untouched: its clients still work.
	if err := put(t.Context(), first, superuser, "still/mine", map[string]string{"k": "v"}); err != nil {
		t.Fatalf("put to the first cluster: %v", err)
	}
	if err := put(t.Context(), first, client(t, first, first.SVIDDir(devcluster.SVIDSuperuser)), "still/mine", map[string]string{"k": "v"}); err != nil {
		t.Fatalf("put with freshly read files: %v", err)
	}
}
