package nexus

import (
	"context"
	"fmt"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// benchNexus is a bootstrapped Nexus with three in-process keepers, and a
// secret at bench/secret.
func benchNexus(b *testing.B) (*keeperSet, *nexusProc) {
	b.Helper()
	c := newCluster(b, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(b, n, true)
	if err := c.call(b, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "bench/secret", Values: map[string]string{"k": "v"}}, nil); err != nil {
		b.Fatal(err)
	}
	return c, n
}

// runParallel runs call from 16 goroutines sharing one keep-alive client,
// reporting ops/s.
func runParallel(b *testing.B, cl *transport.Client, call transport.Call) {
	b.Helper()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := cl.Do(context.Background(), call); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGetAudited: a superuser's get over mTLS, each answered only
// after its secret.read event is durable.
func BenchmarkGetAudited(b *testing.B) {
	c, n := benchNexus(b)
	cl := c.Client(superuser, c.Roles.IsNexus)
	runParallel(b, cl, transport.Call{BaseURL: n.api, Path: api.PathSecrets, Action: "get",
		Request: api.SecretGetRequest{Path: "bench/secret"}})
}

// BenchmarkGetWith100Policies: the same get by an ordinary workload whose
// grant is the last of 100 policies.
func BenchmarkGetWith100Policies(b *testing.B) {
	c, n := benchNexus(b)
	for i := range 99 {
		p := api.PolicyPutRequest{Name: fmt.Sprintf("p%02d", i), SPIFFEIDPattern: fmt.Sprintf(`^spiffe://spike\.test/workload/other-%d$`, i),
			PathPattern: fmt.Sprintf(`^team-%d/.*$`, i), Permissions: []api.Permission{api.PermRead}}
		if err := c.call(b, n, superuser, api.OpPolicyPut, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	last := api.PolicyPutRequest{Name: "p99", SPIFFEIDPattern: `^spiffe://spike\.test/workload/app$`, PathPattern: `^bench/.*$`, Permissions: []api.Permission{api.PermRead}}
	if err := c.call(b, n, superuser, api.OpPolicyPut, last, nil); err != nil {
		b.Fatal(err)
	}
	cl := c.Client("/workload/app", c.Roles.IsNexus)
	runParallel(b, cl, transport.Call{BaseURL: n.api, Path: api.PathSecrets, Action: "get",
		Request: api.SecretGetRequest{Path: "bench/secret"}})
}

// BenchmarkPutDurable: writes to many paths, each answered once durable.
func BenchmarkPutDurable(b *testing.B) {
	c, n := benchNexus(b)
	cl := c.Client(superuser, c.Roles.IsNexus)
	b.SetParallelism(8)
	b.ResetTimer()
	var seq int64
	var mu chan struct{} = make(chan struct{}, 1)
	mu <- struct{}{}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			<-mu
			seq++
			path := fmt.Sprintf("bench/put-%d", seq%1000)
			mu <- struct{}{}
			err := cl.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathSecrets,
				Request: api.SecretPutRequest{Path: path, Values: map[string]string{"k": "v"}}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGetAudited20Versions is BenchmarkGetAudited on a secret with
// twenty versions (retention raised to keep them): reads must not slow
// down as versions accumulate (SPIKE halves).
func BenchmarkGetAudited20Versions(b *testing.B) {
	c, n := benchNexus(b)
	max := 20
	if err := c.call(b, n, superuser, api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: "bench/secret", MaxVersions: &max}, nil); err != nil {
		b.Fatal(err)
	}
	for i := range 19 {
		if err := c.call(b, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "bench/secret", Values: map[string]string{"k": fmt.Sprint(i)}}, nil); err != nil {
			b.Fatal(err)
		}
	}
	cl := c.Client(superuser, c.Roles.IsNexus)
	runParallel(b, cl, transport.Call{BaseURL: n.api, Path: api.PathSecrets, Action: "get",
		Request: api.SecretGetRequest{Path: "bench/secret"}})
}
