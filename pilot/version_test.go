package pilot

import (
	"runtime/debug"
	"testing"
	"time"
)

func TestVersionOf(t *testing.T) {
	t.Parallel()
	vcs := []debug.BuildSetting{
		{Key: "-compiler", Value: "gc"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-27T09:00:00Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	dirty := append(vcs[:len(vcs)-1:len(vcs)-1], debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want versionInfo
		line string
	}{
		{"no build info", nil, versionInfo{Version: "devel", Go: "go1.26.0"}, "spike devel (go1.26.0)"},
		{"work tree, no VCS", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			versionInfo{Version: "devel", Go: "go1.26.0"}, "spike devel (go1.26.0)"},
		{"work tree with VCS", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			versionInfo{Version: "devel", Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Go: "go1.26.0"},
			"spike devel (commit 0123456789ab, 2026-11-27T09:00:00Z; go1.26.0)"},
		{"modified", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}, Settings: dirty},
			versionInfo{Version: "v1.2.0", Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Modified: true, Go: "go1.26.0"},
			"spike v1.2.0 (commit 0123456789ab with uncommitted changes, 2026-11-27T09:00:00Z; go1.26.0)"},
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}},
			versionInfo{Version: "v1.2.0", Go: "go1.26.0"}, "spike v1.2.0 (go1.26.0)"},
	} {
		got := versionOf(tc.bi)
		if tc.bi == nil {
			got.Go = "go1.26.0" // the running toolchain's
		}
		if got != tc.want || got.human() != tc.line {
			t.Errorf("%s: %+v, %q\nwant %+v, %q", tc.name, got, got.human(), tc.want, tc.line)
		}
	}
}
