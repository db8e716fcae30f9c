//go:build !linux

package testdisk

import "testing"

// Small skips: mounting a small filesystem is done on Linux only.
func Small(t testing.TB, size int) string {
	t.Helper()
	t.Skip("skipped: the disk-full tests mount a small tmpfs, which they do on Linux only")
	return ""
}

// Mount skips, as Small does.
func Mount(t testing.TB, dir, fs string, size int) {
	t.Helper()
	t.Skip("skipped: the disk-full tests mount a small filesystem, which they do on Linux only")
}

// Fill is not reached: Small and Mount skip first.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	t.Fatal("testdisk: Fill without a mounted filesystem")
	return ""
}

// Usage is not reached: Small and Mount skip first.
func Usage(dir string) string { return "" }
