package identity

import (
	"strings"
	"testing"
)

// mapEnv is a lookup func over a fixed map, standing in for os.LookupEnv.
func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestNewRolesFromEnv(t *testing.T) {
	t.Parallel()
	all := []Role{RoleNexus, RoleKeeper, RoleBootstrap, RolePilotSuperuser, RoleLiteWorkload, RoleWorkload}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want map[Role]string // role → roots joined by ","; unlisted roles want the "*" entry
		err  string          // the variable the error must name
	}{
		{name: "defaults", env: nil, want: map[Role]string{"*": "spike.ist"}},
		{name: "general falls back for every role (SPIKE bug 15)",
			env:  map[string]string{EnvTrustRoot: "example.org"},
			want: map[Role]string{"*": "example.org"}},
		{name: "role variable wins",
			env:  map[string]string{EnvTrustRoot: "example.org", EnvTrustRootNexus: "n.org", EnvTrustRootPilot: "p.org"},
			want: map[Role]string{"*": "example.org", RoleNexus: "n.org", RolePilotSuperuser: "p.org"}},
		{name: "role variable without general",
			env:  map[string]string{EnvTrustRootKeeper: "k.org"},
			want: map[Role]string{"*": "spike.ist", RoleKeeper: "k.org"}},
		{name: "lists trimmed and deduplicated",
			env:  map[string]string{EnvTrustRootBootstrap: " a.org ,b.org,a.org"},
			want: map[Role]string{"*": "spike.ist", RoleBootstrap: "a.org,b.org"}},
		{name: "empty means unset",
			env:  map[string]string{EnvTrustRoot: "g.org", EnvTrustRootLiteWorkload: "  "},
			want: map[Role]string{"*": "g.org"}},
		{name: "path and SPIFFE ID forms",
			env:  map[string]string{EnvTrustRootNexus: "example.org/tenant/pepsi,spiffe://x.org/t"},
			want: map[Role]string{"*": "spike.ist", RoleNexus: "example.org/tenant/pepsi,x.org/t"}},
		{name: "uppercase", env: map[string]string{EnvTrustRootNexus: "Spike.IST"}, err: EnvTrustRootNexus},
		{name: "empty entry", env: map[string]string{EnvTrustRootKeeper: "a.org,,b.org"}, err: EnvTrustRootKeeper},
		{name: "trailing comma", env: map[string]string{EnvTrustRootPilot: "a.org,"}, err: EnvTrustRootPilot},
		{name: "port", env: map[string]string{EnvTrustRootBootstrap: "a.org:8443"}, err: EnvTrustRootBootstrap},
		{name: "space inside", env: map[string]string{EnvTrustRootLiteWorkload: "a org"}, err: EnvTrustRootLiteWorkload},
		{name: "trailing slash", env: map[string]string{EnvTrustRootNexus: "a.org/"}, err: EnvTrustRootNexus},
		{name: "dot segment", env: map[string]string{EnvTrustRootNexus: "a.org/../b"}, err: EnvTrustRootNexus},
		{name: "bad scheme", env: map[string]string{EnvTrustRootNexus: "https://a.org"}, err: EnvTrustRootNexus},
		{name: "bad general", env: map[string]string{EnvTrustRoot: "a_b/c d", EnvTrustRootNexus: "n.org"}, err: EnvTrustRoot + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewRoles(mapEnv(tc.env))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("accepted %v", tc.env)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "identity: "+tc.err) || strings.Contains(msg, "\n") {
					t.Fatalf("error %q does not start by naming %s", msg, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, role := range all {
				want, ok := tc.want[role]
				if !ok {
					want = tc.want["*"]
				}
				var got []string
				for _, root := range r.Roots(role) {
					got = append(got, root.String())
				}
				if strings.Join(got, ",") != want {
					t.Errorf("%s roots = %v, want %s", role, got, want)
				}
			}
		})
	}
}

func TestParseTrustRoot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, td, path string
		ok           bool
	}{
		{"spike.ist", "spike.ist", "", true},
		{" spike.ist ", "spike.ist", "", true},
		{"example.org/tenant/pepsi", "example.org", "/tenant/pepsi", true},
		{"spiffe://example.org", "example.org", "", true},
		{"spiffe://example.org/t", "example.org", "/t", true},
		{"", "", "", false},
		{"/tenant", "", "", false},
		{"a.org//t", "", "", false},
		{"spiffe://", "", "", false},
		{"spiffe://a.org/", "", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrustRoot(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseTrustRoot(%q) = %v, %v", tc.in, got, err)
			}
			if tc.ok && (got.TrustDomain.Name() != tc.td || got.Path != tc.path) {
				t.Fatalf("ParseTrustRoot(%q) = %s + %q", tc.in, got.TrustDomain, got.Path)
			}
		})
	}
}
