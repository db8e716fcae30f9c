package identity

import (
	"fmt"
	"slices"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// predicates lists every Is* method of r by role.
func predicates(r *Roles) map[Role]func(spiffeid.ID) bool {
	return map[Role]func(spiffeid.ID) bool{
		RoleNexus:          r.IsNexus,
		RoleKeeper:         r.IsKeeper,
		RoleBootstrap:      r.IsBootstrap,
		RolePilotSuperuser: r.IsPilotSuperuser,
		RolePilotRecover:   r.IsPilotRecover,
		RolePilotRestore:   r.IsPilotRestore,
		RolePilotAdmin:     r.IsPilotAdmin,
		RolePilotOperator:  r.IsPilotOperator,
		RolePilotAuditor:   r.IsPilotAuditor,
		RoleLiteWorkload:   r.IsLiteWorkload,
		RoleWorkload:       func(id spiffeid.ID) bool { _, ok := r.WorkloadName(id); return ok },
	}
}

func TestRolesPredicates(t *testing.T) {
	t.Parallel()
	tenants, err := NewRoles(mapEnv(map[string]string{
		EnvTrustRoot:             "spike.ist",
		EnvTrustRootNexus:        "example.org/tenant/pepsi",
		EnvTrustRootPilot:        "a.org, b.org",
		EnvTrustRootLiteWorkload: "lite.org",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		roles *Roles
		id    string
		want  Role
		name  string // keeper id or workload name
	}{
		{DefaultRoles(), "spiffe://spike.ist/spike/nexus", RoleNexus, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/nexus-evil", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/nexusx", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/nexus/replica", RoleNexus, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/nexus/instance-0/zone-a", RoleNexus, ""},
		{DefaultRoles(), "spiffe://spike.ist/x/spike/nexus", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/Spike/Nexus", RoleNone, ""},
		{DefaultRoles(), "spiffe://other.org/spike/nexus", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist.evil/spike/nexus", RoleNone, ""},
		{DefaultRoles(), "spiffe://evil.spike.ist/spike/nexus", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper", RoleKeeper, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper/1", RoleKeeper, "1"},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper/keeper-b.zone_2", RoleKeeper, "keeper-b.zone_2"},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper/1/x", RoleKeeper, "1"},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper/2/instance-0", RoleKeeper, "2"},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper/spike-keeper-0", RoleKeeper, "spike-keeper-0"},
		{DefaultRoles(), "spiffe://spike.ist/spike/keepers/1", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/keeper-1", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/bootstrap", RoleBootstrap, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/bootstrap/x", RoleBootstrap, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/bootstrapx", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/superuser", RolePilotSuperuser, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/recover", RolePilotRecover, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/restore", RolePilotRestore, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/admin", RolePilotAdmin, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/operator", RolePilotOperator, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/auditor", RolePilotAuditor, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/superuser/x", RolePilotSuperuser, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/superuser/instance-0", RolePilotSuperuser, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/recover/instance-0", RolePilotRecover, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/restore/instance-0", RolePilotRestore, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/admin/instance-0", RolePilotAdmin, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/operator/instance-0", RolePilotOperator, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/auditor/a/b", RolePilotAuditor, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/superusers", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/superuser-evil", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/superuser-evil/instance-0", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role/auditorx", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/x/spike/pilot/role/superuser", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot/role", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/pilot", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/workload/role/lite", RoleLiteWorkload, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/workload/role/lite/x", RoleLiteWorkload, ""},
		{DefaultRoles(), "spiffe://spike.ist/spike/workload/role/lite-x", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/workload/demo", RoleWorkload, "demo"},
		{DefaultRoles(), "spiffe://spike.ist/workload", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist/workload/a/b", RoleWorkload, "a"},
		{DefaultRoles(), "spiffe://spike.ist/workloads/a", RoleNone, ""},
		{DefaultRoles(), "spiffe://other.org/workload/demo", RoleNone, ""},
		{DefaultRoles(), "spiffe://spike.ist", RoleNone, ""},
		{tenants, "spiffe://example.org/tenant/pepsi/spike/nexus", RoleNexus, ""},
		{tenants, "spiffe://example.org/tenant/pepsi/spike/nexus/instance-0", RoleNexus, ""},
		{tenants, "spiffe://example.org/tenant/pepsi-x/spike/nexus/instance-0", RoleNone, ""},
		{tenants, "spiffe://example.org/spike/nexus", RoleNone, ""},
		{tenants, "spiffe://example.org/tenant/coke/spike/nexus", RoleNone, ""},
		{tenants, "spiffe://example.org/tenant/pepsi-x/spike/nexus", RoleNone, ""},
		{tenants, "spiffe://spike.ist/spike/nexus", RoleNone, ""},
		{tenants, "spiffe://a.org/spike/pilot/role/superuser", RolePilotSuperuser, ""},
		{tenants, "spiffe://b.org/spike/pilot/role/auditor", RolePilotAuditor, ""},
		{tenants, "spiffe://b.org/spike/pilot/role/superuser/instance-0", RolePilotSuperuser, ""},
		{tenants, "spiffe://c.org/spike/pilot/role/superuser/instance-0", RoleNone, ""},
		{tenants, "spiffe://spike.ist/spike/pilot/role/superuser", RoleNone, ""},
		{tenants, "spiffe://spike.ist/spike/keeper/7", RoleKeeper, "7"},
		{tenants, "spiffe://lite.org/spike/workload/role/lite", RoleLiteWorkload, ""},
		{tenants, "spiffe://spike.ist/spike/workload/role/lite", RoleNone, ""},
	} {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			id := spiffeid.RequireFromString(tc.id)
			if got := tc.roles.Of(id); got != tc.want {
				t.Fatalf("Of = %q, want %q", got, tc.want)
			}
			for role, pred := range predicates(tc.roles) {
				if got := pred(id); got != (role == tc.want) {
					t.Errorf("%s predicate = %v", role, got)
				}
			}
			if k, ok := tc.roles.KeeperID(id); ok != (tc.want == RoleKeeper) || (ok && k != tc.name) {
				t.Errorf("KeeperID = %q, %v", k, ok)
			}
			if n, ok := tc.roles.WorkloadName(id); ok != (tc.want == RoleWorkload) || (ok && n != tc.name) {
				t.Errorf("WorkloadName = %q, %v", n, ok)
			}
		})
	}
}

// TestIsKeeperAt: a numbered keeper answers only at its position, with
// or without an instance suffix; a keeper without a number (bare, or
// named after its pod as SPIKE's Helm charts do) at any, as in SPIKE.
func TestIsKeeperAt(t *testing.T) {
	t.Parallel()
	r := DefaultRoles()
	for _, tc := range []struct {
		id   string
		want []int // the positions from 1 to 3 it may answer at
	}{
		{"spiffe://spike.ist/spike/keeper/1", []int{1}},
		{"spiffe://spike.ist/spike/keeper/2", []int{2}},
		{"spiffe://spike.ist/spike/keeper/2/instance-0", []int{2}},
		{"spiffe://spike.ist/spike/keeper/3/a/b", []int{3}},
		{"spiffe://spike.ist/spike/keeper/02", []int{2}},
		{"spiffe://spike.ist/spike/keeper/0", nil},
		{"spiffe://spike.ist/spike/keeper/4", nil},
		{"spiffe://spike.ist/spike/keeper/99999999999999999999999", nil},
		{"spiffe://spike.ist/spike/keeper", []int{1, 2, 3}},
		{"spiffe://spike.ist/spike/keeper/spike-keeper-0", []int{1, 2, 3}},
		{"spiffe://spike.ist/spike/keeper/instance-0", []int{1, 2, 3}},
		{"spiffe://spike.ist/spike/keeper/2x", []int{1, 2, 3}},
		{"spiffe://spike.ist/spike/keeper-2", nil},
		{"spiffe://spike.ist/spike/nexus", nil},
		{"spiffe://other.org/spike/keeper/1", nil},
	} {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			id := spiffeid.RequireFromString(tc.id)
			var got []int
			for pos := 1; pos <= 3; pos++ {
				if r.IsKeeperAt(id, pos) {
					got = append(got, pos)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("positions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRolesID(t *testing.T) {
	t.Parallel()
	r, err := NewRoles(mapEnv(map[string]string{EnvTrustRootNexus: "example.org/tenant/pepsi"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role Role
		name string
		want string // "" means an error
	}{
		{RoleNexus, "", "spiffe://example.org/tenant/pepsi/spike/nexus"},
		{RoleKeeper, "", "spiffe://spike.ist/spike/keeper"},
		{RoleKeeper, "2", "spiffe://spike.ist/spike/keeper/2"},
		{RoleBootstrap, "", "spiffe://spike.ist/spike/bootstrap"},
		{RolePilotAuditor, "", "spiffe://spike.ist/spike/pilot/role/auditor"},
		{RoleLiteWorkload, "", "spiffe://spike.ist/spike/workload/role/lite"},
		{RoleWorkload, "demo", "spiffe://spike.ist/workload/demo"},
		{RoleWorkload, "", ""},
		{RoleKeeper, "a/b", ""},
		{RoleKeeper, "..", ""},
		{RoleNexus, "x", ""},
		{RoleNone, "", ""},
		{Role("bogus"), "", ""},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.role, tc.name), func(t *testing.T) {
			t.Parallel()
			id, err := r.ID(tc.role, tc.name)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ID = %s; want an error", id)
				}
				return
			}
			if err != nil || id.String() != tc.want {
				t.Fatalf("ID = %s, %v; want %s", id, err, tc.want)
			}
			if got := r.Of(id); got != tc.role {
				t.Fatalf("Of(ID(%s)) = %s", tc.role, got)
			}
		})
	}
}

func TestRolesRootsAndTrustDomains(t *testing.T) {
	t.Parallel()
	r, err := NewRoles(mapEnv(map[string]string{EnvTrustRoot: "a.org", EnvTrustRootKeeper: "k.org,a.org"}))
	if err != nil {
		t.Fatal(err)
	}
	roots := r.Roots(RoleKeeper)
	roots[0] = TrustRoot{} // a copy: the Roles value is unaffected
	if got := r.Roots(RoleKeeper); got[0].String() != "k.org" || got[1].String() != "a.org" {
		t.Fatalf("keeper roots %v", got)
	}
	var names []string
	for _, td := range r.TrustDomains() {
		names = append(names, td.Name())
	}
	if !slices.Equal(names, []string{"a.org", "k.org"}) {
		t.Fatalf("TrustDomains = %v", names)
	}
	if len(AllRoles()) != len(predicates(r)) {
		t.Fatalf("AllRoles has %d roles, predicates %d", len(AllRoles()), len(predicates(r)))
	}
	var zero Roles
	if zero.Of(spiffeid.RequireFromString("spiffe://spike.ist/spike/nexus")) != RoleNone {
		t.Fatal("zero Roles accepted an ID")
	}
}

func FuzzRoles(f *testing.F) {
	for _, s := range []string{
		"spiffe://spike.ist/spike/nexus", "spiffe://spike.ist/spike/keeper/1",
		"spiffe://spike.ist/spike/keeper/1/x", "spiffe://spike.ist/workload/demo",
		"spiffe://spike.ist/spike/pilot/role/admin", "spiffe://example.org/tenant/pepsi/spike/nexus",
		"spiffe://spike.ist/spike/nexus-evil", "spiffe://spike.ist", "spiffe://SPIKE.IST/spike/nexus",
		"spiffe://spike.ist/spike//nexus", "spiffe://spike.ist/spike/nexus/", "http://spike.ist/spike/nexus",
		"spiffe://spike.ist/spike/pilot/role/superuser/instance-0", "spiffe://spike.ist/spike/keeper/2/instance-0",
		"spiffe://spike.ist/spike/pilot/role/superuser-evil",
	} {
		f.Add(s)
	}
	roles := []*Roles{DefaultRoles()}
	tenants, err := NewRoles(mapEnv(map[string]string{
		EnvTrustRootNexus: "example.org/tenant/pepsi", EnvTrustRootPilot: "a.org,spike.ist",
	}))
	if err != nil {
		f.Fatal(err)
	}
	roles = append(roles, tenants)
	setSPIKEEnv(f, nil) // SPIKE's predicates then agree with DefaultRoles
	spike := sdkPredicates(roles[0])
	f.Fuzz(func(t *testing.T, s string) {
		id, err := spiffeid.FromString(s)
		if err != nil {
			return
		}
		for _, r := range roles {
			checkRoleConsistency(t, r, id)
		}
		for name, p := range spike {
			if p.spike(id.String()) != p.ours(id) {
				t.Fatalf("%s(%s): SPIKE says %v", name, id, !p.ours(id))
			}
		}
	})
}

// checkRoleConsistency asserts that at most one role holds id, that Of
// agrees with the predicates and that the role's ID round-trips.
func checkRoleConsistency(t *testing.T, r *Roles, id spiffeid.ID) {
	t.Helper()
	var held []Role
	for role, pred := range predicates(r) {
		if pred(id) {
			held = append(held, role)
		}
	}
	got := r.Of(id)
	switch {
	case len(held) > 1:
		t.Fatalf("%s holds %v", id, held)
	case len(held) == 0 && got != RoleNone:
		t.Fatalf("Of(%s) = %s, but no predicate holds", id, got)
	case len(held) == 1 && got != held[0]:
		t.Fatalf("Of(%s) = %s, predicate says %s", id, got, held[0])
	}
	if got == RoleNone {
		return
	}
	name, _ := r.KeeperID(id)
	if got == RoleWorkload {
		name, _ = r.WorkloadName(id)
	}
	if again, err := r.ID(got, name); err != nil || r.Of(again) != got {
		t.Fatalf("ID(%s, %q) = %s, %v", got, name, again, err)
	}
}
