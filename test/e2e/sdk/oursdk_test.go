//go:build linux

package sdk

// Our own client, package github.com/spikeledger/spike/sdk, against the
// same real system: SPIRE, three keepers, spike-nexus and
// spike-bootstrap, with the test binary re-executed under workload
// identities (as TestSDKAgainstNexus does for SPIKE's client), and
// spike-demo, the example workload, under its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	oursdk "github.com/spikeledger/spike/sdk"
	"github.com/spikeledger/spike/test/e2e/system"
)

// ourRoleEnv tells the re-executed test binary to play a role with our
// client: "pilot" (spike/pilot/role/superuser) or "app" (workload/app).
// It is read in init, before TestMain looks at roleEnv, so the two
// suites' children never mix.
const ourRoleEnv = "SPIKE_E2E_OURSDK_ROLE"

func init() {
	if role := os.Getenv(ourRoleEnv); role != "" {
		os.Exit(runOurRole(role))
	}
}

const demoPath = "tenants/demo/db/creds"

func TestOurSDKAgainstNexus(t *testing.T) {
	tb := setup(t)
	// spike-demo runs as spiffe://spike.test/workload/demo: its own
	// binary path, registered now.
	demoBin, err := tb.Install(t.Context(), system.Workload{Name: "demo", Command: "spike-demo", ID: "/workload/demo"})
	if err != nil {
		t.Fatal(err)
	}

	d := system.Deploy(t, tb, system.DeployOptions{Keepers: nKeepers, Threshold: 2})
	clientEnv := func(extra ...string) []string {
		return append(system.BaseEnv(), append([]string{
			tb.Cluster().Env(),
			"SPIKE_NEXUS_URL=" + d.NexusURL(),
			"SPIKE_TRUST_ROOT=" + system.TrustDomain,
		}, extra...)...)
	}

	// spike-demo without a policy: refused, with the policy to create.
	r := system.Run(t, system.Cmd{Bin: demoBin, Env: clientEnv()})
	wantHint := "spike policy create --name demo --spiffeid-pattern '^spiffe://spike\\.test/workload/demo$' --path-pattern '^tenants/demo/.*$' --permissions write"
	if r.Code != 1 || !strings.Contains(r.Stderr, "unauthorized") || !strings.Contains(r.Stderr, wantHint) {
		t.Fatalf("spike-demo without a policy:\n%s", r)
	}

	// Our client as the superuser (which also creates the demo's
	// policy), then as a workload without a policy.
	for _, tc := range []struct{ role, bin string }{{"pilot", tb.Path(pilotBin)}, {"app", tb.Path(appBin)}} {
		t.Run(tc.role, func(t *testing.T) {
			r := system.Run(t, system.Cmd{Bin: tc.bin, Env: clientEnv(ourRoleEnv + "=" + tc.role)})
			var report []outcome
			if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil || r.Code != 0 || len(report) == 0 {
				t.Fatalf("%s child: report %v\n%s", tc.role, err, r)
			}
			for _, o := range report {
				if o.OK {
					t.Logf("ok   %s", o.Method)
				} else {
					t.Errorf("FAIL %s: %s", o.Method, o.Err)
				}
			}
			if t.Failed() {
				t.Logf("--- child stderr ---\n%s\n--- nexus log ---\n%s", r.Stderr, system.Tail(d.NexusLog()))
			}
		})
	}

	// spike-demo with its policy: written, read back, password unseen.
	r = system.Run(t, system.Cmd{Bin: demoBin, Env: clientEnv()})
	for _, want := range []string{"running as " + system.ID("/workload/demo") + "\n", "wrote " + demoPath + " version 1:", "read  " + demoPath + " version 1: keys password, username\n"} {
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Fatalf("spike-demo with its policy: stdout lacks %q\n%s", want, r)
		}
	}
}

// ---------------------------------------------------------------------
// The children: our client under a workload identity, configured only by
// the environment (SPIFFE_ENDPOINT_SOCKET, SPIKE_NEXUS_URL,
// SPIKE_TRUST_ROOT).
// ---------------------------------------------------------------------

func runOurRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := oursdk.New(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "our sdk role %s: New: %v\n", role, err)
		return 1
	}
	defer c.Close()
	return playRole(role, map[string]func(*reporter){
		"pilot": func(r *reporter) { ourPilot(ctx, c, r) },
		"app":   func(r *reporter) { ourApp(ctx, c, r) },
	})
}

const ourPath = "e2e/oursdk/db"

func ourData(v int) map[string]string {
	return map[string]string{"user": "admin", "pass": "s3cret-v" + strconv.Itoa(v)}
}

// readsAs checks that version v of ourPath (0: the current) holds
// ourData(want).
func readsAs(ctx context.Context, c *oursdk.Client, v, want int) error {
	s, err := c.GetSecret(ctx, ourPath, v)
	if err != nil {
		return fmt.Errorf("version %d: %w", v, err)
	}
	if !maps.Equal(s.Data, ourData(want)) {
		return fmt.Errorf("version %d holds other values than version %d's", v, want)
	}
	return nil
}

func ourPilot(ctx context.Context, c *oursdk.Client, r *reporter) {
	r.check("SPIFFEID", func() error {
		id, err := c.SPIFFEID()
		if err == nil && id.String() != system.ID("/spike/pilot/role/superuser") {
			err = fmt.Errorf("running as %s", id)
		}
		return err
	}())

	r.check("PutSecret", func() error {
		for v := 1; v <= 2; v++ {
			if _, err := c.PutSecret(ctx, ourPath, ourData(v)); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
		}
		v, err := c.PutSecret(ctx, ourPath, ourData(3), oursdk.CAS(2))
		if err == nil && v != 3 {
			err = fmt.Errorf("CAS write reported version %d, want 3", v)
		}
		return err
	}())

	r.check("PutSecret CAS conflict", func() error {
		_, err := c.PutSecret(ctx, ourPath, ourData(9), oursdk.CAS(1))
		if !errors.Is(err, oursdk.ErrConflict) {
			return fmt.Errorf("got %v, want ErrConflict", err)
		}
		return nil
	}())

	r.check("GetSecret", func() error {
		for v := 1; v <= 3; v++ {
			if err := readsAs(ctx, c, v, v); err != nil {
				return err
			}
		}
		return readsAs(ctx, c, 0, 3)
	}())

	r.check("GetSecret not found", func() error {
		_, err := c.GetSecret(ctx, "e2e/oursdk/none", 0)
		if !errors.Is(err, oursdk.ErrNotFound) {
			return fmt.Errorf("got %v, want ErrNotFound", err)
		}
		return nil
	}())

	r.check("ListSecrets", func() error {
		keys, next, err := c.ListSecrets(ctx, oursdk.ListOptions{Prefix: "e2e/oursdk/"})
		if err == nil && (!slices.Equal(keys, []string{ourPath}) || next != "") {
			err = fmt.Errorf("got %v, next %q", keys, next)
		}
		return err
	}())

	r.check("SecretMetadata", func() error {
		m, err := c.SecretMetadata(ctx, ourPath)
		if err != nil {
			return err
		}
		if m.CurrentVersion != 3 || m.OldestVersion != 1 || len(m.Versions) != 3 || m.Versions[0].CreatedTime.IsZero() {
			return fmt.Errorf("metadata %+v", m)
		}
		return nil
	}())

	r.check("DeleteSecret and UndeleteSecret", func() error {
		if err := c.DeleteSecret(ctx, ourPath, 1); err != nil {
			return err
		}
		if _, err := c.GetSecret(ctx, ourPath, 1); !errors.Is(err, oursdk.ErrNotFound) {
			return fmt.Errorf("deleted version 1: got %v, want ErrNotFound", err)
		}
		if err := c.UndeleteSecret(ctx, ourPath, 1); err != nil {
			return err
		}
		return readsAs(ctx, c, 1, 1)
	}())

	r.check("DestroySecret and SecretSettings", func() error {
		if err := c.DestroySecret(ctx, ourPath, 1); err != nil {
			return err
		}
		if _, err := c.GetSecret(ctx, ourPath, 1); !errors.Is(err, oursdk.ErrNotFound) {
			return fmt.Errorf("destroyed version 1: got %v, want ErrNotFound", err)
		}
		if err := c.PutSecretSettings(ctx, ourPath, oursdk.SetMaxVersions(7), oursdk.SetCustomMetadata(map[string]string{"team": "e2e"})); err != nil {
			return err
		}
		s, err := c.SecretSettings(ctx, ourPath)
		if err != nil {
			return err
		}
		if s.MaxVersions != 7 || s.CustomMetadata["team"] != "e2e" || !slices.Equal(s.Destroyed, []int{1}) {
			return fmt.Errorf("settings %+v", s)
		}
		return nil
	}())

	r.check("SecretHistory", func() error {
		events, _, err := c.SecretHistory(ctx, ourPath, oursdk.Page{})
		if err != nil {
			return err
		}
		var reads int
		for _, e := range events {
			if e.Type == "secret.read" && e.Actor == system.ID("/spike/pilot/role/superuser") {
				reads++
			}
		}
		if reads < 4 {
			return fmt.Errorf("%d reads by the superuser in %d events, want at least 4", reads, len(events))
		}
		return nil
	}())

	r.check("Policies", func() error {
		p := oursdk.Policy{Name: "demo", SPIFFEIDPattern: `^spiffe://spike\.test/workload/demo$`, PathPattern: `^tenants/demo/.*$`,
			Permissions: []api.Permission{api.PermWrite}}
		extra := oursdk.Policy{Name: "e2e-oursdk-extra", SPIFFEIDPattern: `^spiffe://spike\.test/workload/reader$`, PathPattern: `^e2e/.*$`,
			Permissions: []api.Permission{api.PermRead, api.PermList}}
		for _, x := range []oursdk.Policy{p, extra} {
			if err := c.PutPolicy(ctx, x); err != nil {
				return fmt.Errorf("put %s: %w", x.Name, err)
			}
		}
		got, err := c.GetPolicy(ctx, extra.Name)
		if err != nil {
			return err
		}
		if got.SPIFFEIDPattern != extra.SPIFFEIDPattern || got.PathPattern != extra.PathPattern || !slices.Equal(got.Permissions, extra.Permissions) {
			return fmt.Errorf("got %+v", got)
		}
		names, err := c.ListPolicies(ctx, oursdk.PolicyFilter{})
		if err != nil {
			return err
		}
		if !slices.Equal(names, []string{"demo", extra.Name}) {
			return fmt.Errorf("listed %v", names)
		}
		if err := c.DeletePolicy(ctx, extra.Name); err != nil {
			return err
		}
		if _, err := c.GetPolicy(ctx, extra.Name); !errors.Is(err, oursdk.ErrNotFound) {
			return fmt.Errorf("deleted policy: got %v, want ErrNotFound", err)
		}
		return nil // "demo" stays, for spike-demo
	}())

	plain := []byte("the quick brown fox jumps over the lazy dog")
	r.check("Encrypt and Decrypt", func() error {
		env, err := c.Encrypt(ctx, plain)
		if err != nil {
			return err
		}
		got, err := c.Decrypt(ctx, env)
		if err == nil && !bytes.Equal(got, plain) {
			err = errors.New("decrypted other bytes")
		}
		return err
	}())

	r.check("EncryptStream and DecryptStream", func() error {
		env, err := c.EncryptStream(ctx, bytes.NewReader(plain))
		if err != nil {
			return err
		}
		got, err := c.DecryptStream(ctx, bytes.NewReader(env))
		if err == nil && !bytes.Equal(got, plain) {
			err = errors.New("decrypted other bytes")
		}
		env[len(env)-1] ^= 1
		if _, terr := c.DecryptStream(ctx, bytes.NewReader(env)); !errors.Is(terr, api.CodeDecryptionFailed) {
			return fmt.Errorf("tampered envelope: got %v, want %q", terr, api.CodeDecryptionFailed)
		}
		return err
	}())

	r.check("BootstrapStatus", func() error {
		s, err := c.BootstrapStatus(ctx)
		if err == nil && (!s.Bootstrapped || s.Sealed || s.Shares != nKeepers || s.Threshold != 2) {
			err = fmt.Errorf("status %+v", s)
		}
		return err
	}())
}

// ourApp is a workload with no policy: refused, with ErrUnauthorized.
func ourApp(ctx context.Context, c *oursdk.Client, r *reporter) {
	unauthorized := func(err error) error {
		if !errors.Is(err, oursdk.ErrUnauthorized) {
			return fmt.Errorf("got %v, want ErrUnauthorized", err)
		}
		return nil
	}
	r.check("GetSecret (no policy: unauthorized)", func() error {
		_, err := c.GetSecret(ctx, ourPath, 0)
		return unauthorized(err)
	}())
	r.check("PutSecret (no policy: unauthorized)", func() error {
		_, err := c.PutSecret(ctx, ourPath, ourData(4))
		return unauthorized(err)
	}())
	r.check("PutPolicy (no policy: unauthorized)", unauthorized(c.PutPolicy(ctx, oursdk.Policy{Name: "mine",
		SPIFFEIDPattern: `^spiffe://spike\.test/workload/app$`, PathPattern: ".*", Permissions: []api.Permission{api.PermSuper}})))
	r.check("ListSecrets (no policy: nothing listed)", func() error {
		keys, _, err := c.ListSecrets(ctx, oursdk.ListOptions{})
		if err == nil && len(keys) != 0 {
			err = fmt.Errorf("listed %d paths", len(keys))
		}
		return err
	}())
}
