// Package devcluster is `spike dev`: the whole system in one process, for
// a laptop. [Start] makes a throwaway development CA, starts the Keepers
// and Nexus on loopback ports with their data in a temporary directory
// (or a kept one), bootstraps the system with the real Bootstrap, and
// writes SVID files, in the layout spiffe-helper writes, for the pilot
// roles and the demo workload, so that `spike` and `spike-demo` in a
// second shell need only SPIKE_NEXUS_URL and SPIKE_SVID_DIR. [Run] adds
// the banner and waits for Ctrl-C.
//
// It is not for production, and says so: the CA key lives in this
// process, every identity is issued to whoever can read the data
// directory, and the root key's recovery shards lie in that directory
// unencrypted. They are there because the Keepers hold shards only in
// memory: on a restart with the same data directory Nexus starts sealed,
// and devcluster brings the key back the break-glass way, as the restore
// role handing Nexus the recovery files one shard at a time (SPIKE's
// `spike operator restore`); Nexus then gives the new Keepers their
// shards itself.
//
// The data directory holds:
//
//	nexus/            events.db and projections.db
//	recover/          spike.recovery.<id>.txt, SPIKE's recovery file format (0600)
//	svid/<name>/      svid.pem, svid_key.pem, svid_bundle.pem (0600, directories 0700)
//
// The SVIDs live a day and are issued again every twelve hours; the files
// are replaced atomically, and identity.FileSource picks the new ones up.
// The CA lives ninety days; each start makes a new one, so the files of
// an earlier run stop working when a new run starts.
//
// Only cmd/spike imports this package (and, from external test packages,
// the tests of sdk and pilot): pilot itself never depends on the servers.
package devcluster
