//go:build linux

package ha

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// The testbed's workloads besides the keepers, Nexus and Bootstrap.
const (
	clientBin   = "ha-client"       // the test binary as spike/pilot/role/superuser
	operatorBin = "spike-superuser" // spike CLI as spike/pilot/role/superuser
	recoverBin  = "spike-recover"   // spike CLI as spike/pilot/role/recover
)

// roleEnv makes the re-executed test binary play a role: "load" or
// "check" (see roles_test.go).
const roleEnv = "SPIKE_E2E_HA_ROLE"

// longEnv, set to 1, runs the longer variants.
const longEnv = "SPIKE_E2E_HA_LONG"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(shared.Main(m))
}

// shared is the testbed the package's tests share, started by the first
// test that asks for it and closed by TestMain.
var shared = system.NewShared("ha", system.Options{
	Prefix:  "spike-ha-",
	Keepers: 3,
	Workloads: []system.Workload{
		{Name: clientBin, ID: "/spike/pilot/role/superuser"},
		{Name: operatorBin, Command: "spike", ID: "/spike/pilot/role/superuser"},
		{Name: recoverBin, Command: "spike", ID: "/spike/pilot/role/recover"},
	},
})

// clustering caches whether spike-nexus knows SPIKE_NEXUS_CLUSTER_PEERS.
var clustering struct {
	once sync.Once
	ok   bool
	why  string
	help string // spike-nexus --help
}

// setup returns the shared testbed; it skips under -short and when the
// spike-nexus built from this tree cannot form a cluster.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	tb := shared.Testbed(t)
	clustering.once.Do(func() {
		r := system.Run(t, system.Cmd{Bin: tb.Nexus(), Args: []string{"--help"}, Env: system.BaseEnv()})
		clustering.help = r.Stdout + r.Stderr
		clustering.ok = strings.Contains(clustering.help, "SPIKE_NEXUS_CLUSTER_PEERS")
		clustering.why = "spike-nexus --help does not mention SPIKE_NEXUS_CLUSTER_PEERS: clustering is not wired into this tree's Nexus yet"
	})
	if !clustering.ok {
		t.Skip(clustering.why)
	}
	return tb
}

// long reports whether the longer variants run.
func long() bool { return os.Getenv(longEnv) == "1" }

// nexusKnows reports whether spike-nexus --help mentions env, a setting
// the tests use only where the tree has it.
func nexusKnows(env string) bool { return strings.Contains(clustering.help, env) }
