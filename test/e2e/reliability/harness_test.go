//go:build linux

package reliability

import (
	"os"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// The testbed's workloads besides the keepers, Nexus and Bootstrap.
const (
	loadBin    = "load-as-superuser" // the test binary as spike/pilot/role/superuser
	recoverBin = "spike-recover"     // spike CLI as spike/pilot/role/recover
)

// roleEnv makes the re-executed test binary play a role: "load" or
// "check" (see roles_test.go).
const roleEnv = "SPIKE_E2E_RELIABILITY_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(shared.Main(m))
}

// shared is the testbed the package's tests share, started by the first
// test that asks for it and closed by TestMain.
var shared = system.NewShared("reliability", system.Options{
	Prefix:  "spike-reliability-",
	Keepers: 3,
	Workloads: []system.Workload{
		{Name: loadBin, ID: "/spike/pilot/role/superuser"},
		{Name: recoverBin, Command: "spike", ID: "/spike/pilot/role/recover"},
	},
})

// setup returns the shared testbed; under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	return shared.Testbed(t)
}
