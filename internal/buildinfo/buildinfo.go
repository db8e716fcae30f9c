// Package buildinfo reports which build of spike a binary is: the version
// `make release` stamps into it at link time, or what the Go toolchain
// recorded when it was built some other way.
package buildinfo

import (
	"fmt"
	"io"
	"runtime/debug"
)

// stamped is set by the linker (`-X
// github.com/spikeledger/spike/internal/buildinfo.stamped=v1.2.3`, see the
// Makefile's release target). It is a variable only because -X can set
// nothing else; nothing writes it at run time.
var stamped string

// Version is the stamped version, else the main module's version the Go
// toolchain recorded (a VCS pseudo-version or "(devel)"), else "unknown".
func Version() string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// PrintIfAsked writes "<program> <version>" to w and reports true when
// args is exactly "--version", so that every program answers it the same
// way before parsing its own flags.
func PrintIfAsked(w io.Writer, program string, args []string) bool {
	if len(args) != 1 || args[0] != "--version" {
		return false
	}
	fmt.Fprintf(w, "%s %s\n", program, Version())
	return true
}
