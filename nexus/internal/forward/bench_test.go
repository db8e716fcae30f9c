package forward

import (
	"context"
	"testing"

	"github.com/spikeledger/spike/internal/transport"
)

// BenchmarkForward compares a small call made to the leader directly
// with the same call made through a follower, many callers at once: the
// difference is what forwarding costs per request (here on one machine,
// where the follower's and the leader's work share its cores).
func BenchmarkForward(b *testing.B) {
	p := newPKI(b)
	l := p.leader()
	follower := p.follower(at(l.addr))
	c := p.client(appID)
	for _, bc := range []struct{ name, url string }{
		{"direct", "https://" + l.addr},
		{"forwarded", follower},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Do(context.Background(), transport.Call{BaseURL: bc.url, Path: "/v1/who", Request: map[string]string{"path": "a/b"}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
