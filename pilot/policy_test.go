package pilot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/devcluster"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	n := uniq(t, "")
	// The policies name a workload of their own, never the one the
	// unauthorized cases of every test run as.
	id := `^spiffe://spike\.ist/workload/` + n + `$`
	path := "^" + n + "/.*$"
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "policy.yaml")
	yaml := "# a policy in SPIKE's format\nname: " + n + "-file\nspiffeidPattern: '" + id + "'\npathPattern: " + path + "  # anchored\npermissions:\n  - read\n  - list\n"
	if err := os.WriteFile(yamlFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badFile, []byte("name: x\nspiffeidPattern: \"^spiffe://a\\.b$\"\npathPattern: x\npermissions: [read]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	create := func(name string, perms string) []string {
		return []string{"policy", "create", "--name", name, "--spiffeid-pattern", id, "--path-pattern", path, "--permissions", perms}
	}
	runCases(t, []cliCase{
		{name: "create", args: create(n+"-a", "read,write"), exact: `Policy "` + n + `-a" created.` + "\n"},
		{name: "create json", args: append([]string{"-f", "json"}, create(n+"-b", "read")...), golden: "policy-create"},
		{name: "create as admin", who: svidDir(t, devcluster.SVIDAdmin), args: create(n+"-c", "list"), exact: `Policy "` + n + `-c" created.` + "\n"},
		{name: "create exists", args: create(n+"-a", "read"), code: 1, want: "already exists: spike policy apply replaces it"},
		{name: "create unauthorized", who: nobodyDir(t), args: create(n+"-x", "read"), code: 1, want: "on spike/system/acl"},
		{name: "create missing flags", args: []string{"policy", "create", "--name", n + "-x"}, code: 2, want: "missing flags"},
		{name: "create bad permission", args: create(n+"-x", "read,fly"), code: 2, want: `--permissions: "fly" is not a permission: want read, write, list, execute, admin or super`},
		{name: "apply bad permission", args: []string{"policy", "apply", "--name", n + "-x", "--spiffeid-pattern", id, "--path-pattern", path, "--permissions", "reed"}, code: 2, want: `--permissions: "reed" is not a permission: want read,`},
		{name: "create bad pattern", args: []string{"policy", "create", "--name", n + "-x", "--spiffeid-pattern", ".*", "--path-pattern", path, "--permissions", "read"}, code: 2, want: "invalid argument"},

		{name: "apply file", args: []string{"policy", "apply", "--file", yamlFile}, exact: `Policy "` + n + `-file" applied.` + "\n"},
		{name: "apply replaces", args: []string{"policy", "apply", "--name", n + "-a", "--spiffeid-pattern", id, "--path-pattern", path, "--permissions", "super"}},
		{name: "apply json from stdin", stdin: `{"name":"` + n + `-json","spiffeidPattern":"` + jsonEscape(id) + `","pathPattern":"` + path + `","permissions":["execute"]}`,
			args: []string{"-f", "json", "policy", "apply", "--file", "-"}, golden: "policy-apply"},
		{name: "apply file and flags", args: []string{"policy", "apply", "--file", yamlFile, "--name", "x"}, code: 2, want: "not both"},
		{name: "apply nothing", args: []string{"policy", "apply", "--name", "x"}, code: 2, want: "give --file"},
		{name: "apply bad yaml", args: []string{"policy", "apply", "--file", badFile}, code: 2, want: "bad double-quoted value"},
		{name: "apply missing file", args: []string{"policy", "apply", "--file", badFile + ".none"}, code: 2, want: badFile + ".none: no such file"},
		{name: "apply unauthorized", who: nobodyDir(t), args: []string{"policy", "apply", "--file", yamlFile}, code: 1, want: "write on spike/system/acl"},

		{name: "get", args: []string{"policy", "get", n + "-a"}, want: "permissions       super\n"},
		{name: "get file policy", args: []string{"policy", "get", "--name", n + "-file"}, want: "path pattern      " + path + "\n"},
		{name: "get json", args: []string{"-f", "json", "policy", "get", n + "-file"}, golden: "policy-get"},
		{name: "get not found", args: []string{"policy", "get", n + "-none"}, code: 1, want: `no policy named "` + n + `-none"`},
		{name: "get unauthorized", who: nobodyDir(t), args: []string{"policy", "get", n + "-a"}, code: 1, want: "read on spike/system/acl"},
		{name: "get no name", args: []string{"policy", "get"}, code: 2, want: "name the policy"},
		{name: "get two names", args: []string{"policy", "get", n + "-a", "--name", n + "-b"}, code: 2, want: "different policies"},

		{name: "list", args: []string{"policy", "list", "--path-pattern", path}, exact: n + "-a\n" + n + "-b\n" + n + "-c\n" + n + "-file\n" + n + "-json\n"},
		{name: "list json", args: []string{"-f", "json", "policy", "list", "--spiffeid-pattern", id}, golden: "policy-list"},
		{name: "list none", args: []string{"policy", "list", "--path-pattern", "^" + n + "-none$"}, exact: "No policies found.\n"},
		{name: "list unauthorized", who: nobodyDir(t), args: []string{"policy", "list"}, code: 1, want: "list on spike/system/acl"},
		{name: "list both filters", args: []string{"policy", "list", "--path-pattern", "a", "--spiffeid-pattern", "b"}, code: 2, want: "can't be used together"},

		{name: "delete needs --yes without a terminal", args: []string{"policy", "delete", n + "-a"}, code: 2, want: "pass --yes"},
		{name: "delete", args: []string{"policy", "delete", "--yes", n + "-a"}, exact: `Policy "` + n + `-a" deleted.` + "\n"},
		{name: "delete json", args: []string{"-f", "json", "policy", "delete", "-y", "--name", n + "-b"}, golden: "policy-delete"},
		{name: "deleted", args: []string{"policy", "get", n + "-a"}, code: 1, want: "no policy named"},
		{name: "delete not found", args: []string{"policy", "delete", "-y", n + "-a"}, code: 1, want: "no policy named"},
		{name: "delete unauthorized", who: nobodyDir(t), args: []string{"policy", "delete", "-y", n + "-c"}, code: 1, want: "write on spike/system/acl"},
		{name: "delete no name", args: []string{"policy", "delete", "-y"}, code: 2, want: "name the policy"},
	})
}

// jsonEscape doubles the backslashes of a pattern for a JSON string.
func jsonEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// What policy get prints, YAML or JSON, applies as it is: the read-only
// fields Nexus sets are ignored, and the policy comes back unchanged.
func TestPolicyRoundTrip(t *testing.T) {
	t.Parallel()
	n := uniq(t, "")
	id := `^spiffe://spike\.ist/workload/` + n + `$`
	super(t, "", "policy", "create", "--name", n, "--spiffeid-pattern", id, "--path-pattern", "^"+n+"/(a|b)/.*$", "--permissions", "read,list").check(t, 0, "")
	before := super(t, "", "policy", "get", n)
	before.check(t, 0, "")
	for _, format := range []string{"yaml", "json"} {
		got := super(t, "", "-f", format, "policy", "get", n)
		got.check(t, 0, "")
		if !strings.Contains(got.stdout, "createdAt") {
			t.Fatalf("%s: get prints no createdAt, nothing to test:\n%s", format, got.stdout)
		}
		file := filepath.Join(t.TempDir(), "policy."+format)
		if err := os.WriteFile(file, []byte(got.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		super(t, "", "policy", "apply", "--file", file).check(t, 0, "")
		stdin := as(t, svidDir(t, devcluster.SVIDSuperuser), got.stdout, "policy", "apply", "--file", "-")
		stdin.check(t, 0, "")
		after := super(t, "", "policy", "get", n)
		after.check(t, 0, "")
		if keep := func(s string) string { return s[:strings.Index(s, "created")] }; keep(after.stdout) != keep(before.stdout) {
			t.Errorf("%s: after the round trip:\n%s\nwant\n%s", format, after.stdout, before.stdout)
		}
	}
}
