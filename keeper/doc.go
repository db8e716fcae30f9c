// Package keeper is SPIKE Keeper: it holds one Shamir shard of the root
// key in memory and hands it back to Nexus when Nexus restarts.
//
// The API is SPIKE v0.8's (see package api): POST /v1/store/contribute
// replaces the shard ({"shard":[32 integers]} → {}), POST /v1/store/shard
// returns it. Only Nexus and Bootstrap get past the TLS handshake; of
// them, both may contribute and only Nexus may read the shard back
// (Bootstrap gets 401 access_unauthorized). An all-zero or missing shard
// is refused with 400 and leaves the held shard as it was; asking for the
// shard before any was contributed is answered 400 with
// {"shard":null,"err":"api_bad_request"}, as in SPIKE.
//
// The shard never leaves memory: it lives in one page mapped apart from
// the Go heap, locked against swap (a failure to lock is logged as a
// warning, not fatal) and, on Linux, left out of core dumps. It is
// overwritten by each contribution and zeroed when the keeper stops. It
// is never logged, written to disk, or put in an error. A keeper that
// restarts holds nothing until Nexus sends its shard again.
//
// A plain-HTTP operations listener answers GET /healthz (200 while
// serving), GET /readyz (200 once a shard is held, else 503 with a
// one-line reason) and GET /metrics (Prometheus: the API server's
// request, connection and handshake series and the keeper's own, listed
// in docs/metrics.md; never a shard). Unless set, it listens on loopback at the TLS port
// plus 1000 (127.0.0.1:9554 for the default 8554), so that keepers
// started side by side with only their TLS ports different, as SPIKE's
// scripts start them, do not collide.
package keeper
