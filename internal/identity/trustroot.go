package identity

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// DefaultTrustRoot is the trust domain every role defaults to, as in SPIKE.
const DefaultTrustRoot = "spike.ist"

// The environment variables naming trust roots. Each holds a
// comma-separated list; a role's variable, when unset or empty, falls back
// to EnvTrustRoot, which defaults to DefaultTrustRoot.
const (
	EnvTrustRoot             = "SPIKE_TRUST_ROOT"
	EnvTrustRootNexus        = "SPIKE_TRUST_ROOT_NEXUS"
	EnvTrustRootKeeper       = "SPIKE_TRUST_ROOT_KEEPER"
	EnvTrustRootBootstrap    = "SPIKE_TRUST_ROOT_BOOTSTRAP"
	EnvTrustRootPilot        = "SPIKE_TRUST_ROOT_PILOT"
	EnvTrustRootLiteWorkload = "SPIKE_TRUST_ROOT_LITE_WORKLOAD"
)

// TrustRoot is where a role's SPIFFE IDs live: a trust domain and,
// optionally, a path prefix under it. SPIKE allows the prefix so that
// tenants can share a trust domain ("example.org/tenant/pepsi" makes
// Nexus spiffe://example.org/tenant/pepsi/spike/nexus).
type TrustRoot struct {
	TrustDomain spiffeid.TrustDomain
	Path        string // "" or a SPIFFE path such as "/tenant/pepsi"
}

// ParseTrustRoot parses "example.org", "example.org/tenant/pepsi" or the
// same written as a SPIFFE ID ("spiffe://example.org/tenant/pepsi").
func ParseTrustRoot(s string) (TrustRoot, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		id, err := spiffeid.FromString(s)
		if err != nil {
			return TrustRoot{}, fmt.Errorf("%q: %w", s, err)
		}
		return TrustRoot{TrustDomain: id.TrustDomain(), Path: id.Path()}, nil
	}
	name, path, hasPath := strings.Cut(s, "/")
	td, err := spiffeid.TrustDomainFromString(name)
	if err != nil {
		return TrustRoot{}, fmt.Errorf("%q: %w", s, err)
	}
	root := TrustRoot{TrustDomain: td}
	if hasPath {
		root.Path = "/" + path
		if err := spiffeid.ValidatePath(root.Path); err != nil {
			return TrustRoot{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	return root, nil
}

// ParseTrustRoots parses a comma-separated list of trust roots. Blanks
// around entries are ignored, duplicates dropped; an empty entry is an
// error.
func ParseTrustRoots(list string) ([]TrustRoot, error) {
	var roots []TrustRoot
	for entry := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(entry) == "" {
			return nil, errors.New("empty entry in trust root list")
		}
		root, err := ParseTrustRoot(entry)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(roots, root) {
			roots = append(roots, root)
		}
	}
	return roots, nil
}

// String returns the root in the form ParseTrustRoot reads.
func (r TrustRoot) String() string { return r.TrustDomain.Name() + r.Path }

// ID returns the SPIFFE ID at rolePath (such as PathNexus) under the root.
func (r TrustRoot) ID(rolePath string) (spiffeid.ID, error) {
	id, err := spiffeid.FromPath(r.TrustDomain, r.Path+rolePath)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("identity: ID under %s: %w", r, err)
	}
	return id, nil
}

// holds reports whether id is rolePath under the root, exactly or
// followed by "/" and more segments (spike/nexus/instance-0), as SPIKE
// v0.8's predicates accept: the "/" boundary keeps spike/nexus-evil out.
func (r TrustRoot) holds(id spiffeid.ID, rolePath string) bool {
	if id.TrustDomain() != r.TrustDomain {
		return false
	}
	rest, ok := strings.CutPrefix(id.Path(), r.Path+rolePath)
	return ok && (rest == "" || rest[0] == '/')
}

// child returns the first path segment below parent under the root, if
// id is below it: "2" for spike/keeper/2 and for spike/keeper/2/instance-0.
// A valid SPIFFE ID has no empty segment, so the result is never empty.
func (r TrustRoot) child(id spiffeid.ID, parent string) (string, bool) {
	if id.TrustDomain() != r.TrustDomain {
		return "", false
	}
	rest, ok := strings.CutPrefix(id.Path(), r.Path+parent+"/")
	if !ok || rest == "" {
		return "", false
	}
	first, _, _ := strings.Cut(rest, "/")
	return first, true
}

// trustRootsFromEnv reads one variable through lookup; an unset or blank
// variable yields fallback. Errors name the variable.
func trustRootsFromEnv(lookup func(string) (string, bool), name string, fallback []TrustRoot) ([]TrustRoot, error) {
	v, ok := lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return fallback, nil
	}
	roots, err := ParseTrustRoots(v)
	if err != nil {
		return nil, fmt.Errorf("identity: %s: %w", name, err)
	}
	return roots, nil
}
