package pilot_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/pilot"
)

// One rule for every command that reads or writes a file it is given: a
// file that is missing, a directory, or not what the command reads is a
// usage error (exit 2), its message names the file, and nothing reaches
// Nexus (the runs have an identity and a Nexus to reach, so a command
// that went on would fail otherwise).
func TestFileArgumentsExitTwo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	garbage := filepath.Join(dir, "garbage.txt")
	if err := os.WriteFile(garbage, []byte("this is not what any command reads\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, vkey, err := note.GenerateKey(rand.Reader, "spike.ist/test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "vkey.txt")
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noDir := filepath.Join(dir, "no-such-dir", "out")
	for _, tc := range []struct {
		name string
		args []string
		file string // the file the message must name
		want string // and what it says of it
	}{
		{"secret put KEY=@missing", []string{"secret", "put", "s/exit", "k=@" + missing}, missing, "cannot open the file"},
		{"secret put KEY=@directory", []string{"secret", "put", "s/exit", "k=@" + dir}, dir, "is a directory"},
		{"policy apply --file missing", []string{"policy", "apply", "--file", missing}, missing, "no such file"},
		{"policy apply --file directory", []string{"policy", "apply", "--file", dir}, dir, "is a directory"},
		{"policy apply --file garbage", []string{"policy", "apply", "--file", garbage}, garbage, "want key: value"},
		{"cipher encrypt missing", []string{"cipher", "encrypt", missing}, missing, "no such file"},
		{"cipher encrypt --file missing", []string{"cipher", "encrypt", "--file", missing}, missing, "no such file"},
		{"cipher encrypt -o in no directory", []string{"cipher", "encrypt", "--plaintext", "aGk=", "-o", noDir}, noDir, "no directory"},
		{"cipher decrypt missing", []string{"cipher", "decrypt", missing}, missing, "no such file"},
		{"cipher decrypt garbage", []string{"cipher", "decrypt", garbage}, garbage, "not a spike or SPIKE ciphertext"},
		{"operator restore missing", []string{"operator", "restore", missing}, missing, ""},
		{"operator restore garbage", []string{"operator", "restore", garbage}, garbage, "recovery shard"},
		{"audit checkpoint --key @missing", []string{"audit", "checkpoint", "--key", "@" + missing}, missing, "no such file"},
		{"audit checkpoint --key @garbage", []string{"audit", "checkpoint", "--key", "@" + garbage}, garbage, "the file holds no verifier key"},
		{"audit proof --key @missing", []string{"audit", "proof", "1", "--key", "@" + missing}, missing, "no such file"},
		{"audit proof --key garbage", []string{"audit", "proof", "1", "--key", "not-a-key"}, "--key is not a verifier key", "malformed verifier id"},
		{"audit consistency --from missing", []string{"audit", "consistency", "--from", missing, "--key", vkey}, missing, ""},
		{"audit consistency --key @missing", []string{"audit", "consistency", "--from", keyFile, "--key", "@" + missing}, missing, "no such file"},
		{"audit verify missing", []string{"audit", "verify", missing, "--key", "@" + keyFile}, missing, "no such file"},
		{"audit verify --key @missing", []string{"audit", "verify", garbage, "--key", "@" + missing}, missing, "no such file"},
		{"audit verify --trusted missing", []string{"audit", "verify", garbage, "--key", vkey, "--trusted", missing}, missing, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := super(t, "", tc.args...)
			r.check(t, 2, tc.want)
			r.check(t, 2, tc.file)
		})
	}
}

// A confirmation answered no cancels: exit 1, one line saying nothing
// was changed.
func TestCancelledConfirmation(t *testing.T) {
	t.Parallel()
	n := uniq(t, "")
	super(t, "", "policy", "create", "--name", n, "--spiffeid-pattern", `^spiffe://spike\.ist/workload/`+n+`$`,
		"--path-pattern", "^"+n+"/.*$", "--permissions", "read").check(t, 0, "")
	var out, errOut bytes.Buffer
	code := pilot.Run(t.Context(), []string{"--nexus-url", nexusURL(t), "--svid-dir", svidDir(t, devcluster.SVIDSuperuser), "--retry-wait", "0",
		"policy", "delete", n}, strings.NewReader("n\n"), &out, &errOut,
		pilot.WithTerminal(func(v any) bool { _, ok := v.(*strings.Reader); return ok }))
	if want := `Delete policy "` + n + `"? The workloads it grants lose that access. [y/N] spike policy delete: cancelled: nothing was changed` + "\n"; code != 1 || errOut.String() != want || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out.String(), errOut.String(), want)
	}
	super(t, "", "policy", "get", n).check(t, 0, "")
}
