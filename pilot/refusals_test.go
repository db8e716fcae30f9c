package pilot_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Refusals Nexus can tell apart are told apart on the command line: each
// names its case, what Nexus knows that helps (the current version, the
// limit) and what to do; none repeats the path or shows the layers' "api:"
// prefixes. Each is one line and exits 1 (refused), or 2 when the command
// line itself is wrong.
func TestRefusalsSayWhich(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	a, gone := p+"/a", p+"/gone"
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"secret", "put", a, "k=one"},
		{"secret", "put", a, "k=two"},
		{"secret", "put", gone, "k=one"},
		{"secret", "put", gone, "k=two"},
		{"secret", "delete", "-v", "1", gone},
		{"secret", "destroy", "-y", "-v", "1", gone},
	} {
		super(t, "", args...).check(t, 0, "")
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // each in the one line of stderr
	}{
		{"cas mismatch", []string{"secret", "put", "--cas", "1", a, "k=x"}, 1, []string{
			"check-and-set refused at " + a + ": check-and-set expected version 1, but the current version is 2",
			"retry with --cas 2"}},
		{"cas required", nil, 1, []string{a + " requires check-and-set: pass --cas 2 (its current version) after reading it"}},
		{"too large", []string{"secret", "put", a, "k=@" + big}, 1, []string{
			"Nexus refused the write to " + a + ": the secret's data is 1048578 bytes (keys and values together); the limit is 1048576 bytes (1 MiB)"}},
		{"too large where cas is required", []string{"secret", "put", "--cas", "2", a, "k=@" + big}, 1, []string{"the limit is 1048576 bytes (1 MiB)"}},
		{"undelete a destroyed version", []string{"secret", "undelete", "-v", "1", gone}, 1, []string{
			"nothing to undelete at " + gone + ": version 1 is destroyed; destroyed data cannot come back"}},
		{"undelete nothing deleted", []string{"secret", "undelete", "-v", "2", gone}, 1, []string{
			"nothing to undelete at " + gone + ": version 2 is not deleted"}},
		{"undelete a version never written", []string{"secret", "undelete", "-v", "7", gone}, 1, []string{
			"nothing to undelete at " + gone + ": it has no version 7 (it holds versions 1 to 2)"}},
		{"undelete no such path", []string{"secret", "undelete", p + "/none"}, 1, []string{
			"nothing to undelete at " + p + "/none: no secret there"}},
		{"bad path regex", []string{"policy", "create", "--name", uniq(t, "p-"), "--spiffeid-pattern", `^spiffe://spike\.ist/x$`,
			"--path-pattern", "(a", "--permissions", "read"}, 2, []string{
			"invalid argument: pathPattern: not a valid regular expression: missing closing ): `(a`"}},
		{"bad spiffe id regex", []string{"policy", "create", "--name", uniq(t, "p-"), "--spiffeid-pattern", `^spiffe://spike\.ist/(x$`,
			"--path-pattern", "^a$", "--permissions", "read"}, 2, []string{
			"spiffeidPattern: not a valid regular expression: missing closing ): "}},
	} {
		if tc.name == "cas required" {
			super(t, "", "secret", "metadata", "put", a, "--cas-required").check(t, 0, "")
			tc.args = []string{"secret", "put", a, "k=x"}
		}
		r := super(t, "", tc.args...)
		for _, want := range tc.want {
			r.check(t, tc.code, want)
		}
		if strings.Contains(r.stderr, "api:") || strings.Count(r.stderr, a) > 2 || strings.Count(r.stderr, gone+":") > 1 {
			t.Errorf("%s: %q repeats itself or shows a layer's prefix", tc.name, r.stderr)
		}
	}
	// Nothing was written by any of them.
	super(t, "", "secret", "get", a).check(t, 0, "")
	if r := super(t, "", "secret", "get", a, "k"); r.stdout != "two\n" {
		t.Errorf("after the refusals %s holds %q, want two", a, r.stdout)
	}
}
