//go:build linux

// Package system runs a whole SPIKE system for end-to-end tests: the real
// spike-keeper, spike-nexus and spike-bootstrap binaries, each under its
// own SPIFFE ID from a real SPIRE server and agent (package
// test/e2e/spire).
//
// A Testbed builds the commands once, makes one hard link per identity
// (the unix:path selector tells workloads apart by the path of their
// executable, so every keeper gets a link of its own, and the running test
// binary gets links for the roles it plays when it re-executes itself),
// and starts SPIRE with an entry for each link. The build and SPIRE's
// start run at the same time: the entries need only the paths.
//
// A Deployment is one SPIKE system on a Testbed: n keepers and one Nexus
// on loopback addresses fixed for its lifetime, so that a restarted
// process is found where the others expect it. Its processes can be
// started, stopped, killed and restarted one by one; Deploy brings up the
// whole system and bootstraps it.
//
// The pieces underneath are exported for tests that drive processes
// themselves: StartProc and Proc for daemons (the child dies with the test
// process; SIGTERM at cleanup, SIGKILL after 10 s), Run for one-shot
// commands bounded by RunWait, WaitFor for polling with a deadline and the
// log of the process waited on, BaseEnv for a child environment free of
// the caller's SPIKE_ and SPIFFE_ settings, Ports (behind
// Testbed.FreeAddr) for loopback addresses below the kernel's ephemeral
// range, and ModuleRoot and Build for the module's commands. They need
// no Testbed, and so no SPIRE.
//
// The package is Linux only, like package spire.
package system
