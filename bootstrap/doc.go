// Package bootstrap is spike-bootstrap: the one-shot job that makes the
// root key, gives each Keeper its shard and proves that Nexus rebuilt the
// same key, speaking SPIKE v0.8's wire protocol.
//
// [Run] does, in order:
//
//  1. Wait for Nexus, at most [Config.NexusWait], asking it whether the
//     system is bootstrapped (POST /v1/bootstrap/status, a spike
//     extension Nexus answers even while sealed). Bootstrap may start
//     before Nexus exists, as in the overview's Kubernetes order. SPIKE
//     v0.8's Nexus does not know the query, and its answer says enough:
//     503 state_not_ready (its readiness gate: it waits for a root key)
//     makes Bootstrap go on as SPIKE's Bootstrap does, with a warning
//     that it cannot tell a first bootstrap from a Nexus whose keepers
//     lost their shards; 400 api_bad_request (its fallback for an
//     unknown route, reached only once it holds a root key) counts as
//     bootstrapped.
//  2. If Nexus says it is bootstrapped, stop and change nothing, unless
//     [Config.Force] asks for a new root key (a disaster drill): every
//     secret then becomes unreadable unless the old key is restored from
//     recovery shards.
//  3. Draw a random 32-byte root key, split it with Shamir exactly as
//     SPIKE does (shard N for the Keeper at position N of the list) and
//     send every Keeper its shard (POST /v1/store/contribute), with
//     bounded retries and backoff per Keeper.
//  4. Encrypt a random text under the root key and ask Nexus for its hash
//     (POST /v1/bootstrap/verify), retrying until Nexus has gathered the
//     shards and rebuilt the key. The request also carries the Feldman
//     commitment to the sharing (an extension), which Nexus records with
//     the fact that the system is bootstrapped.
//  5. Zero the key and the shards.
//
// Bootstrap is idempotent everywhere, not only on Kubernetes: the record
// that the system is bootstrapped lives in Nexus's log, and Bootstrap asks
// before acting (against SPIKE v0.8's Nexus, as far as its answers tell). It is SPIKE v0.8's Bootstrap otherwise: same environment
// variables (the overview's names and SPIKE's, see [Parse]), same retry
// settings, same verify exchange, and its -init flag is accepted (though
// not required).
//
// The root key and the shards never appear in a log line, an error or a
// file.
package bootstrap
