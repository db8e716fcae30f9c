package monitoring

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// aptPackage is Debian's package that ships promtool and prometheus.
const aptPackage = "prometheus"

// install is the outcome of installing aptPackage, done at most once.
var install struct {
	once sync.Once
	err  error
}

// tool returns the path of a program of Debian's prometheus package
// (promtool or prometheus). If it is missing and the test runs as root
// with apt-get, it installs the package first (running apt-get update
// when the first attempt fails); otherwise it skips t, naming the command
// that would install it.
func tool(t testing.TB, name string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	install.once.Do(func() { install.err = aptInstall() })
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	why := "not found"
	if install.err != nil {
		why = install.err.Error()
	}
	t.Skipf("%s missing (%s): install it with `apt-get install -y %s`", name, why, aptPackage)
	return ""
}

// aptInstall installs aptPackage with apt-get, when run as root.
func aptInstall() error {
	if os.Geteuid() != 0 {
		return errors.New("not root, so not installing it")
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return errors.New("no apt-get to install it with")
	}
	run := func(args ...string) error {
		cmd := exec.Command(apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, lastLine(out))
		}
		return nil
	}
	fmt.Fprintf(os.Stderr, "monitoring: installing Debian's %s package for promtool\n", aptPackage)
	if err := run("install", "-y", "-qq", aptPackage); err == nil {
		return nil
	}
	if err := run("update", "-qq"); err != nil {
		return err
	}
	return run("install", "-y", "-qq", aptPackage)
}

// lastLine is the last non-empty line of a command's output, for a
// one-line message.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// repoRoot returns the module's root directory, the first parent of the
// working directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Paths of the artefacts, relative to the module root.
const (
	dashboardFile  = "deploy/grafana/spike-dashboard.json"
	alertsFile     = "deploy/prometheus/spike-alerts.yml"
	promConfigFile = "deploy/prometheus/prometheus.yml"
	metricsDoc     = "docs/metrics.md"
)

// promtool runs promtool with args in dir and fails t, with its output,
// unless it exits 0.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
