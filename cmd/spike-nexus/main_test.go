package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestBadLogSettings: a wrong log format or level is exit status 2 before
// anything starts (no SVID is asked for: none is to be had here).
func TestBadLogSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"format", []string{"--log-format", "xml"}},
		{"empty format", []string{"--log-format="}},
		{"level", []string{"--log-level", "loud"}},
	} {
		args := append([]string{"--keepers", "https://127.0.0.1:1", "--svid-dir", t.TempDir(), "--spiffe-source-timeout", "1ms"}, tc.args...)
		if code := run(args); code != 2 {
			t.Errorf("%s: exit %d, want 2", tc.name, code)
		}
	}
}

// TestRestoreBackupArguments: restore-backup refuses a bad command line
// with exit status 2 and a file that is not a backup with 1, touching
// nothing.
func TestRestoreBackupArguments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notBackup := filepath.Join(dir, "not-a-backup")
	if err := os.WriteFile(notBackup, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no --from", []string{"--data-dir", data}, 2},
		{"missing file", []string{"--from", filepath.Join(dir, "nope"), "--data-dir", data}, 2},
		{"bad log format", []string{"--from", notBackup, "--data-dir", data, "--log-format", "xml"}, 2},
		{"not a backup", []string{"--from", notBackup, "--data-dir", data}, 1},
		{"bad key", []string{"--from", notBackup, "--data-dir", data, "--key", "nonsense"}, 2},
		{"key file missing", []string{"--from", notBackup, "--data-dir", data, "--key", "@" + filepath.Join(dir, "nope")}, 2},
		{"key file not a key", []string{"--from", notBackup, "--data-dir", data, "--key", "@" + notBackup}, 2},
	} {
		if code := run(append([]string{"restore-backup"}, tc.args...)); code != tc.code {
			t.Errorf("%s: exit %d, want %d", tc.name, code, tc.code)
		}
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data directory was made: %v", err)
	}
}
