//go:build linux

// Package loadkit holds what the end-to-end tests that run a journaled
// SDK load in a child process share (test/e2e/ha and
// test/e2e/reliability): the re-executed test binary's role dispatch,
// the child load process, journals as JSON lines, the operator's root
// key from the recovery files, and the offline projection digest check.
//
// What each package's load does, what its journal records and what its
// checks demand differ on purpose and stay in the packages.
package loadkit
