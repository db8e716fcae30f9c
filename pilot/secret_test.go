package pilot_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/pilot"
)

func TestSecretPutGet(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, []byte("-----BEGIN X-----\nabc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	runCases(t, []cliCase{
		{name: "put", args: []string{"secret", "put", p + "/a", "user=admin", "pass=s3cret"}, exact: "OK (version 1)\n"},
		// Nexus's limit, said as the README says it: 1 MiB.
		{name: "put too large", args: []string{"secret", "put", p + "/big", "k=@" + big}, code: 1, want: "1 MiB"},
		{name: "put json", args: []string{"-f", "json", "secret", "put", p + "/b", "k=v"}, golden: "secret-put"},
		{name: "put from file and stdin", stdin: "tok\n", args: []string{"secret", "put", p + "/c", "cert=@" + file, "token=-", "at=@@home"}, exact: "OK (version 1)\n"},
		{name: "put cas", args: []string{"secret", "put", "--cas", "1", p + "/a", "user=admin", "pass=n3w"}, exact: "OK (version 2)\n"},
		{name: "put cas json", args: []string{"-f", "json", "secret", "put", "--cas", "2", p + "/a", "user=admin", "pass=n3w3r"}, golden: "secret-put-cas"},
		{name: "put cas conflict", args: []string{"secret", "put", "--cas", "1", p + "/a", "user=x"}, code: 1, want: "check-and-set refused"},
		{name: "put unauthorized", who: nobodyDir(t), args: []string{"secret", "put", p + "/a", "user=x"}, code: 1, want: "no policy grants it write on " + p + "/a"},
		{name: "put no values", args: []string{"secret", "put", p + "/a"}, code: 2, want: "expected"},
		{name: "put not a pair", args: []string{"secret", "put", p + "/a", "hunter2"}, code: 2, want: "value 1 is not KEY=VALUE"},
		{name: "put missing file", args: []string{"secret", "put", p + "/a", "k=@" + file + ".none"}, code: 2, want: "no such file"},
		{name: "put stdin twice", args: []string{"secret", "put", p + "/a", "a=-", "b=-"}, code: 2, want: "only one value"},
		{name: "put bad key", args: []string{"secret", "put", p + "/a", "db.host=x"}, code: 2, want: "invalid argument"},
		{name: "put bad path", args: []string{"secret", "put", "a path", "k=v"}, code: 2, want: "invalid argument"},
		// Said when the command line is parsed: before the SVID is
		// waited for (nobody's would do) or Nexus is called.
		{name: "put leading slash", who: t.TempDir(), args: []string{"secret", "put", "/" + p + "/a", "k=v"}, code: 2,
			want: `invalid argument: path: must not start with '/' (did you mean "` + p + `/a"?) (see 'spike secret put --help')`},
		// A command that only reaches what is stored passes such a path
		// on: it may be a legacy path (api.StoredPathsRequest). Nexus
		// holds none here, and refuses it with the same words.
		{name: "get doubled slash", args: []string{"secret", "get", p + "//a"}, code: 1, want: `must not hold "//" (did you mean "` + p + `/a"?)`},
		{name: "delete trailing slash", args: []string{"secret", "delete", p + "/a/"}, code: 1, want: `must not end with '/'`},
		{name: "restore a slashed path", args: []string{"restore", "apply", "-y", "--seq", "1", p + "/a", "/b"}, code: 1, want: `did you mean "b"?`},
		{name: "get bad character", who: t.TempDir(), args: []string{"secret", "get", "/a b"}, code: 2, want: "invalid argument: path: only letters"},

		{name: "get", args: []string{"secret", "get", p + "/a"}, exact: "pass=n3w3r\nuser=admin\n"},
		{name: "get key", args: []string{"secret", "get", p + "/a", "user"}, exact: "admin\n"},
		{name: "get version", args: []string{"secret", "get", "-v", "1", p + "/a", "pass"}, exact: "s3cret\n"},
		// One line per key: a multi-line value is shown quoted and escaped.
		{name: "get file and stdin values", args: []string{"secret", "get", p + "/c"}, exact: "at=@home\ncert=\"-----BEGIN X-----\\nabc\\n\"\ntoken=tok\n"},
		// One value, piped, is written as stored, for > file.
		{name: "get one multi-line value", args: []string{"secret", "get", p + "/c", "cert"}, exact: "-----BEGIN X-----\nabc\n\n"},
		{name: "get json", args: []string{"--format", "json", "secret", "get", p + "/a"}, golden: "secret-get"},
		{name: "get key json", args: []string{"-f", "j", "secret", "get", p + "/a", "pass"}, golden: "secret-get-key"},
		// The document is the version read, when it was written, and the
		// data in a field of its own: no key can collide with the others.
		{name: "get yaml", args: []string{"-f", "yaml", "secret", "get", p + "/a"}, want: "data:\n  pass: \"n3w3r\"\n  user: \"admin\"\npath: \"" + p + "/a\"\nversion: 3\n"},
		{name: "get version json", args: []string{"-f", "json", "secret", "get", "-v", "1", p + "/a"}, want: `"version": 1`},
		{name: "get missing key", args: []string{"secret", "get", p + "/a", "nokey"}, code: 1, want: `has no key "nokey"; its keys are "pass", "user"`},
		{name: "get not found", args: []string{"secret", "get", p + "/none"}, code: 1, want: "no secret at " + p + "/none"},
		{name: "get missing version", args: []string{"secret", "get", "-v", "9", p + "/a"}, code: 1, want: "no secret at"},
		{name: "get unauthorized", who: nobodyDir(t), args: []string{"secret", "get", p + "/a"}, code: 1, want: "Nexus refused spiffe://spike.ist/workload/nobody: no policy grants it read on " + p + "/a"},
		{name: "get no path", args: []string{"secret", "get"}, code: 2, want: `expected "<path>"`},
		{name: "get bad version", args: []string{"secret", "get", "-v", "one", p + "/a"}, code: 2, want: "--version"},
		{name: "get bad format", args: []string{"-f", "xml", "secret", "get", p + "/a"}, code: 2, want: "--format"},
	})
}

func TestSecretList(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	runCases(t, []cliCase{
		{name: "put b", args: []string{"secret", "put", p + "/b", "k=v"}},
		{name: "put a", args: []string{"secret", "put", p + "/a", "k=v"}},
		{name: "list", args: []string{"secret", "list", "--prefix", p + "/"}, exact: p + "/a\n" + p + "/b\n"},
		{name: "list json", args: []string{"-f", "json", "secret", "list", "--prefix", p + "/"}, golden: "secret-list"},
		{name: "list empty", args: []string{"secret", "list", "--prefix", p + "/none"}, exact: "No secrets found.\n"},
		{name: "list empty json", args: []string{"-f", "json", "secret", "list", "--prefix", p + "/none"}, exact: "[]\n"},
		// Nexus lists what a caller may read: nothing, for a workload no
		// policy names; that is not a refusal.
		{name: "list as nobody", who: nobodyDir(t), args: []string{"secret", "list", "--prefix", p + "/"}, exact: "No secrets found.\n"},
		{name: "list extra argument", args: []string{"secret", "list", p}, code: 2, want: "unexpected argument"},

		// Pages, as the README's "paged listing" promises: --limit prints
		// one, and says how to go on; --after the last path goes on.
		{name: "put c", args: []string{"secret", "put", p + "/c", "k=v"}},
		{name: "list page", args: []string{"secret", "list", "--prefix", p + "/", "--limit", "2"}, exact: p + "/a\n" + p + "/b\nMore paths: --after " + p + "/b\n"},
		{name: "list next page", args: []string{"secret", "list", "--prefix", p + "/", "--limit", "2", "--after", p + "/b"}, exact: p + "/c\n"},
		{name: "list page json", args: []string{"-f", "json", "secret", "list", "--prefix", p + "/", "--limit", "1", "--after", p + "/a"}, exact: "[\n  \"" + p + "/b\"\n]\n"},
		{name: "list after, every page", args: []string{"secret", "list", "--prefix", p + "/", "--after", p + "/a"}, exact: p + "/b\n" + p + "/c\n"},
		{name: "list bad limit", args: []string{"secret", "list", "--limit", "1001"}, code: 2, want: "--limit must be 0 to 1000"},
	})
}

// On a terminal, no value reaches it raw: control characters (ESC
// here) are escaped, in the lines and in one value alone.
func TestSecretGetEscapes(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "x\x1b[2Jy\tz", "secret", "put", p+"/a", "k=-", `q="quoted"`, "plain=a b\\n").check(t, 0, "")
	get := func(terminal bool, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		code := pilot.Run(t.Context(), append([]string{"--nexus-url", nexusURL(t), "--svid-dir", svidDir(t, devcluster.SVIDSuperuser), "--retry-wait", "0",
			"secret", "get"}, args...), nil, &out, &errOut, pilot.WithTerminal(func(v any) bool { return terminal && v == io.Writer(&out) }))
		if code != 0 {
			t.Fatalf("%v: exit %d, %s", args, code, errOut.String())
		}
		return out.String()
	}
	// A value starting with a double quote is quoted too, so that a
	// quoted value is never mistaken for a raw one; a backslash in a
	// value needs no escape.
	want := `k="x\x1b[2Jy\tz"` + "\n" + `plain=a b\n` + "\n" + `q="\"quoted\""` + "\n"
	for _, terminal := range []bool{true, false} {
		if got := get(terminal, p+"/a"); got != want {
			t.Errorf("terminal %v: %q, want %q", terminal, got, want)
		}
	}
	if got := get(true, p+"/a", "k"); got != `"x\x1b[2Jy\tz"`+"\n" {
		t.Errorf("one value on a terminal: %q", got)
	}
	if got := get(false, p+"/a", "k"); got != "x\x1b[2Jy\tz\n" {
		t.Errorf("one value piped: %q", got)
	}
}

func TestSecretDeleteUndeleteDestroy(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	a := p + "/a"
	runCases(t, []cliCase{
		{name: "put v1", args: []string{"secret", "put", a, "k=one"}},
		{name: "put v2", args: []string{"secret", "put", a, "k=two"}},
		{name: "put v3", args: []string{"secret", "put", a, "k=three"}},
		{name: "put v4", args: []string{"secret", "put", a, "k=four"}},

		// Each says what changed and which version is current after.
		{name: "delete current", args: []string{"secret", "delete", a}, exact: "Deleted version 4 of " + a + "; version 3 is now current.\n"},
		{name: "current is now v3", args: []string{"secret", "get", a, "k"}, exact: "three\n"},
		{name: "delete an old version", args: []string{"secret", "delete", "-v", "1", a}, exact: "Deleted version 1 of " + a + "; version 3 is still current.\n"},
		{name: "delete what is deleted", args: []string{"secret", "delete", "-v", "1", a}, exact: "Nothing changed: version 1 of " + a + " is deleted already; version 3 is current.\n"},
		{name: "delete json", args: []string{"-f", "json", "secret", "delete", "-v", "1,2,3", a}, golden: "secret-delete"},
		{name: "all deleted", args: []string{"secret", "get", a}, code: 1, want: "every version is deleted"},
		{name: "delete not found", args: []string{"secret", "delete", p + "/none"}, code: 1, want: "no secret at " + p + "/none"},
		{name: "delete unauthorized", who: nobodyDir(t), args: []string{"secret", "delete", a}, code: 1, want: "no policy grants it write on"},
		{name: "delete bad versions", args: []string{"secret", "delete", "-v", "x", a}, code: 2, want: "--versions"},
		{name: "delete negative version", args: []string{"secret", "delete", "--versions=-3", a}, code: 2, want: "invalid argument"},

		{name: "undelete latest deleted", args: []string{"secret", "undelete", a}, exact: "Undeleted version 3 of " + a + "; version 3 is now current.\n"},
		{name: "undelete json", args: []string{"-f", "json", "secret", "undelete", "-v", "1", a}, golden: "secret-undelete"},
		{name: "v1 back", args: []string{"secret", "get", "-v", "1", a, "k"}, exact: "one\n"},
		{name: "undelete under the current", args: []string{"secret", "undelete", "-v", "2", a}, exact: "Undeleted version 2 of " + a + "; version 3 is still current.\n"},
		{name: "undelete above the current", args: []string{"secret", "undelete", "-v", "4", a}, exact: "Undeleted version 4 of " + a + "; version 4 is now current.\n"},
		{name: "undelete not found", args: []string{"secret", "undelete", p + "/none"}, code: 1, want: "nothing to undelete at " + p + "/none"},
		{name: "undelete unauthorized", who: nobodyDir(t), args: []string{"secret", "undelete", a}, code: 1, want: "no policy grants it write on"},
		{name: "undelete no path", args: []string{"secret", "undelete"}, code: 2, want: "expected"},

		{name: "destroy needs --yes without a terminal", args: []string{"secret", "destroy", "-v", "1", a}, code: 2, want: "pass --yes"},
		{name: "destroy", args: []string{"secret", "destroy", "-v", "1", "--yes", a}, exact: "Destroyed version 1 of " + a + " for good; version 4 is current.\n"},
		{name: "destroyed is gone", args: []string{"secret", "get", "-v", "1", a}, code: 1, want: "destroyed"},
		{name: "destroy json", args: []string{"-f", "json", "secret", "destroy", "-y", "-v", "4", a}, golden: "secret-destroy"},
		{name: "destroy not found", args: []string{"secret", "destroy", "-y", "-v", "1", p + "/none"}, code: 1, want: "no secret at " + p + "/none"},
		{name: "destroy unauthorized", who: nobodyDir(t), args: []string{"secret", "destroy", "-y", "-v", "3", a}, code: 1, want: "no policy grants it write on"},
		{name: "destroy without versions", args: []string{"secret", "destroy", "-y", a}, code: 2, want: "--versions"},
		{name: "destroy version 0", args: []string{"secret", "destroy", "-y", "-v", "0", a}, code: 2, want: "not a version number"},

		// With every version deleted nothing is readable: the line says
		// how to bring them back, and the command does.
		{name: "delete the rest", args: []string{"secret", "delete", "-v", "2,3", a},
			exact: "Deleted versions 2, 3 of " + a + "; no readable version is left (spike secret undelete " + a + " --versions 2,3 brings them back).\n"},
		{name: "undelete as it says", args: []string{"secret", "undelete", "--versions", "2,3", a}, exact: "Undeleted versions 2, 3 of " + a + "; version 3 is now current.\n"},
		{name: "destroy the rest", args: []string{"secret", "destroy", "-y", "-v", "2,3", a},
			exact: "Destroyed versions 2, 3 of " + a + " for good; no readable version is left (spike secret metadata get " + a + " shows what undelete can bring back).\n"},
	})
}

func TestSecretMetadata(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	runCases(t, []cliCase{
		{name: "put v1", args: []string{"secret", "put", p + "/a", "k=one"}},
		{name: "put v2", args: []string{"secret", "put", p + "/a", "k=two"}},
		{name: "delete v1", args: []string{"secret", "delete", "-v", "1", p + "/a"}},

		{name: "get", args: []string{"secret", "metadata", "get", p + "/a"}, want: "current version  2\n"},
		{name: "get json", args: []string{"-f", "json", "secret", "metadata", "get", p + "/a"}, golden: "secret-metadata-get"},
		{name: "get version", args: []string{"secret", "metadata", "get", "-v", "2", p + "/a"}, want: "oldest version   2\n"},
		{name: "get deleted version", args: []string{"secret", "metadata", "get", "-v", "1", p + "/a"}, code: 1, want: "no readable version 1"},
		{name: "get not found", args: []string{"secret", "metadata", "get", p + "/none"}, code: 1, want: "no secret at " + p + "/none"},
		{name: "get unauthorized", who: nobodyDir(t), args: []string{"secret", "metadata", "get", p + "/a"}, code: 1, want: "no policy grants it read on " + p + "/a"},
		{name: "get no path", args: []string{"secret", "metadata", "get"}, code: 2, want: "expected"},

		{name: "put", args: []string{"secret", "metadata", "put", p + "/a", "--max-versions", "5", "--cas-required", "--custom", "owner=team-a", "--custom", "tier=1"}, exact: "OK\n"},
		{name: "put json", args: []string{"-f", "json", "secret", "metadata", "put", p + "/a", "--delete-version-after", "720h"}, golden: "secret-metadata-put"},
		{name: "settings show", args: []string{"-f", "json", "secret", "metadata", "get", p + "/a"}, golden: "secret-metadata-get-settings"},
		{name: "write without cas refused", args: []string{"secret", "put", p + "/a", "k=three"}, code: 1, want: "requires check-and-set"},
		{name: "lift cas and clear custom", args: []string{"secret", "metadata", "put", p + "/a", "--no-cas-required", "--clear-custom"}, exact: "OK\n"},
		{name: "write without cas", args: []string{"secret", "put", p + "/a", "k=three"}, exact: "OK (version 3)\n"},
		// Settings may be put ahead of a path's first write.
		{name: "put ahead of path", args: []string{"secret", "metadata", "put", p + "/later", "--max-versions", "2"}, exact: "OK\n"},
		{name: "put unauthorized", who: nobodyDir(t), args: []string{"secret", "metadata", "put", p + "/a", "--cas-required"}, code: 1, want: "no policy grants it write on"},
		// --max-versions reads the versions first, to ask before pruning:
		// a caller that may not read them may not write either.
		{name: "put max versions unauthorized", who: nobodyDir(t), args: []string{"secret", "metadata", "put", p + "/a", "--max-versions", "3"}, code: 1, want: "Nexus refused spiffe://spike.ist/workload/nobody"},
		{name: "put nothing", args: []string{"secret", "metadata", "put", p + "/a"}, code: 2, want: "nothing to change"},
		{name: "put custom and clear", args: []string{"secret", "metadata", "put", p + "/a", "--custom", "a=b", "--clear-custom"}, code: 2, want: "not both"},
		{name: "put bad custom", args: []string{"secret", "metadata", "put", p + "/a", "--custom", "novalue"}, code: 2, want: "is not KEY=VALUE"},
		{name: "put bad duration", args: []string{"secret", "metadata", "put", p + "/a", "--delete-version-after", "soon"}, code: 2, want: "--delete-version-after"},
	})
}

// A path whose versions are all deleted still lists, and metadata get
// shows them, with their state and what brings them back.
func TestSecretMetadataEveryVersionDeleted(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	a := p + "/a"
	runCases(t, []cliCase{
		{name: "put v1", args: []string{"secret", "put", a, "k=one"}},
		{name: "put v2", args: []string{"secret", "put", a, "k=two"}},
		{name: "delete both", args: []string{"secret", "delete", "-v", "1,2", a}},
		{name: "listed", args: []string{"secret", "list", "--prefix", p + "/"}, exact: a + "\n"},

		{name: "get", args: []string{"secret", "metadata", "get", a}, want: "current version  none (every version is deleted: spike secret undelete " + a + ")\n"},
		{name: "get shows each version", args: []string{"secret", "metadata", "get", a}, want: "\n\nVERSION  CREATED               DELETED               DESTROYED\n1        "},
		{name: "get json", args: []string{"-f", "json", "secret", "metadata", "get", a}, golden: "secret-metadata-get-deleted"},
		{name: "get yaml", args: []string{"-f", "yaml", "secret", "metadata", "get", a}, want: "currentVersion: 0\n"},
		{name: "get a deleted version", args: []string{"secret", "metadata", "get", "-v", "2", a}, code: 1, want: "no readable version 2"},

		{name: "destroy v1", args: []string{"secret", "destroy", "-y", "-v", "1", a}},
		{name: "get, one destroyed", args: []string{"secret", "metadata", "get", a}, want: "current version  none (every version is deleted or destroyed: spike secret undelete " + a + ")\n"},
		{name: "undelete as it says", args: []string{"secret", "undelete", a}, exact: "Undeleted version 2 of " + a + "; version 2 is now current.\n"},
		{name: "get, undeleted", args: []string{"secret", "metadata", "get", a}, want: "current version  2\n"},
		{name: "destroy v2", args: []string{"secret", "destroy", "-y", "-v", "2", a}},
		{name: "get, all destroyed", args: []string{"secret", "metadata", "get", a}, want: "current version  none (every version is destroyed)\n"},
	})
}

func TestSecretHistory(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	runCases(t, []cliCase{
		{name: "put", args: []string{"secret", "put", p + "/a", "k=v"}},
		{name: "read", args: []string{"secret", "get", p + "/a"}},
		{name: "refused read", who: nobodyDir(t), args: []string{"secret", "get", p + "/a"}, code: 1, want: "Nexus refused"},
		{name: "delete", args: []string{"secret", "delete", p + "/a"}},

		{name: "history", args: []string{"secret", "history", p + "/a"}, want: "secret.version.written"},
		{name: "history json", args: []string{"-f", "json", "secret", "history", p + "/a"}, golden: "secret-history"},
		{name: "history page", args: []string{"-f", "json", "secret", "history", "--limit", "1", p + "/a"}, golden: "secret-history-page"},
		{name: "history of nothing", args: []string{"secret", "history", p + "/none"}, exact: "No events found.\n"},
		{name: "history unauthorized", who: nobodyDir(t), args: []string{"secret", "history", p + "/a"}, code: 1, want: "read on spike/system/audit"},
		{name: "history no path", args: []string{"secret", "history"}, code: 2, want: "expected"},
		{name: "history bad since", args: []string{"secret", "history", "--since", "yesterday", p + "/a"}, code: 2, want: "--since"},
		{name: "history bad limit", args: []string{"secret", "history", "--limit=-1", p + "/a"}, code: 2, want: "invalid argument"},
	})
}

// Lowering --max-versions destroys the oldest versions at once: like
// secret destroy, it asks first, and says how many.
func TestSecretMetadataPrune(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	runCases(t, []cliCase{
		{name: "put v1", args: []string{"secret", "put", p + "/a", "k=one"}},
		{name: "put v2", args: []string{"secret", "put", p + "/a", "k=two"}},
		{name: "put v3", args: []string{"secret", "put", p + "/a", "k=three"}},
		{name: "prune needs --yes without a terminal", args: []string{"secret", "metadata", "put", p + "/a", "--max-versions", "2"}, code: 2, want: "pass --yes"},
		{name: "nothing was pruned", args: []string{"secret", "get", "-v", "1", p + "/a", "k"}, exact: "one\n"},
		{name: "a retention that prunes nothing asks nothing", args: []string{"secret", "metadata", "put", p + "/a", "--max-versions", "3"}, exact: "OK\n"},
		{name: "prune with --yes", args: []string{"secret", "metadata", "put", p + "/a", "--max-versions", "2", "--yes"}, exact: "OK\n"},
		{name: "v1 is gone", args: []string{"secret", "get", "-v", "1", p + "/a"}, code: 1, want: "no secret at"},
		{name: "v2 is kept", args: []string{"secret", "get", "-v", "2", p + "/a", "k"}, exact: "two\n"},

		// With the current version deleted the versions cannot be
		// counted: it asks all the same.
		{name: "put b v1", args: []string{"secret", "put", p + "/b", "k=one"}},
		{name: "put b v2", args: []string{"secret", "put", p + "/b", "k=two"}},
		{name: "delete b's current version", args: []string{"secret", "delete", p + "/b"}},
		{name: "prune b needs --yes", args: []string{"secret", "metadata", "put", p + "/b", "--max-versions", "1"}, code: 2, want: "pass --yes"},
		{name: "b's v1 is kept", args: []string{"secret", "get", "-v", "1", p + "/b", "k"}, exact: "one\n"},
		// A path with no versions has nothing to prune.
		{name: "retention ahead of a path", args: []string{"secret", "metadata", "put", p + "/none", "--max-versions", "1"}, exact: "OK\n"},
	})

	// On a terminal the question says what goes; "n" changes nothing.
	for _, tc := range []struct{ answer, stdout string }{{"n\n", ""}, {"y\n", "OK\n"}} {
		var out, errOut bytes.Buffer
		code := pilot.Run(t.Context(), []string{"--nexus-url", nexusURL(t), "--svid-dir", svidDir(t, devcluster.SVIDSuperuser), "--retry-wait", "0",
			"secret", "metadata", "put", p + "/a", "--max-versions", "1"}, strings.NewReader(tc.answer), &out, &errOut,
			pilot.WithTerminal(func(v any) bool { _, ok := v.(*strings.Reader); return ok }))
		question := "Keeping 1 version of " + p + "/a destroys the oldest 1 (version 2) for good. Continue? [y/N] "
		if !strings.HasPrefix(errOut.String(), question) || out.String() != tc.stdout || (code == 0) != (tc.stdout != "") {
			t.Errorf("answer %q: exit %d, stdout %q, stderr %q; want the question %q", tc.answer, code, out.String(), errOut.String(), question)
		}
	}
	super(t, "", "secret", "get", "-v", "2", p+"/a").check(t, 1, "no secret at")
	super(t, "", "secret", "get", "-v", "3", p+"/a", "k").check(t, 0, "")
}
