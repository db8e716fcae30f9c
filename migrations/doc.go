// Package migrations evolves the two things that outlive a release: the
// projection database's schema and the event log's payload schemas.
//
// SQL migrations are numbered files in sql/, embedded in the binary and
// applied in order when a projection database is opened; the number of the
// last one applied is kept in SQLite's user_version. A database from a
// newer build is refused rather than misread.
//
// Upcasters turn a payload written under an older schema version into the
// current one before it is applied, so a log written by any earlier
// release replays unchanged. Events in the log are never rewritten.
package migrations
