package pilot

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

type versionCmd struct{}

// versionInfo is the JSON document of `spike version`. Commit, its time
// and Modified are left out when the binary was built without version
// control information (go build -buildvcs=false, or outside a
// repository).
type versionInfo struct {
	Version    string    `json:"version"`
	Commit     string    `json:"commit,omitempty"`
	CommitTime time.Time `json:"commitTime,omitzero"`
	Modified   bool      `json:"modified,omitempty"`
	Go         string    `json:"go"`
}

// Run prints the module version the binary was built from, the commit
// and its time when the build recorded them, and the Go version.
func (versionCmd) Run(e *env) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	v := versionOf(bi)
	return e.print(v, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, v.human())
		return err
	})
}

// versionOf reads what the Go toolchain recorded in the binary (nil:
// nothing): the main module's version, "devel" for a build from a work
// tree ("(devel)") or none at all, and the vcs.* settings.
func versionOf(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: "devel", Go: runtime.Version()}
	if bi == nil {
		return v
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	if m := bi.Main.Version; m != "" && m != "(devel)" {
		v.Version = m
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				v.CommitTime = t.UTC()
			}
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// human is the line `spike version` prints: "spike v1.2.0 (commit
// 0123456789ab, 2026-11-27T09:00:00Z; go1.26.0)", "spike devel (go1.26.0)".
func (v versionInfo) human() string {
	var parts []string
	if v.Commit != "" {
		c := "commit " + short(v.Commit)
		if v.Modified {
			c += " with uncommitted changes"
		}
		if !v.CommitTime.IsZero() {
			c += ", " + v.CommitTime.Format(time.RFC3339)
		}
		parts = append(parts, c)
	}
	parts = append(parts, v.Go)
	return fmt.Sprintf("spike %s (%s)", v.Version, strings.Join(parts, "; "))
}

// short is a commit hash cut to twelve characters, as git shows them.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
