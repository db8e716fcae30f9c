//go:build linux

package custody

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	code := m.Run()
	env.teardown()
	os.Exit(code)
}

// environment is what the suites share: one testbed, the binaries under
// one SPIRE cluster, set up by the first test that needs it and torn
// down by TestMain.
type environment struct {
	once sync.Once
	err  error
	tb   *system.Testbed
}

var env environment

// setup builds the binaries and starts SPIRE once per package; a failure
// fails every test that asks, with the reason. Under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE: skipped with -short")
	}
	env.once.Do(func() { env.err = env.start() })
	if env.err != nil {
		t.Fatalf("end-to-end setup failed: %v", env.err)
	}
	return env.tb
}

func (e *environment) start() error {
	begin := time.Now()
	tb, err := system.NewTestbed(context.Background(), system.Options{
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
	if err != nil {
		return err
	}
	e.tb = tb
	fmt.Fprintf(os.Stderr, "custody e2e: binaries built and SPIRE started in %v\n", time.Since(begin).Round(time.Millisecond))
	return nil
}

func (e *environment) teardown() {
	if e.tb == nil {
		return
	}
	if err := e.tb.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "custody e2e: %v\n", err)
	}
}
