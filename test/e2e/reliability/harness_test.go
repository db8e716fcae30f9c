//go:build linux

package reliability

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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
	code := m.Run()
	env.teardown()
	os.Exit(code)
}

// environment is the testbed the tests share, set up by the first test
// that needs it and torn down by TestMain.
type environment struct {
	once sync.Once
	err  error
	tb   *system.Testbed
}

var env environment

// setup builds the binaries and starts SPIRE once per package; under
// -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end reliability test with real binaries under a real SPIRE: skipped with -short")
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
		Prefix:  "spike-reliability-",
		Keepers: 3,
		Workloads: []system.Workload{
			{Name: loadBin, ID: "/spike/pilot/role/superuser"},
			{Name: recoverBin, Command: "spike", ID: "/spike/pilot/role/recover"},
		},
	})
	if err != nil {
		return err
	}
	e.tb = tb
	fmt.Fprintf(os.Stderr, "reliability e2e: binaries built and SPIRE started in %v\n", time.Since(begin).Round(time.Millisecond))
	return nil
}

func (e *environment) teardown() {
	if e.tb == nil {
		return
	}
	if err := e.tb.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "reliability e2e: %v\n", err)
	}
}
