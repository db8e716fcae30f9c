// Package events is the catalogue of every fact spike records: one payload
// struct per event type, each with a stable type name and a schema
// version.
//
// The event log (package eventlog) stores opaque payloads; this package
// gives them meaning. Payloads are encoded as JSON objects: a reader
// ignores fields it does not know, and a missing field decodes to its zero
// value, so adding a field never breaks an old reader or an old event.
// Changes that are not additive bump the schema version and come with an
// upcaster (package migrations) that turns the old payload into the new.
//
// Every payload embeds Meta: who caused the event (their SPIFFE ID) and
// the request it belongs to. The time of an event is the log's, carried
// in the envelope header and filled in by Decode's caller.
//
// Payloads never carry secret values in clear: a secret version's data is
// sealed under its own per-value key before it becomes an event, and
// cipher events record the operation and outcome, never the data.
package events
