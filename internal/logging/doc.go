// Package logging builds the one log format every spike program writes:
// log/slog records, as JSON (the servers' default: one object a line, for
// a log pipeline) or as slog's key=value text (for a person at a
// terminal), at the level SPIKE_SYSTEM_LOG_LEVEL names.
//
// The servers (spike-nexus, spike-keeper, spike-bootstrap) take Flags in
// their command lines (Nexus spells out the same two fields and checks
// them with Flags.Check), so --log-format / SPIKE_SYSTEM_LOG_FORMAT and
// --log-level / SPIKE_SYSTEM_LOG_LEVEL read and fail the same way in all
// three. The interactive programs (spike, spike-demo) keep their output
// for people as it is and send only their own diagnostics through New,
// as text, at the level LevelFromEnv reads.
//
// A record never carries a secret value, a shard or a key: callers log
// names, sizes, counts and outcomes, and the leak checks of the
// end-to-end tests search every line for them.
package logging
