package authz

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

// Peers of the authorisation tests, in the default trust root spike.ist.
var (
	authzSuperuser = spiffeid.RequireFromString("spiffe://spike.ist/spike/pilot/role/superuser")
	authzAdmin     = spiffeid.RequireFromString("spiffe://spike.ist/spike/pilot/role/admin")
	authzOperator  = spiffeid.RequireFromString("spiffe://spike.ist/spike/pilot/role/operator")
	authzLite      = spiffeid.RequireFromString("spiffe://spike.ist/spike/workload/role/lite")
	authzApp       = spiffeid.RequireFromString("spiffe://spike.ist/workload/app")
	authzAttacker  = spiffeid.RequireFromString("spiffe://spike.ist/workload/app-attacker")
	authzForeignSU = spiffeid.RequireFromString("spiffe://other.org/spike/pilot/role/superuser")
)

const (
	authzAppExact = `^spiffe://spike\.ist/workload/app$`
	authzAppLoose = `spiffe://spike\.ist/workload/app` // unanchored: a substring match
)

func authzPolicy(name, id, path string, perms ...string) Policy {
	return Policy{Name: name, SpiffeIDPattern: id, PathPattern: path, Permissions: perms}
}

func TestAuthzAllow(t *testing.T) {
	t.Parallel()
	tenants := func(perms ...string) []Policy {
		return []Policy{authzPolicy("app", authzAppExact, `^tenants/app/.*$`, perms...)}
	}
	const db = "tenants/app/db"
	tests := []struct {
		name     string
		policies []Policy
		peer     spiffeid.ID
		path     string
		want     api.Permission
		allow    bool
	}{
		// The pilot superuser bypasses policies.
		{"superuser writes acl", nil, authzSuperuser, api.SystemPathACL, api.PermWrite, true},
		{"superuser executes anywhere", nil, authzSuperuser, db, api.PermExecute, true},
		{"superuser unknown permission", nil, authzSuperuser, db, "destroy", false},
		{"superuser of another trust domain", nil, authzForeignSU, db, api.PermRead, false},

		// Roles of the overview.
		{"admin writes policies", nil, authzAdmin, api.SystemPathACL, api.PermWrite, true},
		{"admin reads policies", nil, authzAdmin, api.SystemPathACL, api.PermRead, true},
		{"admin lists policies", nil, authzAdmin, api.SystemPathACL, api.PermList, true},
		{"admin reads no secret", nil, authzAdmin, db, api.PermRead, false},
		{"admin lists no secret", nil, authzAdmin, api.SystemPathSecret, api.PermList, false},
		{"admin no cipher", nil, authzAdmin, api.SystemPathCipher, api.PermExecute, false},
		{"operator writes secrets", nil, authzOperator, db, api.PermWrite, true},
		{"operator reads secrets", nil, authzOperator, db, api.PermRead, true},
		{"operator lists secrets", nil, authzOperator, api.SystemPathSecret, api.PermList, true},
		{"operator no policy write", nil, authzOperator, api.SystemPathACL, api.PermWrite, false},
		{"operator no policy read", nil, authzOperator, api.SystemPathACL, api.PermRead, false},
		{"operator no policy list", nil, authzOperator, api.SystemPathACL, api.PermList, false},
		{"operator no system secret", nil, authzOperator, "spike/system/other", api.PermRead, false},
		{"operator no cipher", nil, authzOperator, api.SystemPathCipher, api.PermExecute, false},
		{"operator no super", nil, authzOperator, db, api.PermSuper, false},
		{"lite executes cipher", nil, authzLite, api.SystemPathCipher, api.PermExecute, true},
		{"lite reads no secret", nil, authzLite, db, api.PermRead, false},
		{"lite reads no cipher", nil, authzLite, api.SystemPathCipher, api.PermRead, false},

		// The hierarchy super > admin > write > read; list and execute beside.
		{"read reads", tenants("read"), authzApp, db, api.PermRead, true},
		{"read does not write", tenants("read"), authzApp, db, api.PermWrite, false},
		{"read does not list", tenants("read"), authzApp, db, api.PermList, false},
		{"write reads", tenants("write"), authzApp, db, api.PermRead, true},
		{"write writes", tenants("write"), authzApp, db, api.PermWrite, true},
		{"write is not admin", tenants("write"), authzApp, db, api.PermAdmin, false},
		{"admin writes", tenants("admin"), authzApp, db, api.PermWrite, true},
		{"admin reads", tenants("admin"), authzApp, db, api.PermRead, true},
		{"admin does not list", tenants("admin"), authzApp, db, api.PermList, false},
		{"admin does not execute", tenants("admin"), authzApp, db, api.PermExecute, false},
		{"admin is not super", tenants("admin"), authzApp, db, api.PermSuper, false},
		{"super lists", tenants("super"), authzApp, db, api.PermList, true},
		{"super executes", tenants("super"), authzApp, db, api.PermExecute, true},
		{"list lists", tenants("list"), authzApp, db, api.PermList, true},
		{"list does not read", tenants("list"), authzApp, db, api.PermRead, false},
		{"execute does not read", tenants("execute"), authzApp, db, api.PermRead, false},
		{"execute does not list", tenants("execute"), authzApp, db, api.PermList, false},
		{"read and list", tenants("read", "list"), authzApp, db, api.PermList, true},
		{"policy admin lists policies", []Policy{authzPolicy("acl", authzAppExact, `^spike/system/acl$`, "admin")},
			authzApp, api.SystemPathACL, api.PermList, true},
		{"policy admin writes policies", []Policy{authzPolicy("acl", authzAppExact, `^spike/system/acl$`, "admin")},
			authzApp, api.SystemPathACL, api.PermWrite, true},
		{"write does not list policies", []Policy{authzPolicy("acl", authzAppExact, `^spike/system/acl$`, "write")},
			authzApp, api.SystemPathACL, api.PermList, false},
		{"execute on cipher", []Policy{authzPolicy("c", authzAppExact, `^spike/system/cipher/exec$`, "execute")},
			authzApp, api.SystemPathCipher, api.PermExecute, true},
		{"list on secrets", []Policy{authzPolicy("s", authzAppExact, `^spike/system/secret$`, "list")},
			authzApp, api.SystemPathSecret, api.PermList, true},

		// Unanchored matching, as SPIKE (ADR-0025).
		{"unanchored id admits a longer id", []Policy{authzPolicy("p", authzAppLoose, `tenants/app`, "read")},
			authzAttacker, "x/tenants/app/y", api.PermRead, true},
		{"anchored id excludes a longer id", tenants("read"), authzAttacker, db, api.PermRead, false},
		{"anchored path excludes a longer path", []Policy{authzPolicy("p", authzAppExact, `^tenants/app$`, "read")},
			authzApp, db, api.PermRead, false},
		{"regex id pattern", []Policy{authzPolicy("p", `^spiffe://spike\.ist/workload/[a-z]+$`, `^tenants/`, "read")},
			authzApp, db, api.PermRead, true},

		// Reserved paths (ADR-0033).
		{"anchored everything reaches acl", []Policy{authzPolicy("p", authzAppExact, `.*`, "super")},
			authzApp, api.SystemPathACL, api.PermWrite, true},
		{"anchored acl policy", []Policy{authzPolicy("p", authzAppExact, `^spike/system/acl$`, "write")},
			authzApp, api.SystemPathACL, api.PermWrite, true},
		{"anchored acl policy, other id", []Policy{authzPolicy("p", authzAppExact, `^spike/system/acl$`, "write")},
			authzAttacker, api.SystemPathACL, api.PermWrite, false},
		{"anchored catch-all id reaches acl", []Policy{authzPolicy("p", `^spiffe://.*$`, `.*`, "super")},
			authzAttacker, api.SystemPathACL, api.PermWrite, true},
		{"bare .* id is refused", []Policy{authzPolicy("p", `.*`, `.*`, "super")},
			authzApp, api.SystemPathACL, api.PermWrite, false},
		{"bare .* id is refused everywhere", []Policy{authzPolicy("p", `.*`, `.*`, "super")},
			authzApp, db, api.PermRead, false},
		{"imprecise id with .* path is refused", []Policy{authzPolicy("p", authzAppLoose, `.*`, "super")},
			authzApp, api.SystemPathACL, api.PermWrite, false},
		{"substring reach is refused", []Policy{authzPolicy("p", authzAppExact, `acl`, "write")},
			authzApp, api.SystemPathACL, api.PermWrite, false},
		{"imprecise id away from system paths", []Policy{authzPolicy("p", authzAppLoose, `^tenants/`, "read")},
			authzApp, db, api.PermRead, true},

		// Default deny.
		{"no policies", nil, authzApp, db, api.PermRead, false},
		{"policy for another path", tenants("super"), authzApp, "other/db", api.PermRead, false},
		{"policy for another id", tenants("super"), authzForeignSU, db, api.PermRead, false},
		{"zero id", tenants("super"), spiffeid.ID{}, db, api.PermRead, false},
		{"unknown permission", tenants("super"), authzApp, db, "destroy", false},
		{"empty permission", tenants("super"), authzApp, db, "", false},

		// Policies that fail CheckPolicy are skipped, the others apply.
		{"invalid regex skipped", []Policy{authzPolicy("bad", authzAppExact, `^tenants/(app`, "read")},
			authzApp, "tenants/(app", api.PermRead, false},
		{"valid beside invalid", append(tenants("read"), authzPolicy("bad", authzAppExact, `(`, "read")),
			authzApp, db, api.PermRead, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := Compile(identity.DefaultRoles(), tt.policies)
			for range 2 { // the second answer comes from the cache
				if got := a.Allow(tt.peer, tt.path, tt.want); got != tt.allow {
					t.Fatalf("Allow(%s, %q, %q) = %v, want %v", tt.peer, tt.path, tt.want, got, tt.allow)
				}
			}
			if tt.peer.IsZero() || a.roles.IsPilotSuperuser(tt.peer) {
				return
			}
			if got := a.decide(tt.peer, tt.peer.String(), tt.path, permBit(tt.want)) != Denied; got != tt.allow {
				t.Fatalf("decide = %v, want %v", got, tt.allow)
			}
		})
	}
}

func TestCompileSkipped(t *testing.T) {
	t.Parallel()
	a := Compile(identity.DefaultRoles(), []Policy{
		authzPolicy("good", authzAppExact, `^tenants/`, "read"),
		authzPolicy("bad-regex", authzAppExact, `(`, "read"),
		authzPolicy("bad-perm", authzAppExact, `^tenants/`, "sudo"),
		authzPolicy("bad-reserved", authzAppLoose, `.*`, "read"),
	})
	got := strings.Join(a.Skipped(), ",")
	if want := "bad-regex,bad-perm,bad-reserved"; got != want {
		t.Fatalf("Skipped() = %q, want %q", got, want)
	}
}

func TestCompileNilRoles(t *testing.T) {
	t.Parallel()
	a := Compile(nil, []Policy{authzPolicy("p", `^spiffe://spike\.ist/spike/pilot/role/superuser$`, `^tenants/`, "read")})
	if a.Allow(authzSuperuser, api.SystemPathACL, api.PermWrite) {
		t.Error("without roles the superuser must hold no bypass")
	}
	if !a.Allow(authzSuperuser, "tenants/x", api.PermRead) {
		t.Error("without roles policies must still apply")
	}
}

// TestAllowReservedGuardAtCheckTime covers the check-time half of
// ADR-0033 with a rule that CheckPolicy would have refused: it still
// grants ordinary paths, never a reserved one.
func TestAllowReservedGuardAtCheckTime(t *testing.T) {
	t.Parallel()
	r, err := compileRule(authzPolicy("loose", authzAppLoose, `.*`, "super"))
	if err != nil {
		t.Fatal(err)
	}
	if r.reservedViolation() == nil {
		t.Fatal("reservedViolation() = nil for an imprecise id reaching acl")
	}
	a := &Authorizer{roles: identity.DefaultRoles(), byID: map[string][]*rule{}, cache: newDecisionCache()}
	a.add(r)
	tests := []struct {
		peer  spiffeid.ID
		path  string
		allow bool
	}{
		{authzApp, "tenants/app/db", true},
		{authzAttacker, "tenants/app/db", true},
		{authzApp, api.SystemPathACL, false},
		{authzAttacker, api.SystemPathACL, false},
		{authzApp, api.SystemPathSecret, false},
		{authzApp, api.SystemPathCipher, false},
	}
	for _, tt := range tests {
		if got := a.Allow(tt.peer, tt.path, api.PermWrite); got != tt.allow {
			t.Errorf("Allow(%s, %q) = %v, want %v", tt.peer, tt.path, got, tt.allow)
		}
	}
}

func TestCheckPolicy(t *testing.T) {
	t.Parallel()
	// marker is in every rejected value; no error message may repeat it.
	const marker = "zq9"
	long := func(prefix string, n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }
	tests := []struct {
		name  string
		p     Policy
		field string // "" when the policy is accepted
	}{
		{"read policy", authzPolicy("zq9 read", authzAppExact, `^tenants/zq9/.*$`, "read"), ""},
		{"every permission", authzPolicy("all", authzAppExact, `^tenants/`, "read", "write", "list", "execute", "super", "admin"), ""},
		{"repeated permission", authzPolicy("rep", authzAppExact, `^tenants/`, "read", "read"), ""},
		{"anchored everything", authzPolicy("all", authzAppExact, `.*`, "super"), ""},
		{"anchored acl", authzPolicy("acl", authzAppExact, `^spike/system/acl$`, "write"), ""},
		{"anchored catch-all id", authzPolicy("any", `^spiffe://.*$`, `^spike/system/.*$`, "read"), ""},
		{"imprecise id away from system", authzPolicy("loose", authzAppLoose, `^tenants/`, "read"), ""},
		{"longest name", authzPolicy(long("n", api.MaxNameLength), authzAppExact, `^t/`, "read"), ""},
		{"longest path pattern", authzPolicy("n", authzAppExact, long("^t/", api.MaxPathPatternLength), "read"), ""},

		{"empty name", authzPolicy("", authzAppExact, `^tenants/`, "read"), "name"},
		{"bad name", authzPolicy("zq9/x", authzAppExact, `^tenants/`, "read"), "name"},
		{"long name", authzPolicy(long("zq9", api.MaxNameLength+1), authzAppExact, `^tenants/`, "read"), "name"},
		{"empty id", authzPolicy("n", "", `^tenants/`, "read"), "spiffeidPattern"},
		{"bare .* id", authzPolicy("n", `.*`, `^tenants/zq9`, "read"), "spiffeidPattern"},
		{"id not spiffe", authzPolicy("n", `^https://zq9$`, `^tenants/`, "read"), "spiffeidPattern"},
		{"id bad regex", authzPolicy("n", `^spiffe://zq9/(a$`, `^tenants/`, "read"), "spiffeidPattern"},
		{"id too long", authzPolicy("n", long("spiffe://zq9/", api.MaxSPIFFEIDLength+1), `^tenants/`, "read"), "spiffeidPattern"},
		{"empty path", authzPolicy("n", authzAppExact, "", "read"), "pathPattern"},
		{"path with space", authzPolicy("n", authzAppExact, "zq9 x", "read"), "pathPattern"},
		{"path bad regex", authzPolicy("n", authzAppExact, "zq9(", "read"), "pathPattern"},
		{"path bad repeat", authzPolicy("n", authzAppExact, "zq9{2000}", "read"), "pathPattern"},
		{"path too long", authzPolicy("n", authzAppExact, long("zq9", api.MaxPathPatternLength+1), "read"), "pathPattern"},
		{"no permissions", authzPolicy("n", authzAppExact, `^tenants/`), "permissions"},
		{"unknown permission", authzPolicy("n", authzAppExact, `^tenants/`, "read", "zq9"), "permissions"},
		{"permission case", authzPolicy("n", authzAppExact, `^tenants/`, "Read"), "permissions"},

		// Reserved paths: 400 here, where SPIKE v0.8 answers 500.
		{"unanchored id reaches all", authzPolicy("n", `spiffe://spike\.ist/zq9`, `.*`, "read"), "spiffeidPattern"},
		{"id without $ reaches acl", authzPolicy("n", `^spiffe://spike\.ist/zq9`, `^spike/system/acl$`, "write"), "spiffeidPattern"},
		{"id ending in escaped $", authzPolicy("n", `^spiffe://spike\.ist/zq9\$`, `^spike/system/`, "write"), "spiffeidPattern"},
		{"substring reach of acl", authzPolicy("n", authzAppExact, `zq9|acl`, "write"), "pathPattern"},
		{"substring reach of cipher", authzPolicy("n", authzAppExact, `cipher/exec`, "execute"), "pathPattern"},
		{"describes acl, reaches secret", authzPolicy("n", authzAppExact, `^spike/system/acl$|secret`, "read"), "pathPattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPolicy(tt.p)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CheckPolicy() = %v, want nil", err)
				}
				return
			}
			var fe *api.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("CheckPolicy() = %v, want an error on field %q", err, tt.field)
			}
			if code := api.CodeOf(err); code != api.CodeBadRequest {
				t.Errorf("CodeOf() = %q, want %q", code, api.CodeBadRequest)
			}
			if strings.HasSuffix(tt.name, "bad regex") {
				// What is wrong in a pattern is said with the part at
				// fault: patterns are not secrets.
				if !strings.Contains(err.Error(), "missing closing ): `") {
					t.Errorf("error %q does not say what is wrong in the pattern", err)
				}
				return
			}
			if strings.Contains(err.Error(), marker) {
				t.Errorf("error %q repeats the input", err)
			}
		})
	}
}

func TestAuthzMatcher(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern           string
		anchored, precise bool
		kind              matchKind
		prefix            string
		subject           string
		matches           bool
	}{
		{`^spiffe://a\.b/c$`, true, true, kindExact, "spiffe://a.b/c", "spiffe://a.b/c", true},
		{`^spiffe://a\.b/c$`, true, true, kindExact, "spiffe://a.b/c", "spiffe://a.b/c/d", false},
		{`^spiffe://a\.b/c$`, true, true, kindExact, "spiffe://a.b/c", "spiffe://a.b/", false},
		{`^spiffe://a\.b/.*$`, true, true, kindPrefixLine, "spiffe://a.b/", "spiffe://a.b/x", true},
		{`^spiffe://a\.b/.*$`, true, true, kindPrefixLine, "spiffe://a.b/", "spiffe://a.b/x\ny", false},
		{`^spiffe://a\.b/.*?$`, true, true, kindPrefixLine, "spiffe://a.b/", "spiffe://a.b/", true},
		{`^t/(?s:.*)$`, true, true, kindPrefix, "t/", "t/x\ny", true},
		{`^t/.*`, true, false, kindPrefix, "t/", "t/\n", true},
		{`^spiffe://a\.b/c`, true, false, kindPrefix, "spiffe://a.b/c", "spiffe://a.b/cd", true},
		{`^t/.+$`, true, true, kindRegexp, "t/", "t/", false},
		{`^t/.*x$`, true, true, kindRegexp, "t/", "t/ax", true},
		{`^tenants/(db|cache)/.*$`, true, true, kindRegexp, "tenants/", "tenants/db/x", true},
		{`spiffe://a\.b/c$`, false, false, kindRegexp, "", "xspiffe://a.b/c", true},
		{`^spiffe://a\.b/c\$`, true, false, kindPrefix, "spiffe://a.b/c$", "spiffe://a.b/c$x", true},
		{`^spiffe://a\.b/c\$`, true, false, kindPrefix, "spiffe://a.b/c$", "spiffe://a.b/", false},
		{`^(?i)spiffe://a$`, true, true, kindRegexp, "", "SPIFFE://A", true},
		{`^spiffe://a$|^spiffe://b$`, false, false, kindRegexp, "", "spiffe://b", true},
		{`^spiffe://a(?m)$`, true, false, kindRegexp, "spiffe://a", "spiffe://a\n", true},
		{`^$`, true, true, kindExact, "", "", true},
		{`^$`, true, true, kindExact, "", "x", false},
		{`^`, true, false, kindPrefix, "", "x", true},
		{`.*`, false, false, kindRegexp, "", "", true},
	}
	for _, tt := range tests {
		m, err := newMatcher(tt.pattern)
		if err != nil {
			t.Fatalf("newMatcher(%q): %v", tt.pattern, err)
		}
		if m.anchored != tt.anchored || m.precise != tt.precise || m.kind != tt.kind || m.prefix != tt.prefix {
			t.Errorf("newMatcher(%q) = anchored %v precise %v kind %d prefix %q, want %v %v %d %q",
				tt.pattern, m.anchored, m.precise, m.kind, m.prefix, tt.anchored, tt.precise, tt.kind, tt.prefix)
		}
		if got := m.match(tt.subject); got != tt.matches || got != m.re.MatchString(tt.subject) {
			t.Errorf("%q.match(%q) = %v, want %v", tt.pattern, tt.subject, got, tt.matches)
		}
	}
}

func TestAllowConcurrent(t *testing.T) {
	t.Parallel()
	a := Compile(identity.DefaultRoles(), authzBenchPolicies(100))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				n := (g*7 + i) % 100
				peer, path := authzBenchWorkload(n)
				if !a.Allow(peer, path, api.PermRead) {
					t.Errorf("Allow(%s, %q) = false", peer, path)
					return
				}
				if a.Allow(peer, path+"x", api.PermExecute) {
					t.Errorf("Allow(%s, %q, execute) = true", peer, path)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAuthzCacheBounded(t *testing.T) {
	t.Parallel()
	c := newDecisionCache()
	c.put("p", strings.Repeat("x", api.MaxPathLength+1), permRead, ByPolicy)
	if _, ok := c.get("p", strings.Repeat("x", api.MaxPathLength+1), permRead); ok {
		t.Error("an over-long path was cached")
	}
	path := strings.Repeat("p", 400)
	for i := range 100_000 {
		d := Denied
		if i%2 == 0 {
			d = ByPolicy
		}
		c.put(fmt.Sprintf("spiffe://spike.ist/workload/w%d", i), path, permRead, d)
	}
	if d, ok := c.get("spiffe://spike.ist/workload/w99999", path, permRead); !ok || d != Denied {
		t.Errorf("latest entry = %v, %v; want Denied, true", d, ok)
	}
	total := 0
	for i := range c.shards {
		s := &c.shards[i]
		if s.bytes > cacheMaxBytes/cacheShards {
			t.Errorf("shard %d holds %d bytes, more than %d", i, s.bytes, cacheMaxBytes/cacheShards)
		}
		total += s.bytes
	}
	if total > cacheMaxBytes {
		t.Errorf("cache holds %d bytes, more than %d", total, cacheMaxBytes)
	}
}

func FuzzCheckPolicy(f *testing.F) {
	f.Add("n", authzAppExact, `^tenants/.*$`, "read", "spiffe://spike.ist/workload/app", "tenants/x")
	f.Add("n", authzAppLoose, `.*`, "super", "spiffe://spike.ist/workload/app-x", api.SystemPathACL)
	f.Add("n", `^spiffe://.*$`, `^spike/system/(acl|secret)$`, "admin", "spiffe://a/b", api.SystemPathSecret)
	f.Add("n", `^spiffe://a\$`, `(?i)ACL`, "list", "spiffe://a$", "x")
	f.Add("", `.*`, `(`, "sudo", "", "")
	f.Fuzz(func(t *testing.T, name, id, path, perm, peer, subject string) {
		p := authzPolicy(name, id, path, perm)
		err := CheckPolicy(p)
		a := Compile(identity.DefaultRoles(), []Policy{p})
		if err != nil {
			if !errors.Is(err, api.ErrInvalid) {
				t.Fatalf("CheckPolicy() = %v, not a validation error", err)
			}
			if len(a.Skipped()) != 1 {
				t.Fatalf("Compile kept a policy CheckPolicy refused: %v", err)
			}
			return
		}
		for _, pattern := range []string{id, path} {
			if _, err := regexp.Compile(pattern); err != nil {
				t.Fatalf("accepted pattern %q does not compile: %v", pattern, err)
			}
		}
		if len(a.Skipped()) != 0 {
			t.Fatal("Compile skipped an accepted policy")
		}
		r, err := compileRule(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{peer, subject, id, path} {
			if r.id.match(s) != r.id.re.MatchString(s) || r.path.match(s) != r.path.re.MatchString(s) {
				t.Fatalf("match(%q) disagrees with MatchString", s)
			}
		}
		if pid, err := spiffeid.FromString(peer); err == nil {
			for _, at := range []string{subject, api.SystemPathACL, api.SystemPathSecret, api.SystemPathCipher} {
				a.Allow(pid, at, api.Permission(perm))
			}
		}
	})
}

func FuzzAuthzMatcher(f *testing.F) {
	f.Add(`^spiffe://a\.b/c$`, "spiffe://a.b/c")
	f.Add(`^abc`, "abcd")
	f.Add(`^(?i)abc$`, "ABC")
	f.Add(`^a$|^b$`, "b")
	f.Add(`^t/.*$`, "t/x\ny")
	f.Add(`^(?s)t/.*$`, "t/\n")
	f.Add(`^t/.*?`, "t")
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		m, err := newMatcher(pattern)
		if err != nil {
			return
		}
		if got, want := m.match(subject), m.re.MatchString(subject); got != want {
			t.Fatalf("%q.match(%q) = %v, MatchString = %v", pattern, subject, got, want)
		}
	})
}

// authzBenchPolicies returns n realistic policies: half name one
// workload exactly, half a workload family by prefix, each for its own
// tenant's paths.
func authzBenchPolicies(n int) []Policy {
	ps := make([]Policy, n)
	for i := range ps {
		if i%2 == 0 {
			ps[i] = authzPolicy(fmt.Sprintf("app-%03d", i), fmt.Sprintf(`^spiffe://spike\.ist/workload/app-%03d$`, i),
				fmt.Sprintf(`^tenants/app-%03d/.*$`, i), "read", "write")
			continue
		}
		ps[i] = authzPolicy(fmt.Sprintf("team-%03d", i), fmt.Sprintf(`^spiffe://spike\.ist/workload/team-%03d/.*$`, i),
			fmt.Sprintf(`^tenants/team-%03d/(db|cache)/.*$`, i), "read")
	}
	return ps
}

// authzBenchWorkload returns a workload granted read by policy i of
// authzBenchPolicies, and a path it reads.
func authzBenchWorkload(i int) (spiffeid.ID, string) {
	if i%2 == 0 {
		return spiffeid.RequireFromString(fmt.Sprintf("spiffe://spike.ist/workload/app-%03d", i)),
			fmt.Sprintf("tenants/app-%03d/db/password", i)
	}
	return spiffeid.RequireFromString(fmt.Sprintf("spiffe://spike.ist/workload/team-%03d/api", i)),
		fmt.Sprintf("tenants/team-%03d/db/password", i)
}

// BenchmarkAllow100Policies measures Allow for a workload whose policy is
// the 100th of 100, as a repeated request sees it (from the cache).
func BenchmarkAllow100Policies(b *testing.B) {
	a := Compile(identity.DefaultRoles(), authzBenchPolicies(100))
	peer, path := authzBenchWorkload(99)
	if !a.Allow(peer, path, api.PermRead) {
		b.Fatal("denied")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !a.Allow(peer, path, api.PermRead) {
				b.Error("denied")
				return
			}
		}
	})
}

// BenchmarkAllowUncached measures a decision made afresh with 100
// policies: the 100th policy matching by regex, the 99th matching by
// exact SPIFFE ID, nobody matching, and, for comparison, SPIKE's way
// (every policy's regexes in turn, minus SPIKE's loading and compiling).
func BenchmarkAllowUncached(b *testing.B) {
	policies := authzBenchPolicies(100)
	a := Compile(identity.DefaultRoles(), policies)
	regexPeer, regexPath := authzBenchWorkload(99)
	exactPeer, exactPath := authzBenchWorkload(98)
	stranger := spiffeid.RequireFromString("spiffe://spike.ist/workload/stranger")
	cases := []struct {
		name  string
		peer  spiffeid.ID
		path  string
		allow bool
	}{
		{"grant-regex", regexPeer, regexPath, true},
		{"grant-exact", exactPeer, exactPath, true},
		{"deny", stranger, regexPath, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			id := c.peer.String()
			b.ReportAllocs()
			for b.Loop() {
				if (a.decide(c.peer, id, c.path, permRead) != Denied) != c.allow {
					b.Fatal("wrong decision")
				}
			}
		})
	}
	b.Run("spike-loop", func(b *testing.B) {
		type pair struct{ id, path *regexp.Regexp }
		var naive []pair
		for _, p := range policies {
			naive = append(naive, pair{regexp.MustCompile(p.SpiffeIDPattern), regexp.MustCompile(p.PathPattern)})
		}
		id := regexPeer.String()
		b.ReportAllocs()
		for b.Loop() {
			found := false
			for _, p := range naive {
				if p.id.MatchString(id) && p.path.MatchString(regexPath) {
					found = true
					break
				}
			}
			if !found {
				b.Fatal("denied")
			}
		}
	})
}
