//go:build unix && !linux

package keeper

// excludeFromCoreDump does nothing where the OS has no per-mapping way to
// keep memory out of core dumps.
func excludeFromCoreDump([]byte) error { return nil }
