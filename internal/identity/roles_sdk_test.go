package identity

// Agreement with SPIKE v0.8: the role predicates of SPIKE's SDK v0.19.9
// (the version SPIKE v0.8 pins) decide every ID the same way as Roles.
// They read the trust roots from the environment, so the tests that call
// them set it and cannot run in parallel.

import (
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	sdkenv "github.com/spiffe/spike-sdk-go/config/env"
	sdkid "github.com/spiffe/spike-sdk-go/spiffeid"
)

// sdkPredicates pairs each SPIKE predicate with ours. SPIKE's
// IsPilotOperator is the superuser; SPIKE has no admin, operator or
// auditor pilot, and no workload/<name> role.
func sdkPredicates(r *Roles) map[string]struct {
	spike func(string) bool
	ours  func(spiffeid.ID) bool
} {
	type pair = struct {
		spike func(string) bool
		ours  func(spiffeid.ID) bool
	}
	return map[string]pair{
		"IsNexus":         {sdkid.IsNexus, r.IsNexus},
		"IsKeeper":        {sdkid.IsKeeper, r.IsKeeper},
		"IsBootstrap":     {sdkid.IsBootstrap, r.IsBootstrap},
		"IsPilotOperator": {sdkid.IsPilotOperator, r.IsPilotSuperuser},
		"IsPilotRecover":  {sdkid.IsPilotRecover, r.IsPilotRecover},
		"IsPilotRestore":  {sdkid.IsPilotRestore, r.IsPilotRestore},
		"IsLiteWorkload":  {sdkid.IsLiteWorkload, r.IsLiteWorkload},
	}
}

// sdkEnvNames are the trust-root variables, ours checked against SPIKE's.
var sdkEnvNames = map[string]string{
	EnvTrustRoot:             sdkenv.TrustRoot,
	EnvTrustRootNexus:        sdkenv.TrustRootNexus,
	EnvTrustRootKeeper:       sdkenv.TrustRootKeeper,
	EnvTrustRootBootstrap:    sdkenv.TrustRootBootstrap,
	EnvTrustRootPilot:        sdkenv.TrustRootPilot,
	EnvTrustRootLiteWorkload: sdkenv.TrustRootLiteWorkload,
}

// setSPIKEEnv sets every trust-root variable to its value in env, or to
// "" (which both SPIKE and spike read as unset).
func setSPIKEEnv(t testing.TB, env map[string]string) {
	for ours, theirs := range sdkEnvNames {
		if ours != theirs {
			t.Fatalf("variable %s is %s in SPIKE's SDK", ours, theirs)
		}
		t.Setenv(ours, env[ours])
	}
}

// roleIDs returns SPIFFE IDs in and around every role's ID under every
// root: exact, with an instance suffix or more segments, glued to a
// longer name, above the role, under a longer root path, in a look-alike
// trust domain.
func roleIDs(roots []string) []string {
	paths := []string{
		PathNexus, PathKeeper, PathKeeper + "/1", PathKeeper + "/spike-keeper-0", PathBootstrap,
		PathPilotSuperuser, PathPilotRecover, PathPilotRestore, PathPilotAdmin, PathPilotOperator,
		PathPilotAuditor, PathLiteWorkload, PathWorkloads + "/demo",
		"/spike", "/spike/pilot", "/spike/pilot/role", "/spike/workload/role",
	}
	suffixes := []string{"", "/instance-0", "/instance-0/zone-a", "/1", "-evil", "-evil/instance-0", "x", "s/instance-0", ".d"}
	var ids []string
	for _, root := range roots {
		td, rootPath, _ := strings.Cut(root, "/")
		if rootPath != "" {
			rootPath = "/" + rootPath
		}
		for _, host := range []string{td, "evil." + td, td + ".evil"} {
			for _, prefix := range []string{rootPath, rootPath + "/x", rootPath + "-x"} {
				for _, p := range paths {
					for _, suffix := range suffixes {
						ids = append(ids, "spiffe://"+host+prefix+p+suffix)
					}
				}
			}
		}
	}
	return ids
}

// TestRolesAgreeWithSPIKE: for every ID roleIDs makes, under several
// trust-root settings, each of SPIKE's predicates and ours decide alike.
// Every role variable is set where SPIKE and spike differ on purpose
// (SPIKE's fall back to spike.ist, ours to SPIKE_TRUST_ROOT), so that
// only the matching is compared.
func TestRolesAgreeWithSPIKE(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		roots []string // the roots to build IDs under
	}{
		{name: "defaults", roots: []string{"spike.ist", "example.org"}},
		{name: "one root per role", env: map[string]string{
			EnvTrustRoot: "g.org", EnvTrustRootNexus: "n.org", EnvTrustRootKeeper: "k.org",
			EnvTrustRootBootstrap: "b.org", EnvTrustRootPilot: "p.org", EnvTrustRootLiteWorkload: "l.org",
		}, roots: []string{"g.org", "n.org", "k.org", "b.org", "p.org", "l.org", "spike.ist"}},
		{name: "lists and tenant paths", env: map[string]string{
			EnvTrustRoot: "spike.ist", EnvTrustRootNexus: "example.org/tenant/pepsi, spike.ist",
			EnvTrustRootKeeper: "example.org/tenant/pepsi,k.org", EnvTrustRootBootstrap: "spike.ist",
			EnvTrustRootPilot: " a.org , example.org/tenant/coke", EnvTrustRootLiteWorkload: "example.org/tenant/pepsi/lite",
		}, roots: []string{"spike.ist", "example.org", "example.org/tenant/pepsi", "example.org/tenant/coke",
			"example.org/tenant/pepsi/lite", "a.org", "k.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setSPIKEEnv(t, tc.env)
			roles, err := NewRoles(mapEnv(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			preds := sdkPredicates(roles)
			compared, suffixed := 0, 0
			for _, s := range roleIDs(tc.roots) {
				id, err := spiffeid.FromString(s)
				if err != nil {
					continue // SPIKE never sees an invalid ID: the TLS handshake refuses it
				}
				compared++
				for name, p := range preds {
					spike, ours := p.spike(s), p.ours(id)
					if spike != ours {
						t.Errorf("%s(%s): SPIKE says %v, spike %v", name, s, spike, ours)
					}
					if spike && strings.Contains(s, "/instance-0") {
						suffixed++
					}
				}
			}
			// The table must reach both answers, with and without a suffix.
			if compared < 1000 || suffixed < 10 {
				t.Fatalf("compared %d IDs, %d accepted with an instance suffix", compared, suffixed)
			}
		})
	}
}
