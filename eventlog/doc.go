// Package eventlog is the append-only, encrypted, tamper-evident log that
// every other part of spike writes to and reads from.
//
// The log is one bbolt file. Each event is an envelope: a small binary
// header in clear (sequence number, ULID, time, type name, schema version,
// data-key id) followed by the payload sealed with AES-256-GCM under the
// current data key, with the encoded header as associated data. Sequence
// numbers are dense from 1.
//
// Appends are group-committed: concurrent callers are batched by a single
// writer goroutine, and each call returns only after its batch is
// durable. A batch is made durable by one write and one fdatasync to a
// preallocated write-ahead journal beside the bbolt file
// (events.db.journal), not by a bbolt transaction (two fdatasyncs and the
// page writes): readers see journalled events at once from memory, and a
// flusher moves them into bbolt in large batches, off the answer path. On
// open the journal's records newer than the bbolt file are replayed into
// it, so a crash loses nothing that was answered. bbolt stays the file
// format; the journal only ever holds events bbolt has not taken yet.
//
// A few rare types can be indexed (Options.IndexTypes), so ScanBack finds
// them, newest first, without reading every event in between.
//
// Every envelope is a leaf of an RFC 6962 Merkle tree (golang.org/x/mod's
// tlog); the tree's stored hashes are written in the same transaction as the
// events. Signed checkpoints (C2SP checkpoint notes, Ed25519) are written
// every second or every thousand events. Anyone holding a copy of the file
// and the log's public key can verify it offline with VerifyFile, without
// the root key.
//
// A log opens sealed: headers, proofs and verification work, payloads do
// not. Unlock with the 32-byte root key derives a key-encryption key (KEK)
// that unwraps the random data keys stored in the file. The root key itself
// never seals an event, so rotating it rewraps keys and never rewrites
// events. Per-value keys let a caller seal one value under its own key and
// later destroy that key: the value becomes unrecoverable, the log still
// verifies.
package eventlog
