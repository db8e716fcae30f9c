// Package spikedb reads and writes the SQLite database file of SPIKE v0.8
// (spike.db), so that spike can export a snapshot a real SPIKE v0.8 Nexus
// serves given the same root key, and can import the state of an existing
// SPIKE deployment.
//
// The file layout is SPIKE's, byte for byte where it matters: the same three
// tables (policies, secrets, secret_metadata) and two indexes created by the
// same DDL, secret and policy fields sealed with AES-256-GCM under the 32-byte
// root key used directly, with 12-byte nonces and no associated data:
//
//   - secrets: one row per version; encrypted_data seals the JSON object of
//     the version's values under the row's random nonce; created_time and
//     deleted_time are DATETIME text in the layout SPIKE's driver
//     (mattn/go-sqlite3) writes, "2006-01-02 15:04:05.999999999-07:00".
//   - secret_metadata: one row per path; each of the five fields (current,
//     oldest and maximum version, created and updated time as Unix seconds)
//     is decimal text sealed under the row's random base nonce XORed with a
//     fixed 12-byte per-field salt.
//   - policies: name and times (Unix seconds) in clear; the SPIFFE ID
//     pattern, the path pattern and the comma-joined permissions are sealed
//     under one random nonce per row, shared by all three fields.
//
// Security: that last point is SPIKE's format, not a choice of this
// package. Reusing one GCM nonce for three plaintexts under one key leaks
// the XOR of those plaintexts and weakens the authentication of the row;
// a SPIKE Nexus can only read the row if it is written that way. Nothing is
// bound to its row either (no associated data), so rows and fields can be
// swapped without detection. An exported file is only as strong as that
// format: protect it as carefully as a SPIKE deployment's own spike.db.
// Within spike, state stays in the event log, sealed by keys derived from
// the root key; this package is only for moving state to and from SPIKE.
//
// Write creates a new file (never overwriting one) with mode 0600 and writes
// it in one transaction; Read opens a file read-only and validates it:
// schema, sizes, decryption, JSON and the agreement of versions with their
// metadata. Neither function retains the root key, and no error carries a
// secret value.
//
// A SPIKE Nexus runs its database in WAL mode: copy spike.db together with
// its spike.db-wal file (or stop Nexus first) so no committed change is
// left behind.
package spikedb
