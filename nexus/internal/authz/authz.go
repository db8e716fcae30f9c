// Package authz decides who may do what in Nexus: SPIKE v0.8's roles and
// access policies (RE2 patterns over SPIFFE IDs and paths, matched
// unanchored), compiled into an Authorizer that is rebuilt whenever the
// policies change and never changes after.
package authz

import (
	"fmt"
	"hash/maphash"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/projections"
)

// Policy is an access policy in clear, as the projection holds it: a
// caller whose SPIFFE ID matches SpiffeIDPattern gets Permissions on the
// paths matching PathPattern. Both patterns are RE2 expressions matched
// unanchored, as in SPIKE (ADR-0025): anchoring is the author's job.
type Policy = projections.Policy

// reservedPaths are the authorisation pseudo-paths of SPIKE v0.8 (§8.2 of
// the reference). A policy reaches one only if its path pattern matches
// the whole path and its SPIFFE-ID pattern is anchored at both ends.
var reservedPaths = [...]string{api.SystemPathACL, api.SystemPathSecret, api.SystemPathCipher, api.SystemPathAudit}

// systemNamespace prefixes every system path; the operator role manages
// secrets outside it.
const systemNamespace = "spike/system"

// reservedIndex returns the index of path in reservedPaths, or -1.
func reservedIndex(path string) int {
	for i, r := range reservedPaths {
		if path == r {
			return i
		}
	}
	return -1
}

// inSystemNamespace reports whether path is spike/system or below it.
func inSystemNamespace(path string) bool {
	rest, ok := strings.CutPrefix(path, systemNamespace)
	return ok && (rest == "" || rest[0] == '/')
}

// permSet is a set of permissions, one bit each.
type permSet uint8

const (
	permRead permSet = 1 << iota
	permWrite
	permList
	permExecute
	permAdmin
	permSuper
)

// permBit returns the bit of p, or 0 for an unknown permission.
func permBit(p api.Permission) permSet {
	switch p {
	case api.PermRead:
		return permRead
	case api.PermWrite:
		return permWrite
	case api.PermList:
		return permList
	case api.PermExecute:
		return permExecute
	case api.PermAdmin:
		return permAdmin
	case api.PermSuper:
		return permSuper
	}
	return 0
}

// implied returns what holding p grants: super everything; admin also
// write and read; write also read. List and execute imply nothing else.
func implied(p api.Permission) permSet {
	switch bit := permBit(p); bit {
	case permSuper:
		return permRead | permWrite | permList | permExecute | permAdmin | permSuper
	case permAdmin:
		return permAdmin | permWrite | permRead
	case permWrite:
		return permWrite | permRead
	default:
		return bit
	}
}

// grants reports whether a holder of set may do want on path. Admin
// carries policy management, so it also lists spike/system/acl.
func (set permSet) grants(want permSet, path string) bool {
	if set&want != 0 {
		return true
	}
	return want == permList && set&permAdmin != 0 && path == api.SystemPathACL
}

// matcher is a compiled pattern with what its syntax tree tells cheaply.
// Policies are mostly "^literal$" or "^literal.*$"; those are decided by
// string comparison, and any pattern anchored at the start can only match
// subjects beginning with its literal prefix.
type matcher struct {
	re       *regexp.Regexp
	kind     matchKind
	prefix   string // literal every match starts with, when anchored
	anchored bool   // begins with ^ (start of text)
	precise  bool   // begins with ^ and ends with $ (end of text)
}

// matchKind says how a matcher decides.
type matchKind uint8

const (
	kindRegexp     matchKind = iota // prefix check, then the expression
	kindExact                       // ^prefix$: equal to prefix
	kindPrefix                      // ^prefix, ^prefix.* or ^prefix(?s).*$: starts with prefix
	kindPrefixLine                  // ^prefix.*$: starts with prefix, no newline after it
)

// newMatcher compiles pattern. The analysis uses the same parser and
// flags as regexp.Compile, so it describes the compiled expression.
func newMatcher(pattern string) (matcher, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return matcher{}, fmt.Errorf("compile: %w", err)
	}
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return matcher{}, fmt.Errorf("parse: %w", err)
	}
	m := matcher{re: re}
	m.analyse(tree.Simplify())
	return m, nil
}

// analyse fills in the anchoring facts from the top of the syntax tree.
func (m *matcher) analyse(tree *syntax.Regexp) {
	subs := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpConcat {
		subs = tree.Sub
	}
	if len(subs) == 0 || subs[0].Op != syntax.OpBeginText {
		return
	}
	m.anchored = true
	m.precise = len(subs) > 1 && subs[len(subs)-1].Op == syntax.OpEndText
	var prefix strings.Builder
	i := 1
	for ; i < len(subs) && subs[i].Op == syntax.OpLiteral && subs[i].Flags&syntax.FoldCase == 0; i++ {
		prefix.WriteString(string(subs[i].Rune))
	}
	m.prefix = prefix.String()
	m.kind = tailKind(subs[i:])
}

// tailKind classifies what follows the literal prefix of an anchored
// pattern.
func tailKind(tail []*syntax.Regexp) matchKind {
	end := len(tail) > 0 && tail[len(tail)-1].Op == syntax.OpEndText
	if end {
		tail = tail[:len(tail)-1]
	}
	switch {
	case len(tail) == 0 && end:
		return kindExact
	case len(tail) == 0:
		return kindPrefix
	case len(tail) > 1 || tail[0].Op != syntax.OpStar:
		return kindRegexp
	}
	switch tail[0].Sub[0].Op {
	case syntax.OpAnyChar:
		return kindPrefix
	case syntax.OpAnyCharNotNL:
		if end {
			return kindPrefixLine
		}
		return kindPrefix
	}
	return kindRegexp
}

// match reports whether the pattern matches s somewhere, as MatchString.
func (m *matcher) match(s string) bool {
	if m.anchored && !strings.HasPrefix(s, m.prefix) {
		return false
	}
	switch m.kind {
	case kindExact:
		return len(s) == len(m.prefix)
	case kindPrefix:
		return true
	case kindPrefixLine:
		return strings.IndexByte(s[len(m.prefix):], '\n') < 0
	}
	return m.re.MatchString(s)
}

// describes reports whether pattern matches the whole of path, not just
// a part of it: "acl" occurs in spike/system/acl but does not describe it;
// ".*" and "^spike/system/.*$" do.
func describes(pattern, path string) bool {
	full, err := regexp.Compile(`^(?:` + pattern + `)$`)
	return err == nil && full.MatchString(path)
}

// rule is one compiled policy.
type rule struct {
	name   string
	id     matcher
	path   matcher
	grants permSet
	// reach[i] says whether the policy may grant on reservedPaths[i]:
	// its path pattern describes it and its SPIFFE-ID pattern is precise.
	reach [len(reservedPaths)]bool
}

// compileRule checks p's fields with api's validators and compiles it.
// It does not apply the reserved-path rule; see reservedViolation.
func compileRule(p Policy) (*rule, error) {
	perms := make([]api.Permission, len(p.Permissions))
	for i, s := range p.Permissions {
		perms[i] = api.Permission(s)
	}
	req := api.PolicyPutRequest{Name: p.Name, SPIFFEIDPattern: p.SpiffeIDPattern, PathPattern: p.PathPattern, Permissions: perms}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r := &rule{name: p.Name}
	var err error
	if r.id, err = newMatcher(p.SpiffeIDPattern); err != nil {
		return nil, &api.FieldError{Field: "spiffeidPattern", Reason: "not a valid regular expression"}
	}
	if r.path, err = newMatcher(p.PathPattern); err != nil {
		return nil, &api.FieldError{Field: "pathPattern", Reason: "not a valid regular expression"}
	}
	for _, perm := range perms {
		r.grants |= implied(perm)
	}
	for i, res := range reservedPaths {
		r.reach[i] = r.id.precise && describes(p.PathPattern, res)
	}
	return r, nil
}

// reservedViolation returns the error for a rule whose path pattern
// reaches a reserved path it may not reach: one it matches only by
// substring, or any with an imprecise SPIFFE-ID pattern (ADR-0033). The
// message names the reserved path and the rule, never the patterns.
func (r *rule) reservedViolation() error {
	for i, res := range reservedPaths {
		if r.reach[i] || !r.path.re.MatchString(res) {
			continue
		}
		if !r.id.precise {
			return &api.FieldError{Field: "spiffeidPattern", Reason: "a policy reaching the reserved path " + res +
				" needs a SPIFFE-ID pattern anchored with ^ and $"}
		}
		return &api.FieldError{Field: "pathPattern", Reason: "reaches the reserved path " + res +
			" only by substring match; match the whole path (e.g. ^" + res + "$) to grant access there"}
	}
	return nil
}

// applies reports whether r grants want to peer on path. The SPIFFE-ID
// pattern is tried before the path pattern: it rules out most policies
// for most callers, and a caller must not make Nexus match a policy's
// path pattern that was never meant for it.
func (r *rule) applies(peer, path string, want permSet, reserved int) bool {
	if !r.grants.grants(want, path) || !r.id.match(peer) {
		return false
	}
	if reserved >= 0 {
		return r.reach[reserved]
	}
	return r.path.match(path)
}

// CheckPolicy checks a policy before it is stored: the name, both
// patterns (shape, length and RE2 syntax, as api's validators) and the
// permissions (read, write, list, execute, super, admin), and the
// reserved-path rule of ADR-0033: a path pattern that matches
// spike/system/acl, spike/system/secret or spike/system/cipher/exec must
// match the whole path and come with a SPIFFE-ID pattern anchored with ^
// and $. Its errors wrap api.ErrInvalid (a 400, where SPIKE v0.8 answers
// 500 for the last two) and name the field, never its value.
func CheckPolicy(p Policy) error {
	r, err := compileRule(p)
	if err == nil {
		err = r.reservedViolation()
	}
	if err != nil {
		return fmt.Errorf("nexus: check policy: %w", err)
	}
	return nil
}

// Authorizer decides who may do what, from the roles and the policies at
// one moment. Build a new one with Compile whenever the policies change;
// it never changes and is safe for concurrent use. It remembers its
// decisions (within a memory bound), so repeated checks are cheap.
type Authorizer struct {
	roles   *identity.Roles
	byID    map[string][]*rule // rules whose SPIFFE-ID pattern is ^literal$
	others  []*rule            // the rest, tried in turn
	skipped []string
	cache   *decisionCache
}

// Compile builds an Authorizer from roles (nil grants no role anything)
// and policies. A policy that fails CheckPolicy is skipped and named by
// Skipped; puts are checked, so there should be none.
func Compile(roles *identity.Roles, policies []Policy) *Authorizer {
	a := &Authorizer{roles: roles, byID: make(map[string][]*rule), cache: newDecisionCache()}
	for _, p := range policies {
		r, err := compileRule(p)
		if err == nil {
			err = r.reservedViolation()
		}
		if err != nil {
			a.skipped = append(a.skipped, p.Name)
			continue
		}
		a.add(r)
	}
	return a
}

// add indexes r by its exact SPIFFE ID, when it has one.
func (a *Authorizer) add(r *rule) {
	if r.id.kind == kindExact {
		a.byID[r.id.prefix] = append(a.byID[r.id.prefix], r)
		return
	}
	a.others = append(a.others, r)
}

// Skipped returns the names of the policies Compile left out.
func (a *Authorizer) Skipped() []string { return append([]string(nil), a.skipped...) }

// GrantsByRole reports whether peer holds one of the roles Allow grants
// by (rather than by policy).
func (a *Authorizer) GrantsByRole(peer spiffeid.ID) bool {
	if !a.mayHoldRole(peer) {
		return false
	}
	r := a.roles
	return r.IsPilotSuperuser(peer) || r.IsPilotAdmin(peer) || r.IsPilotOperator(peer) || r.IsPilotAuditor(peer) || r.IsLiteWorkload(peer)
}

// Rules returns how many policies are in force.
func (a *Authorizer) Rules() int {
	n := len(a.others)
	for _, rs := range a.byID {
		n += len(rs)
	}
	return n
}

// Allow reports whether peer may do want on path. The pilot superuser may
// do anything. Otherwise a grant comes from the peer's role (pilot admin:
// read, write and list on spike/system/acl; pilot operator: read, write
// and list outside spike/system, and list on spike/system/secret; lite
// workload: execute on spike/system/cipher/exec) or from a policy whose
// SPIFFE-ID pattern matches peer, whose path pattern matches path (for a
// reserved path: it may reach it, see CheckPolicy) and whose permissions
// imply want: super > admin > write > read, with list and execute beside
// them, granted only by themselves or super (and list on spike/system/acl
// by admin). Anything else, including an unknown want, is denied.
func (a *Authorizer) Allow(peer spiffeid.ID, path string, want api.Permission) bool {
	return a.Decide(peer, path, want) != Denied
}

// Decision is what Decide concluded and what decided it, for metrics.
type Decision uint8

const (
	// Denied: nothing grants the permission.
	Denied Decision = iota
	// ByPolicy: a policy grants it.
	ByPolicy
	// ByRole: a role grants it (superuser, admin, operator, auditor,
	// lite workload).
	ByRole
)

// Decide is Allow, saying whether a role or a policy granted the
// permission.
func (a *Authorizer) Decide(peer spiffeid.ID, path string, want api.Permission) Decision {
	bit := permBit(want)
	if bit == 0 || peer.IsZero() || len(path) > api.MaxPathLength {
		// No path that long can be stored, and none is matched: the cost
		// of matching grows with the subject.
		return Denied
	}
	if a.mayHoldRole(peer) && a.roles.IsPilotSuperuser(peer) {
		return ByRole
	}
	id := peer.String()
	if d, ok := a.cache.get(id, path, bit); ok {
		return d
	}
	d := a.decide(peer, id, path, bit)
	a.cache.put(id, path, bit, d)
	return d
}

// decide is Allow without the superuser bypass and the cache.
func (a *Authorizer) decide(peer spiffeid.ID, id, path string, want permSet) Decision {
	if a.roleAllows(peer, path, want) {
		return ByRole
	}
	reserved := reservedIndex(path)
	for _, r := range a.byID[id] {
		if r.applies(id, path, want, reserved) {
			return ByPolicy
		}
	}
	for _, r := range a.others {
		if r.applies(id, path, want, reserved) {
			return ByPolicy
		}
	}
	return Denied
}

// mayHoldRole is a quick necessary condition for peer to hold one of the
// roles Allow knows: their paths all begin with /spike/ below the trust
// root, so the IDs of ordinary workloads skip the role checks.
func (a *Authorizer) mayHoldRole(peer spiffeid.ID) bool {
	return a.roles != nil && strings.Contains(peer.Path(), "/spike/")
}

// roleAllows applies the grants of the pilot admin, pilot operator and
// lite workload roles.
func (a *Authorizer) roleAllows(peer spiffeid.ID, path string, want permSet) bool {
	if !a.mayHoldRole(peer) {
		return false
	}
	switch {
	case a.roles.IsPilotAdmin(peer):
		return path == api.SystemPathACL && want&(permRead|permWrite|permList|permAdmin) != 0
	case a.roles.IsPilotOperator(peer):
		if inSystemNamespace(path) {
			return path == api.SystemPathSecret && want == permList
		}
		return want&(permRead|permWrite|permList) != 0
	case a.roles.IsLiteWorkload(peer):
		return path == api.SystemPathCipher && want == permExecute
	case a.roles.IsPilotAuditor(peer):
		return path == api.SystemPathAudit && want == permRead
	}
	return false
}

// Decision cache bounds. Keys longer than a valid path are not cached
// (authorisation runs before input validation, so path may be anything).
const (
	cacheShards   = 32
	cacheMaxBytes = 16 << 20 // all shards together
	cacheEntryMem = 96       // map slot and string headers, roughly
)

// decisionCache remembers Allow's answers for one Authorizer. It needs no
// invalidation, as its Authorizer never changes; a shard that outgrows
// its share of cacheMaxBytes is emptied and starts again.
type decisionCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheKey struct {
	peer, path string
	want       permSet
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[cacheKey]Decision
	bytes int
	_     [64]byte // keep the locks of neighbouring shards on separate cache lines
}

func newDecisionCache() *decisionCache {
	c := &decisionCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]Decision)
	}
	return c
}

func (c *decisionCache) shard(peer, path string) *cacheShard {
	h := maphash.String(c.seed, path) ^ maphash.String(c.seed, peer)*0x9e3779b97f4a7c15
	return &c.shards[h%cacheShards]
}

func (c *decisionCache) get(peer, path string, want permSet) (d Decision, ok bool) {
	s := c.shard(peer, path)
	s.mu.RLock()
	d, ok = s.m[cacheKey{peer, path, want}]
	s.mu.RUnlock()
	return d, ok
}

func (c *decisionCache) put(peer, path string, want permSet, d Decision) {
	if len(path) > api.MaxPathLength {
		return
	}
	size := len(peer) + len(path) + cacheEntryMem
	s := c.shard(peer, path)
	// Clone the path so the cache never pins a caller's larger buffer.
	key := cacheKey{peer, strings.Clone(path), want}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+size > cacheMaxBytes/cacheShards {
		clear(s.m)
		s.bytes = 0
	}
	if _, dup := s.m[key]; !dup {
		s.bytes += size
	}
	s.m[key] = d
}
