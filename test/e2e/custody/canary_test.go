//go:build linux

package custody

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/test/e2e/system"
)

// TestCanaryNeverLogged sends canary secret values through every Nexus
// route that carries one (secret put, patch and rollback, a refused put,
// secret get, cipher encrypt and decrypt in both modes) on a 3/2 system
// logging at debug level, in each log format, and searches every line
// each process wrote (Nexus, the three keepers, spike-bootstrap) and the
// Nexus data directory for the canaries in any printed form, and for the
// shards of the root key and the key itself: first while every process
// still runs (SQLite's WAL included), then after they stop.
//
// Policy put is not among them: a policy's name and patterns are not
// secret, and the audit lines that name a policy change may show them.
func TestCanaryNeverLogged(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			d := system.Deploy(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2,
				Env: []string{"SPIKE_SYSTEM_LOG_LEVEL=debug", "SPIKE_SYSTEM_LOG_FORMAT=" + format}})
			s := &deployment{Deployment: d, t: t, root: t, tb: tb, recoveryDir: filepath.Join(d.Dir(), "recovery")}
			canaries := s.sendCanaries(t.TempDir())
			files := s.takeRecoveryFiles()
			// Once while everything runs, when SQLite's WAL and shared
			// memory files and any temporary files exist, and once after.
			s.assertWALPresent()
			s.assertNoCanary(canaries)
			s.assertNoShardLeaks(files)
			s.Shutdown(t)
			s.checkLogFormat(format)
			s.assertNoCanary(canaries)
			s.assertNoShardLeaks(files)
			s.assertPrivateDataDir()
		})
	}
}

// canary returns a value no log line would hold by chance.
func canary(what string) string {
	return "CANARY-" + what + "-" + strings.ToUpper(rand.Text())
}

// super runs the spike CLI as the superuser. Its output is kept in
// memory only: it is meant to hold the values it reads.
func (s *deployment) super(stdin []byte, args ...string) system.Result {
	s.t.Helper()
	r := system.Run(s.t, system.Cmd{Bin: s.tb.Path(superBin), Args: args, Stdin: stdin, Env: s.Env()})
	s.t.Logf("spike %s: exit %d", strings.Join(args, " "), r.Code)
	return r
}

// sendCanaries drives each route that carries a secret value, each with
// a canary of its own, and checks that each did what it should; work is
// a directory for the ciphertexts, outside the scanned ones. It returns
// the canaries.
func (s *deployment) sendCanaries(work string) []string {
	s.t.Helper()
	const path = "tenants/canary/db"
	put, patch, refused := canary("put"), canary("patch"), canary("refused-put")
	stream, jsonMode := canary("cipher-stream"), canary("cipher-json")
	must := func(r system.Result, what string) system.Result {
		s.t.Helper()
		if r.Code != 0 {
			s.t.Fatalf("%s:\n%s", what, r)
		}
		return r
	}
	must(s.super(nil, "secret", "put", path, "password="+put, "user=canary"), "secret put")
	must(s.super([]byte(patch), "secret", "patch", path, "token=-"), "secret patch")
	if r := s.super(nil, "secret", "put", "--cas", "1", path, "password="+refused); r.Code == 0 {
		s.t.Fatalf("secret put with a stale --cas was not refused:\n%s", r)
	}
	must(s.super(nil, "secret", "rollback", path, "--to", "1"), "secret rollback")
	if r := must(s.super(nil, "secret", "get", path, "password"), "secret get"); !strings.Contains(r.Stdout, put) {
		s.t.Fatalf("secret get after rollback to version 1: %q, want the first canary", r.Stdout)
	}

	envelope := filepath.Join(work, "stream.bin")
	must(s.super([]byte(stream), "cipher", "encrypt", "-o", envelope), "cipher encrypt (stream)")
	if r := must(s.super(nil, "cipher", "decrypt", envelope), "cipher decrypt (stream)"); r.Stdout != stream {
		s.t.Fatalf("cipher decrypt (stream): %q, want the canary back", r.Stdout)
	}
	jsonEnvelope := filepath.Join(work, "json.bin")
	must(s.super(nil, "cipher", "encrypt", "--plaintext", base64.StdEncoding.EncodeToString([]byte(jsonMode)), "-o", jsonEnvelope), "cipher encrypt (json)")
	if r := must(s.super(nil, "cipher", "decrypt", jsonEnvelope), "cipher decrypt (json envelope)"); r.Stdout != jsonMode {
		s.t.Fatalf("cipher decrypt (json envelope): %q, want the canary back", r.Stdout)
	}
	return []string{put, patch, refused, stream, jsonMode}
}

// canaryForms are the ways a value could be written down by mistake.
func canaryForms(v string) map[string]string {
	b := []byte(v)
	return map[string]string{
		"as is":          v,
		"hex":            hex.EncodeToString(b),
		"base64":         base64.StdEncoding.EncodeToString(b),
		"raw url base64": base64.RawURLEncoding.EncodeToString(b),
		"Go byte list":   strings.Trim(fmt.Sprint(b), "[]"),
		// The random tail alone, should a log line cut the value short.
		"random part": v[strings.LastIndexByte(v, '-')+1:],
	}
}

// assertNoCanary reads every process log and every command's saved
// output in the log directory, and every file of the Nexus data
// directory (values are kept encrypted there), and fails on any canary
// in any form. The superuser's own output, which shows what it read, is
// never saved there.
func (s *deployment) assertNoCanary(canaries []string) {
	s.t.Helper()
	scanned, lines := 0, 0
	for _, dir := range []string{s.LogDir(), s.DataDir()} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned++
			if dir == s.LogDir() {
				lines += bytes.Count(b, []byte("\n"))
			}
			for _, c := range canaries {
				for form, v := range canaryForms(c) {
					if i := bytes.Index(b, []byte(v)); i >= 0 {
						s.t.Errorf("canary %s as %s found in %s at byte %d", c, form, path, i)
					}
				}
			}
			return nil
		})
		if err != nil {
			s.t.Fatalf("scan %s: %v", dir, err)
		}
	}
	if lines < 20 {
		s.t.Fatalf("only %d log lines in %d files: the processes did not log at debug level", lines, scanned)
	}
	// A control: the requests that carried the canaries are in the log,
	// so the search above read the lines about them.
	nexusLog, _ := os.ReadFile(s.NexusLog())
	for _, p := range []string{api.PathSecrets, api.PathSecretsPatch, api.PathSecretsRollback, api.PathCipherEncrypt, api.PathCipherDecrypt} {
		if !bytes.Contains(nexusLog, []byte(p)) {
			s.t.Errorf("the nexus log has no line about %s: did the canaries reach it?", p)
		}
	}
	s.t.Logf("no canary in %d log lines and data files (%d files)", lines, scanned)
}

// checkLogFormat checks that every line of every process log is in the
// format asked for: the canary search means something only if the lines
// it read are the ones a log pipeline would ship.
func (s *deployment) checkLogFormat(format string) {
	s.t.Helper()
	logs, err := filepath.Glob(filepath.Join(s.LogDir(), "*.log"))
	if err != nil || len(logs) < 4 {
		s.t.Fatalf("process logs %v (%v): want nexus and three keepers", logs, err)
	}
	bootstrapLogs, _ := filepath.Glob(filepath.Join(s.LogDir(), "*bootstrap.stderr"))
	for _, path := range append(logs, bootstrapLogs...) {
		b, err := os.ReadFile(path)
		if err != nil {
			s.t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			var ok bool
			switch format {
			case "json":
				ok = strings.HasPrefix(line, `{"time":`) && strings.HasSuffix(line, "}")
			case "text":
				ok = strings.HasPrefix(line, "time=") && strings.Contains(line, " level=")
			}
			if !ok {
				s.t.Errorf("%s line %d is not a %s log line: %q", filepath.Base(path), i+1, format, line)
				break
			}
		}
	}
}

// assertPrivateDataDir checks that the Nexus data directory and every
// directory under it are 0700 and every file in them 0600: the log and
// the projection (and their journal, WAL and lock files) are readable by
// their owner alone.
func (s *deployment) assertPrivateDataDir() {
	s.t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(s.DataDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			s.t.Errorf("%s: mode %v, want %v", path, got, want)
		}
		seen[d.Name()] = true
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, name := range []string{"events.db", "projections.db"} {
		if !seen[name] {
			s.t.Errorf("data directory holds no %s: the mode check checked nothing", name)
		}
	}
}

// assertWALPresent checks that the running Nexus's projection has its
// write-ahead log beside it, so the scan that follows reads the WAL too
// and not only what a checkpoint left in the database file.
func (s *deployment) assertWALPresent() {
	s.t.Helper()
	matches, err := filepath.Glob(filepath.Join(s.DataDir(), "*-wal"))
	if err != nil || len(matches) == 0 {
		s.t.Fatalf("no SQLite WAL file in %s while Nexus runs (%v): the scan would not read one", s.DataDir(), err)
	}
}
