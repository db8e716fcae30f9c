package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// env is an environment of only kv, for run.
func env(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

// TestBadSettingsStartNothing: a wrong log or metrics setting is exit 2,
// one line naming it, nothing on stdout and no metrics file.
func TestBadSettingsStartNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"log format flag", []string{"--log-format", "xml"}, nil, "SPIKE_SYSTEM_LOG_FORMAT"},
		{"log format env", nil, []string{"SPIKE_SYSTEM_LOG_FORMAT", "logfmt"}, `"logfmt": want json or text`},
		{"log level env", nil, []string{"SPIKE_SYSTEM_LOG_LEVEL", "loud"}, "SPIKE_SYSTEM_LOG_LEVEL"},
		{"metrics address", []string{"--metrics-addr", "no-port"}, nil, "SPIKE_BOOTSTRAP_METRICS_ADDR"},
		{"metrics address in use", nil, nil, "SPIKE_BOOTSTRAP_METRICS_ADDR"}, // filled in below
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "bootstrap.prom")
			args := append([]string{"--backend-store", "memory", "--metrics-file", file}, tc.args...)
			if tc.args == nil && tc.env == nil {
				ln := listenBusy(t)
				args = append(args, "--metrics-addr", ln)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, env(tc.env...), &stdout, &stderr)
			out := stderr.String()
			if code != exitConfig || strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.want) || stdout.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, nothing on stdout and one line naming %s", code, stdout.String(), out, exitConfig, tc.want)
			}
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Fatalf("a metrics file was written (%v)", err)
			}
		})
	}
}

// TestRunEndsWithResultLine: in either log format, the last log line says
// how the run ended and how long it took, and the metrics file agrees.
func TestRunEndsWithResultLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, format string
		args         []string
		env          []string
		code         int
		result       string
		success      float64
	}{
		{"skipped, json", "json", []string{"--backend-store", "memory"}, nil, 0, "skipped", 1},
		{"skipped, text", "text", []string{"--backend-store", "lite"}, nil, 0, "skipped", 1},
		// No SVID to be had: the run fails before reaching anyone.
		{"failed, json", "json", []string{"--svid-dir", "/nonexistent/svid", "--spiffe-source-timeout", "1ms"},
			[]string{"SPIKE_KEEPERS", "https://127.0.0.1:1"}, exitFailure, "failed", 0},
		{"failed, text", "text", []string{"--svid-dir", "/nonexistent/svid", "--spiffe-source-timeout", "1ms"},
			[]string{"SPIKE_KEEPERS", "https://127.0.0.1:1"}, exitFailure, "failed", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "bootstrap.prom")
			args := append([]string{"--log-format", tc.format, "--metrics-file", file}, tc.args...)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, env(tc.env...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if tc.code != 0 {
				lines = lines[:len(lines)-1] // the one-line error after the log
			}
			last := lines[len(lines)-1]
			switch tc.format {
			case "json":
				var rec map[string]any
				if err := json.Unmarshal([]byte(last), &rec); err != nil {
					t.Fatalf("last log line %q is not JSON: %v", last, err)
				}
				if _, ok := rec["duration_seconds"].(float64); rec["msg"] != "bootstrap finished" || rec["result"] != tc.result || !ok {
					t.Fatalf("last log line %q: want bootstrap finished, result %s and a duration", last, tc.result)
				}
			case "text":
				if !strings.Contains(last, `msg="bootstrap finished" result=`+tc.result+" duration_seconds=") {
					t.Fatalf("last log line %q: want bootstrap finished, result %s and a duration", last, tc.result)
				}
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("metrics file mode %v, want 0644", fi.Mode().Perm())
			}
			b, _ := os.ReadFile(file)
			if bytes.Contains(b, []byte("\ngo_")) || bytes.Contains(b, []byte("\nprocess_")) {
				t.Errorf("metrics file holds the runtime collectors, which node_exporter has its own of:\n%s", b)
			}
			for name, ok := range map[string]func(float64) bool{
				"spike_bootstrap_last_run_success":           func(v float64) bool { return v == tc.success },
				"spike_bootstrap_running":                    func(v float64) bool { return v == 0 },
				"spike_bootstrap_keepers_reached":            func(v float64) bool { return v == 0 },
				"spike_bootstrap_last_run_duration_seconds":  func(v float64) bool { return v >= 0 },
				"spike_bootstrap_last_run_timestamp_seconds": func(v float64) bool { return v > 0 },
			} {
				v, found := gauge(b, name)
				if !found || !ok(v) || !bytes.Contains(b, []byte("# HELP "+name+" ")) {
					t.Errorf("metrics file: %s = %v (found %v, with HELP %v)\n%s", name, v, found, bytes.Contains(b, []byte("# HELP "+name)), b)
				}
			}
		})
	}
}

// gauge returns the value of the unlabelled sample name in a text
// exposition.
func gauge(b []byte, name string) (float64, bool) {
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// listenBusy returns an address something already listens on.
func listenBusy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
