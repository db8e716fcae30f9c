// Package nexus is the secret service: SPIKE v0.8's routes and spike's
// extensions over one event log, every change and every audited read made
// by one writer, the command loop (service.go), and answered only once its
// events are durable.
//
// # What is an event
//
// Every request Nexus authenticates and decodes is an event when it is
// refused by authorisation (access.denied, on every route), or when it
// writes — put, patch, rollback, delete, undelete, destroy, settings,
// metadata delete, policy put/delete, restore apply — or reads a secret's
// value (get) or uses the cipher, whatever its outcome: ok, not_found,
// conflict (check-and-set mismatch or required, destroyed data), denied.
// Not events: bodies that do not decode or break a validation rule (400
// before authorisation or the store is reached), listings and metadata
// reads, audit queries, and handshake refusals; those are in the server's
// log with the request id.
//
// A write refused by the state it found is a request.refused event with
// the action (the api.Op's name) and the api.Reason the caller is given
// in an api.Problem body; a get that finds nothing is a secret.read with
// outcome not_found and its reason. Either is appended through the command
// loop before the answer leaves, like every event. (The cipher reads its
// own body, so every authorised cipher request is a cipher.used event; the
// routes served while sealed check the caller's role before any body is
// read, and have no log to write to while sealed.)
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
