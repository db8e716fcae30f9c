//go:build linux

package faults

import (
	"os"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// maxKeepers is how many keeper identities are registered.
const maxKeepers = 5

// The testbed's workloads besides the keepers, Nexus and Bootstrap.
const (
	superBin   = "spike-superuser"         // spike CLI as spike/pilot/role/superuser
	recoverBin = "spike-recover"           // spike CLI as spike/pilot/role/recover
	restoreBin = "spike-restore"           // spike CLI as spike/pilot/role/restore
	peekBin    = "peek-as-nexus"           // the test binary as spike/nexus
	contribBin = "contribute-as-bootstrap" // the test binary as spike/bootstrap
	loadBin    = "load-as-superuser"       // the test binary as spike/pilot/role/superuser
)

func TestMain(m *testing.M) {
	if code, ran := system.RunKeeperRole(); ran {
		os.Exit(code)
	}
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(shared.Main(m))
}

// shared is the testbed the fault and restart tests share, started by
// the first test that asks for it and closed by TestMain.
var shared = system.NewShared("faults", options("spike-faults-", 0))

// setup returns the shared testbed; under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	return shared.Testbed(t)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE: skipped with -short")
	}
}

// options describes a testbed with every workload of the package, its
// SVIDs living ttl (0: SPIRE's default, 1h).
func options(prefix string, ttl time.Duration) system.Options {
	return system.Options{
		Prefix:  prefix,
		Keepers: maxKeepers,
		SVIDTTL: ttl,
		Workloads: []system.Workload{
			{Name: superBin, Command: "spike", ID: "/spike/pilot/role/superuser"},
			{Name: recoverBin, Command: "spike", ID: "/spike/pilot/role/recover"},
			{Name: restoreBin, Command: "spike", ID: "/spike/pilot/role/restore"},
			{Name: peekBin, ID: "/spike/nexus"},
			{Name: contribBin, ID: "/spike/bootstrap"},
			{Name: loadBin, ID: "/spike/pilot/role/superuser"},
		},
	}
}
