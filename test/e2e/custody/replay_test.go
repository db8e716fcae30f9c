//go:build linux

package custody

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// TestOfflineReplay is the acceptance of offline replay under a real
// SPIRE: a backup copy of a 3-keeper, threshold-2 deployment's log plus
// two of its three recovery files replays, with every process stopped,
// the history audit list showed online (the auditor's SVID from the
// Workload API) for the same filters, and the copy is left unchanged.
func TestOfflineReplay(t *testing.T) {
	t.Parallel()
	s := newDeployment(t, 3, 2)
	var files []recoveryFile
	s.step("fresh bootstrap", s.freshBootstrap)
	s.step("recovery files", func() { files = s.takeRecoveryFiles() })

	queries := [][]string{
		{"--path-prefix", "replay/"},
		{"--path", "replay/db", "--limit", "2"},
		{"--actor", system.ID("/spike/pilot/role/superuser"), "--type", "secret.read,secret.version.written"},
		{"--type", "secret.read", "--path-prefix", "replay/"},
	}
	online := make([]string, len(queries))
	var everything string
	s.step("activity and audit list", func() {
		for _, args := range [][]string{
			{"secret", "put", "replay/db", "user=app", "pass=one"},
			{"secret", "put", "replay/db", "user=app", "pass=two"},
			{"secret", "get", "replay/db"},
			{"secret", "put", "replay/api", "token=t"},
			{"secret", "get", "replay/api", "token"},
			{"secret", "delete", "replay/db", "--versions", "1"},
		} {
			if r := s.pilot(superBin, nil, args...); r.Code != 0 {
				s.t.Fatalf("spike %v: %s", args, r)
			}
		}
		for i, q := range queries {
			r := s.pilot(auditorBin, nil, append([]string{"-f", "json", "audit", "list"}, q...)...)
			if r.Code != 0 {
				s.t.Fatalf("audit list %v: %s", q, r)
			}
			online[i] = r.Stdout
		}
		r := s.pilot(auditorBin, nil, "-f", "json", "audit", "list")
		if r.Code != 0 {
			s.t.Fatalf("audit list: %s", r)
		}
		everything = r.Stdout
	})

	backup, two := filepath.Join(s.Dir(), "backup"), filepath.Join(s.Dir(), "two-of-three")
	s.step("backup", func() {
		s.Shutdown(s.t)
		for _, d := range []string{backup, two} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				s.t.Fatal(err)
			}
		}
		for _, name := range []string{"events.db", "events.db.journal"} {
			b, err := os.ReadFile(filepath.Join(s.DataDir(), name))
			if err != nil {
				s.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(backup, name), b, 0o600); err != nil {
				s.t.Fatal(err)
			}
		}
		for _, f := range files[1:] { // shards 2 and 3
			if err := os.WriteFile(filepath.Join(two, filepath.Base(f.path)), []byte(f.text), 0o600); err != nil {
				s.t.Fatal(err)
			}
		}
	})

	s.step("offline replay", func() {
		before := dirSum(s.t, backup)
		replay := func(args ...string) string {
			s.t.Helper()
			// No Nexus, no keepers, and no Workload API: the environment
			// has none of the deployment's settings.
			r := s.Run(s.t, "replay", system.Cmd{Bin: s.tb.Path(auditorBin), Env: system.BaseEnv(),
				Args: append([]string{"-f", "json", "audit", "replay", "--log", filepath.Join(backup, "events.db"), "--recovery-dir", two}, args...)})
			if r.Code != 0 {
				s.t.Fatalf("audit replay %v: %s", args, r)
			}
			return r.Stdout
		}
		for i, q := range queries {
			if on, off := decodeJSON(s.t, online[i]), decodeJSON(s.t, replay(q...)); !reflect.DeepEqual(on, off) {
				s.t.Errorf("audit list %v online:\n%s\noffline:\n%s", q, online[i], replay(q...))
			} else if evs, _ := on["events"].([]any); len(evs) == 0 {
				s.t.Errorf("audit list %v found nothing: it tests nothing", q)
			}
		}
		// Unfiltered, the backup also holds what Nexus recorded after
		// the online query (keeper health, its shutdown): online is a
		// prefix.
		on, off := decodeJSON(s.t, everything)["events"].([]any), decodeJSON(s.t, replay())["events"].([]any)
		if len(off) < len(on) || !reflect.DeepEqual(on, off[:len(on)]) {
			s.t.Errorf("the whole history online (%d events) is not the start of the replayed one (%d events)", len(on), len(off))
		}
		if after := dirSum(s.t, backup); after != before {
			s.t.Error("audit replay changed the backup")
		}
	})
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader([]byte(s))).Decode(&m); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return m
}

// dirSum hashes the names, modes and contents of dir's files.
func dirSum(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		h.Write([]byte(e.Name() + fi.Mode().String()))
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
