package main

import "testing"

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
