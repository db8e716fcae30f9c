//go:build linux

// Package backup holds the end-to-end acceptance test of hot backup and
// restore (issue 17): the real spike-nexus, spike-keeper,
// spike-bootstrap and spike binaries under a real SPIRE server and agent.
//
// TestHotBackup fills a Nexus with secrets, runs an SDK load against it
// and, while the load runs, takes a backup with spike operator backup.
// It then stops Nexus, restores the backup with spike-nexus
// restore-backup into a fresh data directory (pinning the verifier key
// Nexus reported), verifies the restored log offline, starts a new Nexus
// on it that unseals from the same keepers, and reads back every version
// acknowledged before the backup began. It logs the backup's speed and
// the load's latency before and during the copy; it asserts nothing
// about time.
//
// The load and the checks run in the test binary re-executed as the
// pilot superuser (a hard link with its own SPIRE registration). The test
// is skipped under -short.
package backup
