// Package projections maintains the SQLite read models that Nexus serves
// from: secrets (one row per version), secret metadata, policies, and the
// access history auditors query. They are derived from the event log and
// are only a cache: delete the database and it is rebuilt from the log.
//
// A projection records the last event it applied and that event's leaf
// hash. Opened against an unlocked log, it catches up from there if the
// log still has that exact event at that position, and rebuilds from
// scratch otherwise (a different log, a rewritten log, a corrupt or
// foreign database, a changed root key).
//
// Secret values and policy details are sealed in the database under a
// projection key derived from the root key, with the path and version (or
// the policy name) as associated data; paths, versions, times and access
// metadata stay queryable in clear.
//
// The same code builds a scratch projection up to any sequence number or
// instant (AsOf), which is the base of point-in-time views, exports and
// restores.
package projections
