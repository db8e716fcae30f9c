//go:build linux

package diskfull

import (
	"os"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// The testbed's workloads besides the keepers, Nexus and Bootstrap: the
// spike CLI and the test binary, both as the superuser.
const (
	pilotBin  = "spike-superuser" // spike CLI as spike/pilot/role/superuser
	clientBin = "diskfull-client" // the test binary as spike/pilot/role/superuser
	roleEnv   = "SPIKE_E2E_DISKFULL_ROLE"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role, os.Args[1:]))
	}
	os.Exit(shared.Main(m))
}

// shared is the testbed the package's tests share, started by the first
// test that asks for it and closed by TestMain.
var shared = system.NewShared("diskfull", system.Options{
	Prefix:  "spike-diskfull-",
	Keepers: 3,
	Workloads: []system.Workload{
		{Name: pilotBin, Command: "spike", ID: "/spike/pilot/role/superuser"},
		{Name: clientBin, ID: "/spike/pilot/role/superuser"},
	},
})

// setup returns the shared testbed; under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	return shared.Testbed(t)
}
