package identity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// The SPIFFE ID paths of SPIKE's roles, below a trust root.
const (
	PathNexus          = "/spike/nexus"
	PathKeeper         = "/spike/keeper" // also PathKeeper + "/<id>"
	PathBootstrap      = "/spike/bootstrap"
	PathPilotSuperuser = "/spike/pilot/role/superuser"
	PathPilotRecover   = "/spike/pilot/role/recover"
	PathPilotRestore   = "/spike/pilot/role/restore"
	PathPilotAdmin     = "/spike/pilot/role/admin"
	PathPilotOperator  = "/spike/pilot/role/operator"
	PathPilotAuditor   = "/spike/pilot/role/auditor"
	PathLiteWorkload   = "/spike/workload/role/lite"
	PathWorkloads      = "/workload" // workloads are PathWorkloads + "/<name>"
)

// Role names what a SPIFFE ID may do in SPIKE.
type Role string

// The roles. RoleNone is the answer for an ID that holds none.
const (
	RoleNone           Role = ""
	RoleNexus          Role = "nexus"
	RoleKeeper         Role = "keeper"
	RoleBootstrap      Role = "bootstrap"
	RolePilotSuperuser Role = "pilot-superuser"
	RolePilotRecover   Role = "pilot-recover"
	RolePilotRestore   Role = "pilot-restore"
	RolePilotAdmin     Role = "pilot-admin"
	RolePilotOperator  Role = "pilot-operator"
	RolePilotAuditor   Role = "pilot-auditor"
	RoleLiteWorkload   Role = "lite-workload"
	RoleWorkload       Role = "workload"
)

// AllRoles returns every role, in the order Roles.Of tries them.
func AllRoles() []Role {
	return []Role{
		RoleNexus, RoleKeeper, RoleBootstrap,
		RolePilotSuperuser, RolePilotRecover, RolePilotRestore,
		RolePilotAdmin, RolePilotOperator, RolePilotAuditor,
		RoleLiteWorkload, RoleWorkload,
	}
}

// rolePath returns the fixed path of role; keepers and workloads have
// none, as their IDs carry a name.
func rolePath(role Role) (string, bool) {
	switch role {
	case RoleNexus:
		return PathNexus, true
	case RoleBootstrap:
		return PathBootstrap, true
	case RolePilotSuperuser:
		return PathPilotSuperuser, true
	case RolePilotRecover:
		return PathPilotRecover, true
	case RolePilotRestore:
		return PathPilotRestore, true
	case RolePilotAdmin:
		return PathPilotAdmin, true
	case RolePilotOperator:
		return PathPilotOperator, true
	case RolePilotAuditor:
		return PathPilotAuditor, true
	case RoleLiteWorkload:
		return PathLiteWorkload, true
	}
	return "", false
}

// Roles decides which role a SPIFFE ID holds, given the trust roots each
// role is accepted from. As in SPIKE v0.8, a role's ID is accepted
// exactly or followed by "/" and more segments, such as an instance
// suffix (spike/pilot/role/superuser/instance-0); the "/" boundary keeps
// spike/pilot/role/superuser-evil out. Trust roots that nest (one root's
// path below another's role path) would let one ID hold two roles, in
// SPIKE too; Of then answers the first in AllRoles order. Its zero value accepts nothing; build one with
// NewRoles or DefaultRoles. It is immutable and safe for concurrent use.
type Roles struct {
	general, nexus, keeper, bootstrap, pilot, lite []TrustRoot
}

// NewRoles reads the trust roots through lookup (os.LookupEnv in
// production): EnvTrustRoot (default DefaultTrustRoot) and the per-role
// variables, which fall back to EnvTrustRoot rather than to the default,
// unlike SPIKE v0.8. Pilot roles share EnvTrustRootPilot; workloads
// (workload/<name>) use EnvTrustRoot. A bad value is an error naming the
// variable.
func NewRoles(lookup func(string) (string, bool)) (*Roles, error) {
	general, err := trustRootsFromEnv(lookup, EnvTrustRoot, DefaultRoles().general)
	if err != nil {
		return nil, err
	}
	r := &Roles{general: general}
	for _, v := range []struct {
		name string
		dst  *[]TrustRoot
	}{
		{EnvTrustRootNexus, &r.nexus},
		{EnvTrustRootKeeper, &r.keeper},
		{EnvTrustRootBootstrap, &r.bootstrap},
		{EnvTrustRootPilot, &r.pilot},
		{EnvTrustRootLiteWorkload, &r.lite},
	} {
		if *v.dst, err = trustRootsFromEnv(lookup, v.name, general); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// DefaultRoles returns Roles with every role in DefaultTrustRoot.
func DefaultRoles() *Roles {
	def := []TrustRoot{{TrustDomain: spiffeid.RequireTrustDomainFromString(DefaultTrustRoot)}}
	return &Roles{general: def, nexus: def, keeper: def, bootstrap: def, pilot: def, lite: def}
}

// Roots returns the trust roots role is accepted from.
func (r *Roles) Roots(role Role) []TrustRoot { return slices.Clone(r.roots(role)) }

// roots returns the shared, read-only slice of role's trust roots.
func (r *Roles) roots(role Role) []TrustRoot {
	switch role {
	case RoleNexus:
		return r.nexus
	case RoleKeeper:
		return r.keeper
	case RoleBootstrap:
		return r.bootstrap
	case RolePilotSuperuser, RolePilotRecover, RolePilotRestore,
		RolePilotAdmin, RolePilotOperator, RolePilotAuditor:
		return r.pilot
	case RoleLiteWorkload:
		return r.lite
	case RoleWorkload:
		return r.general
	}
	return nil
}

// TrustDomains returns every trust domain some role is accepted from,
// without duplicates.
func (r *Roles) TrustDomains() []spiffeid.TrustDomain {
	var tds []spiffeid.TrustDomain
	for _, roots := range [][]TrustRoot{r.general, r.nexus, r.keeper, r.bootstrap, r.pilot, r.lite} {
		for _, root := range roots {
			if !slices.Contains(tds, root.TrustDomain) {
				tds = append(tds, root.TrustDomain)
			}
		}
	}
	return tds
}

// Of returns the role id holds, or RoleNone.
func (r *Roles) Of(id spiffeid.ID) Role {
	for _, role := range AllRoles() {
		if r.Is(role, id) {
			return role
		}
	}
	return RoleNone
}

// Is reports whether id holds role.
func (r *Roles) Is(role Role, id spiffeid.ID) bool {
	switch role {
	case RoleKeeper:
		_, ok := r.KeeperID(id)
		return ok
	case RoleWorkload:
		_, ok := r.WorkloadName(id)
		return ok
	}
	path, ok := rolePath(role)
	if !ok {
		return false
	}
	return slices.ContainsFunc(r.roots(role), func(root TrustRoot) bool { return root.holds(id, path) })
}

// IsNexus reports whether id is SPIKE Nexus.
func (r *Roles) IsNexus(id spiffeid.ID) bool { return r.Is(RoleNexus, id) }

// IsKeeper reports whether id is a SPIKE Keeper: spike/keeper or an ID
// below it (spike/keeper/<id>, spike/keeper/<id>/instance-0).
func (r *Roles) IsKeeper(id spiffeid.ID) bool { return r.Is(RoleKeeper, id) }

// IsBootstrap reports whether id is SPIKE Bootstrap.
func (r *Roles) IsBootstrap(id spiffeid.ID) bool { return r.Is(RoleBootstrap, id) }

// IsPilotSuperuser reports whether id is Pilot acting as superuser.
func (r *Roles) IsPilotSuperuser(id spiffeid.ID) bool { return r.Is(RolePilotSuperuser, id) }

// IsPilotRecover reports whether id is Pilot in its recover role.
func (r *Roles) IsPilotRecover(id spiffeid.ID) bool { return r.Is(RolePilotRecover, id) }

// IsPilotRestore reports whether id is Pilot in its restore role.
func (r *Roles) IsPilotRestore(id spiffeid.ID) bool { return r.Is(RolePilotRestore, id) }

// IsPilotAdmin reports whether id is Pilot as policy administrator.
func (r *Roles) IsPilotAdmin(id spiffeid.ID) bool { return r.Is(RolePilotAdmin, id) }

// IsPilotOperator reports whether id is Pilot as secret operator. (SPIKE
// v0.8's IsPilotOperator meant the superuser; see IsPilotSuperuser.)
func (r *Roles) IsPilotOperator(id spiffeid.ID) bool { return r.Is(RolePilotOperator, id) }

// IsPilotAuditor reports whether id is Pilot as read-only auditor.
func (r *Roles) IsPilotAuditor(id spiffeid.ID) bool { return r.Is(RolePilotAuditor, id) }

// IsLiteWorkload reports whether id is SPIKE's lite workload
// (spike/workload/role/lite), allowed the cipher API without a policy.
func (r *Roles) IsLiteWorkload(id spiffeid.ID) bool { return r.Is(RoleLiteWorkload, id) }

// KeeperID returns the <id> of a keeper spike/keeper/<id>, also when
// SPIKE's instance suffix follows it (spike/keeper/2/instance-0 is keeper
// "2"). A bare spike/keeper is a keeper too, with an empty id.
func (r *Roles) KeeperID(id spiffeid.ID) (string, bool) {
	for _, root := range r.keeper {
		if id.TrustDomain() == root.TrustDomain && id.Path() == root.Path+PathKeeper {
			return "", true
		}
		if k, ok := root.child(id, PathKeeper); ok {
			return k, true
		}
	}
	return "", false
}

// IsKeeperAt reports whether id may answer as the keeper at position
// (from 1) of the keeper list. SPIKE v0.8 accepts any keeper at any
// position: a keeper's index is only its place in the list. spike pins a
// keeper whose <id> is a number (spike/keeper/2, or spike/keeper/2/x) to
// that position, so that one stolen keeper SVID cannot collect every
// shard by answering at the other keepers' addresses. A keeper whose
// <id> is not a number names no position and is accepted at any, as in
// SPIKE: a bare spike/keeper (SPIKE's bare-metal scripts register all
// keepers so) or spike/keeper/spike-keeper-0 (SPIKE's Helm charts name
// keepers after their pods).
func (r *Roles) IsKeeperAt(id spiffeid.ID, position int) bool {
	k, ok := r.KeeperID(id)
	if !ok {
		return false
	}
	n, numbered := keeperPosition(k)
	return !numbered || n == position
}

// keeperPosition reads a keeper <id> made of decimal digits as the
// position it names; one too large for an int names no real position
// (-1).
func keeperPosition(k string) (int, bool) {
	if k == "" || strings.Trim(k, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(k)
	if err != nil {
		return -1, true
	}
	return n, true
}

// WorkloadName returns the <name> of a workload workload/<name> (or
// workload/<name>/<more>) under one of the general trust roots.
func (r *Roles) WorkloadName(id spiffeid.ID) (string, bool) {
	for _, root := range r.general {
		if name, ok := root.child(id, PathWorkloads); ok {
			return name, true
		}
	}
	return "", false
}

// ID returns the SPIFFE ID of role under its first trust root. name is
// the keeper id (optional) for RoleKeeper, the workload name (required)
// for RoleWorkload, and must be empty otherwise.
func (r *Roles) ID(role Role, name string) (spiffeid.ID, error) {
	roots := r.roots(role)
	if len(roots) == 0 {
		return spiffeid.ID{}, fmt.Errorf("identity: no trust root for role %q", role)
	}
	path, err := roleIDPath(role, name)
	if err != nil {
		return spiffeid.ID{}, err
	}
	return roots[0].ID(path)
}

// roleIDPath returns the path of role with name appended where allowed.
func roleIDPath(role Role, name string) (string, error) {
	parent := ""
	switch {
	case role == RoleKeeper && name == "":
		return PathKeeper, nil
	case role == RoleKeeper:
		parent = PathKeeper
	case role == RoleWorkload:
		parent = PathWorkloads
	case name != "":
		return "", fmt.Errorf("identity: role %q takes no name", role)
	default:
		path, ok := rolePath(role)
		if !ok {
			return "", fmt.Errorf("identity: unknown role %q", role)
		}
		return path, nil
	}
	if err := spiffeid.ValidatePathSegment(name); err != nil {
		return "", fmt.Errorf("identity: %s name %q: %w", role, name, err)
	}
	return parent + "/" + name, nil
}
