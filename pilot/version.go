package pilot

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

type versionCmd struct{}

// versionInfo is the JSON document of `spike version`.
type versionInfo struct {
	Version string `json:"version"`
	Go      string `json:"go"`
}

// Run prints the module version the binary was built from ("devel" for
// a build from a work tree) and the Go version.
func (versionCmd) Run(e *env) error {
	v := versionInfo{Version: "devel", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	return e.print(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "spike %s (%s)\n", v.Version, v.Go)
		return err
	})
}
