package pilot

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestLogLevelFromEnvironment: SPIKE_SYSTEM_LOG_LEVEL sets the level of
// the CLI's diagnostics and of spike dev's components; a bad value stops
// any command before it runs, with exit 2 and one line naming the
// variable.
func TestLogLevelFromEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		value   string // "" for unset
		args    []string
		code    int
		wantErr string
		devLvl  slog.Level
	}{
		{"bad level stops version", "loud", []string{"version"}, exitUsage, "SPIKE_SYSTEM_LOG_LEVEL", 0},
		{"bad level stops dev", "chatty", []string{"dev"}, exitUsage, "SPIKE_SYSTEM_LOG_LEVEL", 0},
		{"unset: dev logs warnings", "", []string{"dev"}, exitOK, "", slog.LevelWarn},
		{"debug: dev logs debug", "DEBUG", []string{"dev"}, exitOK, "", slog.LevelDebug},
		{"good level, version runs", "info", []string{"version"}, exitOK, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got *DevOptions
			dev := func(_ context.Context, o DevOptions, _, _ io.Writer) error { got = &o; return nil }
			env := func(k string) (string, bool) {
				if k == "SPIKE_SYSTEM_LOG_LEVEL" && tc.value != "" {
					return tc.value, true
				}
				return "", false
			}
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr,
				WithDev(dev), func(o *runOptions) { o.lookupEnv = env })
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if tc.wantErr != "" {
				if out := stderr.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.wantErr) || got != nil {
					t.Fatalf("stderr %q (dev started: %v); want one line naming %s and nothing started", out, got != nil, tc.wantErr)
				}
				return
			}
			if tc.args[0] == "dev" && (got == nil || got.LogLevel != tc.devLvl) {
				t.Fatalf("dev options %+v, want log level %v", got, tc.devLvl)
			}
		})
	}
}
