//go:build linux

package sdk

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	sdkapi "github.com/spiffe/spike-sdk-go/api"
	"github.com/spiffe/spike-sdk-go/api/entity/data"
	sdkErrors "github.com/spiffe/spike-sdk-go/errors"

	"github.com/spikeledger/spike/test/e2e/system"
)

const (
	nKeepers = 3

	// roleEnv tells the re-executed test binary which role to play:
	// "pilot" (spike/pilot/role/superuser) or "app" (workload/app).
	roleEnv = "SPIKE_E2E_SDK_ROLE"
)

// The test binary's role names in the testbed.
const (
	pilotBin = "pilot" // the test binary as spike/pilot/role/superuser
	appBin   = "app"   // the test binary as workload/app
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// ---------------------------------------------------------------------
// The parent: SPIRE, keepers, Nexus, bootstrap, then the role children.
// ---------------------------------------------------------------------

// setup builds the binaries and starts a SPIRE of the calling test's own,
// stopped when the test ends, so that no test leaves one running for the
// next. Under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE: skipped with -short")
	}
	begin := time.Now()
	tb, err := system.NewTestbed(t.Context(), system.Options{
		Prefix:  "spike-sdk-",
		Keepers: nKeepers,
		Workloads: []system.Workload{
			{Name: pilotBin, ID: "/spike/pilot/role/superuser"},
			{Name: appBin, ID: "/workload/app"},
		},
	})
	if err != nil {
		t.Fatalf("end-to-end setup failed: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("sdk e2e: %v", err)
		}
	})
	t.Logf("binaries built and SPIRE started in %v", time.Since(begin).Round(time.Millisecond))
	return tb
}

// outcome is one SDK call as the child saw it.
type outcome struct {
	Method string `json:"method"`
	OK     bool   `json:"ok"`
	Err    string `json:"err,omitempty"`
}

func TestSDKAgainstNexus(t *testing.T) {
	tb := setup(t)
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: nKeepers, Threshold: 2, Env: []string{"SPIKE_SYSTEM_LOG_LEVEL=debug"}})

	// The SDK's clients: only what the SDK reads, nothing of ours.
	clientEnv := func(role string) []string {
		return append(system.BaseEnv(),
			tb.Cluster().Env(),
			"SPIKE_NEXUS_API_URL="+d.NexusURL(),
			"SPIKE_TRUST_ROOT="+system.TrustDomain,
			"SPIKE_TRUST_ROOT_NEXUS="+system.TrustDomain,
			roleEnv+"="+role,
		)
	}
	for _, tc := range []struct{ role, bin string }{{"pilot", tb.Path(pilotBin)}, {"app", tb.Path(appBin)}} {
		t.Run(tc.role, func(t *testing.T) {
			r := system.Run(t, system.Cmd{Bin: tc.bin, Env: clientEnv(tc.role)})
			var report []outcome
			if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil || r.Code != 0 {
				t.Fatalf("%s child: report %v\n%s", tc.role, err, r)
			}
			failed := false
			for _, o := range report {
				if o.OK {
					t.Logf("ok   %s", o.Method)
				} else {
					failed = true
					t.Errorf("FAIL %s: %s", o.Method, o.Err)
				}
			}
			if len(report) == 0 {
				t.Fatal("empty report")
			}
			if failed {
				t.Logf("--- child stderr ---\n%s\n--- nexus log ---\n%s", r.Stderr, system.Tail(d.NexusLog()))
			}
		})
	}
}

// ---------------------------------------------------------------------
// The children: SDK calls under a workload identity.
// ---------------------------------------------------------------------

// errOf turns the SDK's typed error into a plain one, nil when nil.
func errOf(e *sdkErrors.SDKError) error {
	if e == nil {
		return nil
	}
	return e
}

type reporter struct {
	out []outcome
}

// check records method as ok when err is nil, else with err.
func (r *reporter) check(method string, err error) {
	o := outcome{Method: method, OK: err == nil}
	if err != nil {
		o.Err = err.Error()
	}
	r.out = append(r.out, o)
}

func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, serr := sdkapi.New()
	if serr != nil {
		fmt.Fprintf(os.Stderr, "sdk role %s: api.New: %v\n", role, serr)
		return 1
	}
	defer client.Close()
	return playRole(role, map[string]func(*reporter){
		"pilot": func(r *reporter) { pilot(ctx, client, r) },
		"app":   func(r *reporter) { app(ctx, client, r) },
	})
}

// playRole runs the child's part for role and prints what it saw as JSON
// for the parent test; it returns the child's exit status.
func playRole(role string, parts map[string]func(*reporter)) int {
	part, ok := parts[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		return 1
	}
	r := &reporter{}
	part(r)
	if err := json.NewEncoder(os.Stdout).Encode(r.out); err != nil {
		return 1
	}
	return 0
}

const secretPath = "e2e/sdk/db"

func versionData(v int) map[string]string {
	return map[string]string{"user": "admin", "pass": "s3cret-v" + strconv.Itoa(v)}
}

func sameData(got *data.Secret, want map[string]string) error {
	if got == nil {
		return errors.New("nil secret")
	}
	if len(got.Data) != len(want) {
		return fmt.Errorf("got %v, want %v", got.Data, want)
	}
	for k, v := range want {
		if got.Data[k] != v {
			return fmt.Errorf("got %v, want %v", got.Data, want)
		}
	}
	return nil
}

func pilot(ctx context.Context, c *sdkapi.API, r *reporter) {
	// PutSecret: three versions.
	var putErr error
	for v := 1; v <= 3; v++ {
		if err := errOf(c.PutSecret(ctx, secretPath, versionData(v))); err != nil {
			putErr = fmt.Errorf("version %d: %w", v, err)
			break
		}
	}
	r.check("PutSecret", putErr)

	r.check("GetSecret", func() error {
		s, err := c.GetSecret(ctx, secretPath)
		if err != nil {
			return err
		}
		return sameData(s, versionData(3))
	}())

	r.check("GetSecretVersion", func() error {
		for v := 1; v <= 3; v++ {
			s, err := c.GetSecretVersion(ctx, secretPath, v)
			if err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
			if err := sameData(s, versionData(v)); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
		}
		return nil
	}())

	r.check("ListSecretKeys", func() error {
		keys, err := c.ListSecretKeys(ctx)
		if err != nil {
			return err
		}
		if keys == nil || !slices.Contains(*keys, secretPath) {
			return fmt.Errorf("%v does not contain %q", keys, secretPath)
		}
		return nil
	}())

	r.check("GetSecretMetadata", func() error {
		m, err := c.GetSecretMetadata(ctx, secretPath, 0)
		if err != nil {
			return err
		}
		if m == nil {
			return errors.New("nil metadata")
		}
		if len(m.Versions) != 3 {
			return fmt.Errorf("versions %+v: want 3", m.Versions)
		}
		for v := 1; v <= 3; v++ {
			info, ok := m.Versions[v]
			if !ok || info.Version != v || info.CreatedTime.IsZero() || info.DeletedTime != nil {
				return fmt.Errorf("versions[%d] = %+v (present %v)", v, info, ok)
			}
		}
		if m.Metadata.CurrentVersion != 3 || m.Metadata.OldestVersion != 1 {
			return fmt.Errorf("metadata %+v: want current 3, oldest 1", m.Metadata)
		}
		return nil
	}())

	r.check("DeleteSecretVersions", func() error {
		if err := errOf(c.DeleteSecretVersions(ctx, secretPath, []int{1})); err != nil {
			return err
		}
		if _, err := c.GetSecretVersion(ctx, secretPath, 1); err == nil {
			return errors.New("version 1 still readable after delete")
		}
		s, err := c.GetSecret(ctx, secretPath)
		if err != nil {
			return fmt.Errorf("current after deleting version 1: %w", err)
		}
		if err := sameData(s, versionData(3)); err != nil {
			return fmt.Errorf("current after deleting version 1: %w", err)
		}
		m, err := c.GetSecretMetadata(ctx, secretPath, 0)
		if err != nil {
			return err
		}
		if m.Versions[1].DeletedTime == nil {
			return fmt.Errorf("metadata version 1 not marked deleted: %+v", m.Versions[1])
		}
		return nil
	}())

	r.check("DeleteSecret", func() error {
		if err := errOf(c.DeleteSecret(ctx, secretPath)); err != nil {
			return err
		}
		if _, err := c.GetSecretVersion(ctx, secretPath, 3); err == nil {
			return errors.New("version 3 still readable after DeleteSecret")
		}
		return nil
	}())

	r.check("UndeleteSecret", func() error {
		if err := errOf(c.UndeleteSecret(ctx, secretPath, []int{1, 3})); err != nil {
			return err
		}
		for _, v := range []int{1, 3} {
			s, err := c.GetSecretVersion(ctx, secretPath, v)
			if err != nil {
				return fmt.Errorf("version %d after undelete: %w", v, err)
			}
			if err := sameData(s, versionData(v)); err != nil {
				return fmt.Errorf("version %d after undelete: %w", v, err)
			}
		}
		s, err := c.GetSecret(ctx, secretPath)
		if err != nil {
			return fmt.Errorf("current after undelete: %w", err)
		}
		return sameData(s, versionData(3))
	}())

	// Policies.
	const (
		polName = "e2e-sdk-policy"
		polID   = "^spiffe://spike\\.test/workload/reader$"
		polPath = "^e2e/sdk/.*$"
	)
	perms := []data.PolicyPermission{data.PermissionRead, data.PermissionList}
	r.check("CreatePolicy", errOf(c.CreatePolicy(ctx, polName, polID, polPath, perms)))

	var policyID string
	r.check("ListPolicies", func() error {
		items, err := c.ListPolicies(ctx, polID, "")
		if err != nil {
			return err
		}
		if items == nil {
			return errors.New("nil list")
		}
		// SPIKE v0.8 keys policies by name: listed IDs are "" and the
		// SDK's "id" arguments carry the name (SPIKE issue #250).
		for _, it := range *items {
			if it.Name == polName {
				policyID = cmp.Or(it.ID, it.Name)
			}
		}
		if policyID == "" {
			return fmt.Errorf("%+v: no %q", *items, polName)
		}
		return nil
	}())

	r.check("ListAllPolicies", func() error {
		items, err := c.ListAllPolicies(ctx)
		if err != nil {
			return err
		}
		if items == nil || !slices.ContainsFunc(*items, func(it data.PolicyListItem) bool { return it.Name == polName }) {
			return fmt.Errorf("%v: no %q", items, polName)
		}
		return nil
	}())

	r.check("GetPolicy", func() error {
		if policyID == "" {
			return errors.New("no policy id (ListPolicies failed)")
		}
		p, err := c.GetPolicy(ctx, policyID)
		if err != nil {
			return err
		}
		if p == nil {
			return errors.New("nil policy")
		}
		if cmp.Or(p.ID, p.Name) != policyID || p.Name != polName || p.SPIFFEIDPattern != polID || p.PathPattern != polPath ||
			!slices.Equal(p.Permissions, perms) || p.CreatedAt.IsZero() {
			return fmt.Errorf("got %+v", *p)
		}
		return nil
	}())

	r.check("DeletePolicy", func() error {
		if policyID == "" {
			return errors.New("no policy id (ListPolicies failed)")
		}
		if err := errOf(c.DeletePolicy(ctx, policyID)); err != nil {
			return err
		}
		if _, err := c.GetPolicy(ctx, policyID); err == nil {
			return errors.New("policy still there after delete")
		}
		items, err := c.ListAllPolicies(ctx)
		if err != nil {
			return err
		}
		if items != nil && slices.ContainsFunc(*items, func(it data.PolicyListItem) bool { return cmp.Or(it.ID, it.Name) == policyID }) {
			return errors.New("policy still listed after delete")
		}
		return nil
	}())

	// Cipher. The SDK's CipherEncrypt (JSON) returns only the ciphertext,
	// not the version and nonce CipherDecrypt needs; the JSON decrypt is
	// therefore checked on the stream envelope (version || nonce ||
	// ciphertext).
	plain := []byte("the quick brown fox jumps over the lazy dog")
	r.check("CipherEncrypt", func() error {
		ct, err := c.CipherEncrypt(ctx, plain, "")
		if err != nil {
			return err
		}
		if len(ct) != len(plain)+16 {
			return fmt.Errorf("ciphertext of %d bytes for %d of plaintext: want +16 (GCM tag)", len(ct), len(plain))
		}
		return nil
	}())

	var envelope []byte
	r.check("CipherEncryptStream", func() error {
		env, err := c.CipherEncryptStream(ctx, bytes.NewReader(plain))
		if err != nil {
			return err
		}
		if len(env) != 1+12+len(plain)+16 || env[0] != 1 {
			return fmt.Errorf("envelope of %d bytes, version %d: want %d bytes, version 1", len(env), env[0], 1+12+len(plain)+16)
		}
		envelope = env
		return nil
	}())

	r.check("CipherDecryptStream", func() error {
		if envelope == nil {
			return errors.New("no envelope (CipherEncryptStream failed)")
		}
		got, err := c.CipherDecryptStream(ctx, bytes.NewReader(envelope))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, plain) {
			return fmt.Errorf("got %q, want %q", got, plain)
		}
		return nil
	}())

	r.check("CipherDecrypt", func() error {
		if envelope == nil {
			return errors.New("no envelope (CipherEncryptStream failed)")
		}
		got, err := c.CipherDecrypt(ctx, envelope[0], envelope[1:13], envelope[13:], "")
		if err != nil {
			return err
		}
		if !bytes.Equal(got, plain) {
			return fmt.Errorf("got %q, want %q", got, plain)
		}
		return nil
	}())
}

// app is a workload with no policy: reading a secret must be refused.
func app(ctx context.Context, c *sdkapi.API, r *reporter) {
	r.check("GetSecret (no policy: unauthorized)", func() error {
		s, err := c.GetSecret(ctx, secretPath)
		if err == nil {
			return fmt.Errorf("read %v without a policy", s)
		}
		if !errors.Is(err, sdkErrors.ErrAccessUnauthorized) {
			return fmt.Errorf("got %v (code %q), want %v", err, err.Code, sdkErrors.ErrAccessUnauthorized)
		}
		return nil
	}())
}
