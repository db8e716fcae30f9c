package pilot_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spike export writes a new file, mode 0600, in each format; values
// appear in a JSON export only with --with-values; a wrong command line
// is refused before Nexus works, and only the superuser may export.
func TestExport(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p, "pw=exported-secret-value").check(t, 0, "")
	dir := t.TempDir()

	db := filepath.Join(dir, "spike.db")
	r := super(t, "", "export", "-o", db)
	r.check(t, 0, "")
	if !strings.Contains(r.stdout, "sealed under the root key") || !strings.Contains(r.stdout, "(spike-db, ") {
		t.Errorf("export said %q", r.stdout)
	}
	b, err := os.ReadFile(db)
	if err != nil || !bytes.HasPrefix(b, []byte("SQLite format 3\x00")) || bytes.Contains(b, []byte("exported-secret-value")) {
		t.Fatalf("spike.db export: %d bytes, %v (a value in clear, or not SQLite)", len(b), err)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("spike.db export mode %v, %v", fi.Mode(), err)
	}

	noValues := filepath.Join(dir, "state.json")
	super(t, "", "export", "--as", "json", "-o", noValues).check(t, 0, "")
	if b, _ := os.ReadFile(noValues); bytes.Contains(b, []byte("exported-secret-value")) || !bytes.Contains(b, []byte(p)) {
		t.Fatalf("json export without values:\n%s", b)
	}
	r = super(t, "", "export", "--as", "json", "--with-values", "-o", "-")
	r.check(t, 0, "")
	var doc struct {
		Values  bool
		Secrets []struct {
			Path     string
			Versions []struct{ Data map[string]string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.Values {
		t.Fatalf("json export to stdout: %v\n%s", err, r.stdout)
	}
	found := false
	for _, s := range doc.Secrets {
		found = found || s.Path == p && s.Versions[0].Data["pw"] == "exported-secret-value"
	}
	if !found {
		t.Fatalf("json export with values lacks %s", p)
	}

	r = super(t, "", "-f", "json", "export", "--as", "projection", "-o", filepath.Join(dir, "projections.db"))
	r.check(t, 0, "")
	var res struct {
		Format  string
		Bytes   int64
		Secrets int
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Format != "projection" || res.Bytes == 0 || res.Secrets == 0 {
		t.Fatalf("projection export: %+v, %v", res, err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"existing file", []string{"export", "-o", db}, 2, "exists"},
		{"no directory", []string{"export", "-o", filepath.Join(dir, "nope", "x.db")}, 2, "no directory"},
		{"values in spike-db", []string{"export", "--with-values", "-o", filepath.Join(dir, "v.db")}, 2, "--with-values is for --as json"},
		{"spike-db to stdout", []string{"export", "-o", "-"}, 2, "only a json export"},
		{"seq and time", []string{"export", "--seq", "1", "--time", "1h", "-o", filepath.Join(dir, "t.db")}, 2, "at most one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			super(t, "", tc.args...).check(t, tc.code, tc.want)
		})
	}
	nobody(t, "export", "-o", filepath.Join(dir, "nobody.db")).check(t, 1, "refused")
	if _, err := os.Stat(filepath.Join(dir, "nobody.db")); err == nil {
		t.Fatal("a refused export left a file")
	}
}
