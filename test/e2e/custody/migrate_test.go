//go:build linux

package custody

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/spikedb"
	"github.com/spikeledger/spike/test/e2e/system"
)

// TestMigrationRoundTrip is the acceptance of SPIKE migration under a
// real SPIRE: `spike export --as spike-db` writes a SPIKE v0.8 spike.db
// that reads back through spikedb, with the root key two of three
// recovery files rebuild, holding every secret version and policy; and
// `spike-nexus import --from` that file into a fresh data directory gives
// a Nexus that, recovering its key from the same keepers, serves the same
// secrets.
func TestMigrationRoundTrip(t *testing.T) {
	t.Parallel()
	s := newDeployment(t, 3, 2)
	var files []recoveryFile
	s.step("fresh bootstrap", s.freshBootstrap)
	s.step("recovery files", func() { files = s.takeRecoveryFiles() })

	// want is what the export must hold: each path's versions, oldest
	// first, and the policy.
	want := map[string][]map[string]string{
		"migrate/db":  {{"user": "app", "pass": "one"}, {"user": "app", "pass": "two"}},
		"migrate/api": {{"token": "t-1"}},
		"other/x":     {{"k": "v=with=equals"}},
	}
	s.step("secrets and a policy", func() {
		for _, args := range [][]string{
			{"secret", "put", "migrate/db", "user=app", "pass=one"},
			{"secret", "put", "migrate/db", "user=app", "pass=two"},
			{"secret", "put", "migrate/api", "token=t-1"},
			{"secret", "put", "other/x", "k=v=with=equals"},
			{"policy", "create", "--name", "web", "--spiffeid-pattern", "^spiffe://" + system.TrustDomain + "/web$",
				"--path-pattern", "^migrate/.*$", "--permissions", "read,list"},
		} {
			if r := s.pilot(superBin, nil, args...); r.Code != 0 {
				s.t.Fatalf("spike %v: %s", args, r)
			}
		}
	})

	exported := filepath.Join(s.Dir(), "export", "spike.db")
	s.step("export as spike.db", func() {
		if err := os.MkdirAll(filepath.Dir(exported), 0o700); err != nil {
			s.t.Fatal(err)
		}
		if r := s.pilot(superBin, nil, "export", "--as", "spike-db", "-o", exported); r.Code != 0 {
			s.t.Fatalf("spike export: %s", r)
		}
		fi, err := os.Stat(exported)
		if err != nil {
			s.t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			s.t.Errorf("export mode %v, want 0600", fi.Mode().Perm())
		}
	})

	s.step("read back through spikedb", func() {
		key := rootKeyOf(s.t, files[1], files[2])
		defer clear(key[:])
		snap, err := spikedb.Read(context.Background(), exported, key[:])
		if err != nil {
			s.t.Fatalf("spikedb.Read: %v", err)
		}
		got := map[string][]map[string]string{}
		for _, sec := range snap.Secrets {
			for _, v := range sec.Versions {
				got[sec.Path] = append(got[sec.Path], v.Data)
			}
		}
		if !reflect.DeepEqual(got, want) {
			s.t.Errorf("exported secrets:\n%v\nwant:\n%v", got, want)
		}
		if len(snap.Policies) != 1 || snap.Policies[0].Name != "web" || snap.Policies[0].PathPattern != "^migrate/.*$" ||
			!slices.Equal(snap.Policies[0].Permissions, []string{"read", "list"}) {
			s.t.Errorf("exported policies: %+v, want one, web, ^migrate/.*$, read and list", snap.Policies)
		}
	})

	two := filepath.Join(s.Dir(), "two-of-three")
	s.step("import into a fresh data directory", func() {
		s.Nexus().Stop(s.t)
		if err := os.Rename(s.DataDir(), s.DataDir()+".old"); err != nil {
			s.t.Fatal(err)
		}
		for _, d := range []string{two, s.DataDir()} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				s.t.Fatal(err)
			}
		}
		for _, f := range files[1:] {
			if err := os.WriteFile(filepath.Join(two, filepath.Base(f.path)), []byte(f.text), 0o600); err != nil {
				s.t.Fatal(err)
			}
		}
		r := s.Run(s.t, "import", system.Cmd{Bin: s.tb.Nexus(), Env: s.Env(),
			Args: []string{"import", "--from", exported, "--recovery-dir", two, "--data-dir", s.DataDir()}})
		if r.Code != 0 || !strings.Contains(r.Stdout, "Imported 3 secrets (4 versions) and 1 policy") {
			s.t.Fatalf("spike-nexus import: want exit 0 and a report of 3 secrets, 4 versions, 1 policy: %s", r)
		}
	})

	s.step("the imported Nexus serves the same secrets", func() {
		s.StartNexus(s.t)
		s.WaitReady(s.t, "after import, with the keepers' shards")
		for path, versions := range want {
			for i, data := range versions {
				r := s.pilot(superBin, nil, "-f", "json", "secret", "get", path, "--version", itoa(i+1))
				if r.Code != 0 {
					s.t.Fatalf("secret get %s version %d: %s", path, i+1, r)
				}
				got := map[string]string{}
				data0, _ := decodeJSON(s.t, r.Stdout)["data"].(map[string]any)
				for k, v := range data0 {
					got[k], _ = v.(string)
				}
				if !reflect.DeepEqual(got, data) {
					s.t.Errorf("secret get %s version %d: %v, want %v", path, i+1, got, data)
				}
			}
		}
		r := s.pilot(superBin, nil, "-f", "json", "audit", "list", "--type", "system.imported")
		if r.Code != 0 {
			s.t.Fatalf("audit list: %s", r)
		}
		if evs, _ := decodeJSON(s.t, r.Stdout)["events"].([]any); len(evs) != 1 {
			s.t.Errorf("audit list --type system.imported: %d events, want 1:\n%s", len(evs), r.Stdout)
		}
	})
}

// rootKeyOf rebuilds the root key from recovery files.
func rootKeyOf(t *testing.T, fs ...recoveryFile) [shamir.KeySize]byte {
	t.Helper()
	shares := make([]shamir.Share, 0, len(fs))
	for _, f := range fs {
		sh, err := shamir.ParseRecovery(f.text)
		if err != nil {
			t.Fatalf("recovery file %d: %v", f.id, err)
		}
		shares = append(shares, sh)
	}
	key, err := shamir.Combine(len(shares), shares)
	if err != nil {
		t.Fatalf("combine: %v", err)
	}
	return key
}
