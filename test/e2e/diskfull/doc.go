//go:build linux

// Package diskfull is the end-to-end test of a full disk under Nexus
// (issue 15): the real spike-keeper, spike-nexus, spike-bootstrap and
// spike binaries under a real SPIRE, with Nexus's data directory on a
// small filesystem the test mounts and fills: a tmpfs, and ext4 in an
// image on a loop device; the projection in SQLite there, or in memory
// (then the event log is what fills up).
//
// Once the filesystem is full, puts of large values and audited gets
// are refused 503 state_not_ready with reason no_space, /readyz says
// why, and Nexus serves again by itself, without a restart, once the
// filler file is removed. Stopped, its log verifies offline (spike audit
// verify and eventlog.VerifyFile), every acknowledged write reads back
// before and after a restart, and the restart finds the projection
// intact (no rebuild).
//
// The test binary also runs as a helper role under the superuser's
// identity (a hard link with its own registration): an SDK client that
// puts, gets and checks secrets and prints what Nexus answered as JSON.
//
// The test needs root (to mount); where the kernel refuses the mount it
// skips with one line saying so. It is skipped under -short.
package diskfull
