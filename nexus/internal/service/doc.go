// Package service is Nexus's secret service once the root key is back:
// SPIKE v0.8's routes and spike's extensions over one event log, every
// change and every audited read made by one writer, the command loop
// (service.go), which commits through a commit.Committer and answers only
// once its events are durable. Nexus (package nexus) builds a Service
// when it unseals and routes every request but custody's to Handler.
//
// # Leading and following
//
// A replica of a cluster leads for a while, then follows another, then
// may lead again, on the same Service: Run is the command loop while it
// leads, Follow keeps the projection up with the log while replication
// appends the leader's events to it (loop.go, follow.go). Each Run is a
// term with its own queue: it catches the projection up before it takes
// a command, and a command still queued when it ends, or submitted
// while no Run runs, is answered 503. A committer's commit.ErrNotLeader
// is answered 503 not_leader, and nothing of it is applied. Close is
// the service's end, at shutdown; stopping leading only ends Run.
//
// # What is an event
//
// Which requests become events is one rule, stated once for those who
// audit: docs/auditor.md, "What is an event". Its steps are the code's:
// admit decodes, authorises (allow records access.denied), then
// validates, so a 400 for the body is never an event; a write refused by
// the state it found records request.refused through refuse, with the
// api.Reason its caller is given (refusal.outcome maps it to not_found or
// conflict); a get that finds nothing records its secret.read. Every such
// event is appended through the command loop before the answer leaves.
// The routes served while sealed (custody's, in package custody) record no
// refusal. TestEveryRefusedWriteIsOneEvent and
// TestEveryRouteRecordsItsDenial hold the code to the rule; a change to
// either changes that section too.
package service
