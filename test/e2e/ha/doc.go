//go:build linux

// Package ha holds the end-to-end acceptance tests of issue 16: three
// spike-nexus replicas forming one Raft group, three keepers (threshold
// two), real binaries under a real SPIRE server and agent, driven by SDK
// clients that each talk to a different replica.
//
// TestClusterForms proves one bootstrap gives one leader and two ready
// followers, that a client at any replica writes and reads, and that each
// audited read is recorded once however it was forwarded. TestFailover
// SIGKILLs the leader ten times under a mixed load and proves nothing
// acknowledged was lost, reporting the time from each kill to the next
// acknowledged write. TestPartition cuts the leader off from its peers
// and proves it acknowledges nothing while the others go on, then heals
// the partition. TestRollingRestart restarts every replica in turn under
// load with zero failed requests. TestReplaceReplica gives a follower an
// empty data directory and proves it catches up.
//
// Every test ends with the offline checks: each replica's events.db
// verifies against the checkpoint key, the three logs hold the same
// events (leaf hash for leaf hash) and the same signed checkpoints, and
// each replica's projection has the digest a rebuild from the log gives.
//
// The tests skip, saying so, when spike-nexus has no clustering
// (SPIKE_NEXUS_CLUSTER_PEERS absent from its --help), and under -short,
// where only the harness's own unit tests run.
package ha
