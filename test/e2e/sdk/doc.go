// Package sdk is an end-to-end test that drives the real SPIKE client,
// github.com/spiffe/spike-sdk-go/api, against a real spike-nexus under a
// real SPIRE: three keepers, Nexus, spike-bootstrap, then the test binary
// re-executed under workload identities (spike/pilot/role/superuser and a
// workload with no policy) calling every SDK method and reporting the
// outcome of each as JSON.
//
// It is skipped under -short; otherwise it fails when SPIRE cannot be had.
package sdk
