package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/sdk"
)

func TestGrantPattern(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"tenants/demo/db/creds": `^tenants/demo/.*$`,
		"a.b/c":                 `^a\.b/.*$`,
		"single":                `^single$`,
	} {
		if got := grantPattern(path); got != want {
			t.Errorf("grantPattern(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--no-such-flag"}, {"--spiffe-source-timeout", "0s"}, {"extra-argument"},
		{"--nexus-url", "http://nexus:8553"}, {"--nexus-url", "https://user:s3cret@nexus:8553"}} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, os.LookupEnv, &stdout, &stderr); code != 2 || strings.Contains(stderr.String(), "s3cret") {
			t.Errorf("%v: exit %d, want 2 (stderr %q, which must not quote a password)", args, code, stderr.String())
		}
	}
}

// The demo against a whole spike in this process: refused with a hint
// until the policy the hint names exists, then done, and never showing
// the password.
func TestDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("in-process cluster: skipped with -short")
	}
	cl, err := devcluster.Start(t.Context(), devcluster.Options{DataDir: t.TempDir(), NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	args := []string{"--nexus-url", cl.NexusURL(), "--svid-dir", cl.SVIDDir(devcluster.SVIDDemo), "--spiffe-source-timeout", "10s"}
	demo := func() (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, os.LookupEnv, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, _, stderr := demo()
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "unauthorized") ||
		!strings.Contains(stderr, "spike policy create --name demo --spiffeid-pattern '^spiffe://spike\\.ist/workload/demo$' --path-pattern '^tenants/demo/.*$' --permissions write") {
		t.Fatalf("without a policy: exit %d, stderr %q", code, stderr)
	}

	admin, err := sdk.New(t.Context(), sdk.WithNexusURL(cl.NexusURL()), sdk.WithSVIDDir(cl.SVIDDir(devcluster.SVIDSuperuser)),
		sdk.WithTrustDomain(cl.TrustDomain().Name()), sdk.WithSourceTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	err = admin.PutPolicy(t.Context(), sdk.Policy{Name: "demo", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/demo$`,
		PathPattern: `^tenants/demo/.*$`, Permissions: []api.Permission{api.PermWrite}})
	if err != nil {
		t.Fatal(err)
	}
	for version := 1; version <= 2; version++ {
		code, stdout, stderr := demo()
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s%s", version, code, stdout, stderr)
		}
		for _, want := range []string{
			"running as spiffe://spike.ist/workload/demo\n",
			"wrote tenants/demo/db/creds version " + strconv.Itoa(version) + `: username "demo"`,
			"read  tenants/demo/db/creds version " + strconv.Itoa(version) + ": keys password, username\n",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("run %d: stdout lacks %q:\n%s", version, want, stdout)
			}
		}
		s, err := admin.GetSecret(t.Context(), "tenants/demo/db/creds", version)
		if err != nil {
			t.Fatal(err)
		}
		if pw := s.Data["password"]; len(pw) < 20 || strings.Contains(stdout+stderr, pw) {
			t.Errorf("run %d: password %d characters, shown: %v", version, len(pw), strings.Contains(stdout+stderr, pw))
		}
	}
}

// TestLogLevel: SPIKE_SYSTEM_LOG_LEVEL is checked before the demo starts;
// a bad value is exit 2 with one line naming it.
func TestLogLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		code  int // with no SVID to be had, a demo that starts fails: 1
	}{
		{"loud", 2},
		{"debug", 1},
		{"", 1},
	} {
		lookup := func(k string) (string, bool) {
			if k == "SPIKE_SYSTEM_LOG_LEVEL" && tc.value != "" {
				return tc.value, true
			}
			return "", false
		}
		var stdout, stderr bytes.Buffer
		args := []string{"--svid-dir", t.TempDir(), "--spiffe-source-timeout", "1ms"}
		code := run(t.Context(), args, lookup, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("SPIKE_SYSTEM_LOG_LEVEL=%q: exit %d, want %d (stderr %q)", tc.value, code, tc.code, stderr.String())
		}
		if tc.code == 2 && (strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "SPIKE_SYSTEM_LOG_LEVEL")) {
			t.Errorf("SPIKE_SYSTEM_LOG_LEVEL=%q: stderr %q, want one line naming the variable", tc.value, stderr.String())
		}
	}
}
