//go:build linux

// Package reliability holds the end-to-end reliability tests of issue 15:
// the real spike-nexus, spike-keeper and spike-bootstrap binaries under a
// real SPIRE server and agent, driven by a mixed load of SDK clients.
//
// TestCrashLoop kills Nexus with SIGKILL at random moments (30 times by
// default, SPIKE_E2E_CRASHES) while eight clients write, read, delete,
// undelete, change policies and use the cipher, each on paths of its own,
// journaling every operation Nexus acknowledged. Afterwards it proves that
// nothing acknowledged was lost: every acknowledged version is there with
// its value and no version is duplicated or skipped, every acknowledged
// read left its secret.read event, every ciphertext decrypts, the event
// log verifies offline against the checkpoint key, and the projection
// Nexus kept is, digest for digest, what a full rebuild from the log gives.
//
// TestSoak runs the same kind of load from 32 clients for two minutes
// (SPIKE_SOAK_DURATION; `make soak` runs ten) and samples the Nexus
// process every second: resident memory, goroutines and open files. It
// fails on any failed request and on a growth trend after the warm-up.
//
// The load and the checks run in the test binary re-executed as the
// pilot superuser (a hard link with its own SPIRE registration). The tests
// are skipped under -short.
package reliability
