// Package forward hands a Nexus follower's API requests to the cluster's
// leader over SPIFFE mutual TLS, so that clients may call any replica.
//
// The follower has verified the caller's certificate; it sends the
// request on as itself (a spike/nexus identity) with the caller's SPIFFE
// ID in transport.HeaderForwardedPeer, which the leader believes only
// from Nexus peers (transport.ServerOptions.TrustForwarded). The leader
// therefore authorises and records the request as the original caller,
// and the access log of each side names both.
//
// A request that cannot reach the leader (none is known, or it cannot
// be connected to) is answered 503 state_not_ready with reason
// no_leader: nothing was done, and the client retries. A request that
// reached the leader but whose answer broke off may have taken effect;
// its connection is cut, as if the client had talked to the leader
// itself.
package forward
