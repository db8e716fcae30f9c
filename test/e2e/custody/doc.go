//go:build linux

// Package custody holds the end-to-end acceptance tests of root key
// custody (issue 5): the real spike-keeper, spike-nexus, spike-bootstrap
// and spike binaries under a real SPIRE server and agent, each process
// with its own SPIFFE ID by binary path.
//
// The suites bootstrap a fresh system (3 keepers / threshold 2 and
// 5 / 3), kill Nexus with SIGKILL and watch it recover from the keepers,
// take keepers down until recovery must fail and check that Nexus says
// why, bring it back with the operator's recovery files, plant a
// corrupted shard in one keeper, run Bootstrap twice, and finally search
// every log and the Nexus data directory for the shards. Another suite
// sends canary secret values through every route that carries one, with
// the servers logging JSON and then text at debug level, and searches
// every line of every process for them (and for the shards).
//
// The test binary also runs as two helper roles (hard links with their
// own registrations): a Nexus-identity client that reads what each keeper
// holds, and a Bootstrap-identity client that gives a keeper a wrong
// shard. Their output stays in memory, never in the scanned files.
//
// The tests are skipped under -short; otherwise they fail, never skip,
// when SPIRE or a binary cannot be had.
package custody
