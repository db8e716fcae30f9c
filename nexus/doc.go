// Package nexus is the secret service: SPIKE v0.8's routes and spike's
// extensions over one event log, every change and every audited read made
// by one writer, the command loop (service.go), and answered only once its
// events are durable.
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
// The routes served while sealed (custody's, routes.go) record no
// refusal. TestEveryRefusedWriteIsOneEvent and
// TestEveryRouteRecordsItsDenial hold the code to the rule; a change to
// either changes that section too.
//
// # Custody
//
// Nexus starts sealed, answering every route but the break-glass operator
// ones with 503 state_not_ready; it gathers shards from the Keepers
// (checking each against the Feldman commitment recorded in the log at
// bootstrap, so a wrong shard is left out), rebuilds the root key, unlocks
// the event log, brings the projections up to date, and only then reports
// ready. While ready it re-sends every Keeper its shard on a schedule,
// recording each run in the log.
//
// The root key lives in one locked page of memory (seal.LockedKey);
// shards are zeroed as soon as the key is rebuilt.
package nexus
