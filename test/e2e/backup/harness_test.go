//go:build linux

package backup

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/loadkit"
	"github.com/spikeledger/spike/test/e2e/system"
)

// The testbed's workloads besides the keepers, Nexus and Bootstrap.
const (
	loadBin  = "load-as-superuser" // the test binary as spike/pilot/role/superuser
	superBin = "spike-superuser"   // spike CLI as spike/pilot/role/superuser
)

// roleEnv makes the re-executed test binary play a role: "preload",
// "load" or "check" (see roles_test.go).
const roleEnv = "SPIKE_E2E_BACKUP_ROLE"

// roleWait bounds a role.
const roleWait = 20 * time.Minute

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		ctx, cancel := context.WithTimeout(context.Background(), roleWait)
		code := loadkit.RunRole(ctx, "backup", role, map[string]func(context.Context) error{
			"preload": preloadRole, "load": loadRole, "check": checkRole})
		cancel()
		os.Exit(code)
	}
	os.Exit(shared.Main(m))
}

// shared is the testbed the package's tests share, started by the first
// test that asks for it and closed by TestMain.
var shared = system.NewShared("backup", system.Options{
	Prefix:  "spike-backup-",
	Keepers: 3,
	Workloads: []system.Workload{
		{Name: loadBin, ID: "/spike/pilot/role/superuser"},
		{Name: superBin, Command: "spike", ID: "/spike/pilot/role/superuser"},
	},
})

// setup returns the shared testbed; under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	return shared.Testbed(t)
}
