package pilot_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
)

// spike operator backup writes a whole, checked backup file, mode 0600;
// it replaces a file only with --force, and a refused backup leaves
// nothing.
func TestOperatorBackup(t *testing.T) {
	t.Parallel()
	p := uniq(t, "b/")
	super(t, "", "secret", "put", p, "pw=backed-up-value").check(t, 0, "")
	dir := t.TempDir()
	out := filepath.Join(dir, "nexus.backup")

	r := super(t, "", "-f", "json", "operator", "backup", "--out", out)
	r.check(t, 0, "")
	var doc struct {
		File        string
		Events      uint64
		Bytes       int64
		FileBytes   int64
		SHA256      string
		VerifierKey string
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Events == 0 || doc.File != out || len(doc.SHA256) != 64 {
		t.Fatalf("backup said %+v, %v\n%s", doc, err, r.stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil || int64(len(b)) != doc.FileBytes || bytes.Contains(b, []byte("backed-up-value")) {
		t.Fatalf("backup file: %d bytes (said %d), %v (or a value in clear)", len(b), doc.FileBytes, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v, %v", fi.Mode(), err)
	}
	br, err := api.NewBackupReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil || br.Header().Events != doc.Events || br.Header().VerifierKey != doc.VerifierKey {
		t.Fatalf("backup file reads back: %v, header %+v", err, br.Header())
	}

	r = super(t, "", "operator", "backup", "--out", out, "--force")
	r.check(t, 0, "")
	if !strings.Contains(r.stdout, "SHA-256:") || !strings.Contains(r.stdout, "Backed up ") {
		t.Errorf("backup said %q", r.stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left beside the backup: %d entries", len(entries))
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"existing file", []string{"operator", "backup", "--out", out}, "give --force"},
		{"no directory", []string{"operator", "backup", "--out", filepath.Join(dir, "nope", "b")}, "no directory"},
		{"stdout", []string{"operator", "backup", "--out", "-"}, "goes to a file"},
		{"directory", []string{"operator", "backup", "--out", dir, "--force"}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			super(t, "", tc.args...).check(t, 2, tc.want)
		})
	}
	nobody(t, "operator", "backup", "--out", filepath.Join(dir, "nobody.backup")).check(t, 1, "refused")
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatal("a refused backup left a file")
	}
}
