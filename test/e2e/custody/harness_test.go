//go:build linux

package custody

import (
	"os"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// maxKeepers is how many keeper identities are registered.
const maxKeepers = 5

// The testbed's workloads besides the keepers, Nexus and Bootstrap: the
// spike CLI under two role names, and the test binary as the two helper
// roles of roles_test.go.
const (
	recoverBin = "spike-recover"           // spike CLI as spike/pilot/role/recover
	restoreBin = "spike-restore"           // spike CLI as spike/pilot/role/restore
	peekBin    = "peek-as-nexus"           // the test binary as spike/nexus
	contribBin = "contribute-as-bootstrap" // the test binary as spike/bootstrap
	superBin   = "spike-superuser"         // spike CLI as spike/pilot/role/superuser
	auditorBin = "spike-auditor"           // spike CLI as spike/pilot/role/auditor
	readerBin  = "spike-reader"            // spike CLI as workload/reader
)

func TestMain(m *testing.M) {
	if code, ran := system.RunKeeperRole(); ran {
		os.Exit(code)
	}
	os.Exit(shared.Main(m))
}

// shared is the testbed the package's tests share, started by the first
// test that asks for it and closed by TestMain.
var shared = system.NewShared("custody", system.Options{
	Prefix:  "spike-custody-",
	Keepers: maxKeepers,
	Workloads: []system.Workload{
		{Name: recoverBin, Command: "spike", ID: "/spike/pilot/role/recover"},
		{Name: restoreBin, Command: "spike", ID: "/spike/pilot/role/restore"},
		{Name: peekBin, ID: "/spike/nexus"},
		{Name: contribBin, ID: "/spike/bootstrap"},
		{Name: superBin, Command: "spike", ID: "/spike/pilot/role/superuser"},
		{Name: auditorBin, Command: "spike", ID: "/spike/pilot/role/auditor"},
		{Name: readerBin, Command: "spike", ID: "/workload/reader"},
	},
})

// setup returns the shared testbed; under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	return shared.Testbed(t)
}
