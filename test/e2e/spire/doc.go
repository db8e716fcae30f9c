//go:build linux

// Package spire runs a real SPIRE server and agent for end-to-end tests.
//
// The SPIRE binaries (v1.13.3) are built once from the Go module proxy into
// a persistent cache directory and reused by every later run ("make
// spire", command prebuild, builds them before the tests; a test that
// finds another process building them waits while its build.log grows). Start then
// launches a private server and agent in a fresh temporary directory, on a
// random loopback port, with the join_token node attestor, the memory key
// manager and the unix workload attestor. Workloads are told apart by the
// absolute path of their executable (the "unix:path" selector); RoleBinary
// makes one hardlink of the test binary per role for the re-exec pattern.
//
// Environment:
//
//   - SPIKE_SPIRE_BIN: a directory holding prebuilt spire-server and
//     spire-agent binaries; nothing is built.
//   - SPIKE_SPIRE_CACHE: the build cache directory, by default
//     $HOME/.cache/spike/spire-v1.13.3.
//
// The package is Linux only: the unix workload attestor reads /proc.
package spire
