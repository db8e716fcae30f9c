//go:build linux

package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/test/e2e/system"
)

var (
	spireBench = flag.Bool("spire-bench", false, "run the benchmarks under a real SPIRE (minutes each; make bench-spire)")
	loadFlags  = flag.String("load-flags", "", "TestSideBySide: more flags for the load tool, e.g. \"-clients ours,sdk,sdk-new -format md\"")
	benchOut   = flag.String("bench-out", "", "also write the load tool's table to this file")
)

const (
	nKeepers = 3
	// roleEnv makes the re-executed test binary write the SVID the
	// Workload API gives it into the directory named by dirEnv.
	roleEnv = "SPIKE_E2E_BENCH_ROLE"
	dirEnv  = "SPIKE_E2E_BENCH_DIR"
	// ourName is the spike target's name in the table.
	ourName = "spike"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		if err := writeSVID(role, os.Getenv(dirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// writeSVID is the child: it fetches its SVID and its trust domain's
// bundle from the agent at SPIFFE_ENDPOINT_SOCKET and writes them in
// spiffe-helper's layout.
func writeSVID(role, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svid, err := workloadapi.FetchX509SVID(ctx)
	if err != nil {
		return fmt.Errorf("%s: fetch SVID: %w", role, err)
	}
	bundles, err := workloadapi.FetchX509Bundles(ctx)
	if err != nil {
		return fmt.Errorf("%s: fetch bundles: %w", role, err)
	}
	bundle, err := bundles.GetX509BundleForTrustDomain(svid.ID.TrustDomain())
	if err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	if _, err := identity.WriteSVIDFiles(dir, svid, bundle); err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	return nil
}

// deployment is one spike deployment under SPIRE and the SVID directories of
// its superuser and of workload/load.
type deployment struct {
	tb          *system.Testbed
	d           *system.Deployment
	su, loadDir string
}

// deploy skips unless -spire-bench, then starts SPIRE, the keepers and
// Nexus with default logging, bootstraps, and writes the SVID files.
func deploy(t *testing.T) deployment {
	t.Helper()
	if !*spireBench {
		t.Skip("benchmark under a real SPIRE: run with -spire-bench (make bench-spire, make bench-cold-start)")
	}
	begin := time.Now()
	tb, err := system.NewTestbed(t.Context(), system.Options{
		Prefix:  "spike-bench-",
		Keepers: nKeepers,
		Workloads: []system.Workload{
			{Name: "superuser", ID: identity.PathPilotSuperuser},
			{Name: "load", ID: identity.PathWorkloads + "/load"},
		},
	})
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("testbed: %v", err)
		}
	})
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: nKeepers, Threshold: 2})
	dep := deployment{tb: tb, d: d, su: filepath.Join(d.Dir(), "svid", "superuser"), loadDir: filepath.Join(d.Dir(), "svid", "load")}
	for name, dir := range map[string]string{"superuser": dep.su, "load": dep.loadDir} {
		r := system.Run(t, system.Cmd{Bin: tb.Path(name),
			Env: append(system.BaseEnv(), tb.Cluster().Env(), roleEnv+"="+name, dirEnv+"="+dir)})
		if r.Code != 0 {
			t.Fatalf("write the %s SVID files: %s", name, r)
		}
	}
	t.Logf("SPIRE, %d keepers and Nexus up, bootstrapped, in %v; logs in %s", nKeepers, time.Since(begin).Round(time.Millisecond), d.LogDir())
	return dep
}

// target is the -target value of the deployment's Nexus.
func (dep deployment) target() string {
	return fmt.Sprintf("name=%s,url=%s,pid=%d,svid-dir=%s,load-svid-dir=%s", ourName, dep.d.NexusURL(), dep.d.Nexus().Pid(), dep.su, dep.loadDir)
}

// spikeTarget returns SPIKE's -target value from SPIKE_BENCH_TARGET, or
// from starting SPIKE_BENCH_SCRIPT (stopped when t ends), and its name;
// "" when neither is set.
func spikeTarget(t *testing.T) (spec, name string) {
	t.Helper()
	spec = os.Getenv("SPIKE_BENCH_TARGET")
	if script := os.Getenv("SPIKE_BENCH_SCRIPT"); spec == "" && script != "" {
		t.Cleanup(func() {
			if out, err := exec.Command(script, "stop").CombinedOutput(); err != nil {
				t.Errorf("%s stop: %v\n%s", script, err, out)
			}
		})
		out, err := exec.CommandContext(t.Context(), script, "start").Output()
		if err != nil {
			t.Fatalf("%s start: %v\n%s", script, err, out)
		}
		for line := range strings.Lines(string(out)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "TARGET="); ok {
				spec = v
			}
		}
		if spec == "" {
			t.Fatalf("%s start printed no TARGET= line:\n%s", script, out)
		}
	}
	for kv := range strings.SplitSeq(spec, ",") {
		if v, ok := strings.CutPrefix(kv, "name="); ok {
			name = v
		}
	}
	if spec != "" && name == "" {
		t.Fatalf("SPIKE target %q has no name=", spec)
	}
	return spec, name
}

// buildLoad builds the load tool into a directory of t's.
func buildLoad(t *testing.T) string {
	t.Helper()
	root, err := system.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "load")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./test/load")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./test/load: %v\n%s", err, out)
	}
	return bin
}

// TestSideBySide runs the load tool's matrix against this Nexus and, if
// configured, SPIKE's, and prints its table on standard output.
func TestSideBySide(t *testing.T) {
	dep := deploy(t)
	load := buildLoad(t)
	args := []string{"-target", dep.target()}
	if spec, name := spikeTarget(t); spec != "" {
		args = append(args, "-target", spec, "-ref", name)
	} else {
		t.Log("no SPIKE target (SPIKE_BENCH_TARGET or SPIKE_BENCH_SCRIPT): spike alone")
	}
	args = append(args, strings.Fields(*loadFlags)...)
	t.Logf("load %s", strings.Join(args, " "))
	cmd := exec.CommandContext(t.Context(), load, args...)
	cmd.Env = system.BaseEnv()
	var out io.Writer = os.Stdout
	if *benchOut != "" {
		f, err := os.Create(*benchOut)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = io.MultiWriter(os.Stdout, f)
	}
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("load: %v; nexus log %s:\n%s", err, dep.d.NexusLog(), system.Tail(dep.d.NexusLog()))
	}
	if n := countLines(t, dep.d.NexusLog()); n > 0 {
		t.Logf("nexus wrote %d log lines during the run (%s)", n, dep.d.NexusLog())
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}
