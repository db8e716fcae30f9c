package custody

import (
	"testing"

	"github.com/spikeledger/spike/nexus/internal/testcluster"
)

// cluster is testcluster's keepers, with custody's own helpers.
type cluster struct{ *testcluster.Cluster }

func newCluster(t testing.TB, keepers int) *cluster { return &cluster{testcluster.New(t, keepers)} }
