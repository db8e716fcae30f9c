//go:build linux

// Package bench measures spike-nexus as its own process under a real
// SPIRE, with its default logging, as a user trying it would run it: three
// keepers, Nexus and spike-bootstrap from package test/e2e/system, the
// superuser's and a load workload's SVIDs fetched from the SPIRE agent and
// written as spiffe-helper files.
//
// It is skipped unless the test binary is given -spire-bench (make
// bench-spire, make bench-cluster, make bench-cold-start): each test takes minutes and both
// cores.
//
//   - TestSideBySide runs the load tool (test/load) against that Nexus and,
//     when there is one, a SPIKE Nexus beside it, alternating per row. The
//     SPIKE target is SPIKE_BENCH_TARGET (a ready -target value) or what
//     SPIKE_BENCH_SCRIPT prints on "start" (a line TARGET=<-target value>;
//     the test runs the script with "stop" at the end). -load-flags adds
//     flags to the load tool, e.g. "-clients ours,sdk,sdk-new -format md".
//   - TestClusterBench runs the load tool's gets and puts against a single
//     Nexus and a 3-replica cluster beside it on the same testbed, each
//     with its own keepers, the cluster called at its leader and at a
//     follower that forwards; a cluster row's server CPU is its three
//     replicas' summed. It fails on failed calls and logs whether the
//     cluster met issue 16's floor at 64 callers.
//   - TestColdStart writes -cold-secrets secrets and reads them until the
//     log holds -cold-events events, stops Nexus cleanly and measures the
//     time from its new process's start to its first successful get with
//     the projection intact, its resident memory, and then the same from a
//     deleted projection (a full rebuild, in events per second).
package bench
