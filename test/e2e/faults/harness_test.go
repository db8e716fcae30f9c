//go:build linux

package faults

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
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	code := m.Run()
	env.teardown()
	os.Exit(code)
}

// environment is the testbed the fault and restart tests share, set up
// by the first test that needs it and torn down by TestMain.
type environment struct {
	once sync.Once
	err  error
	tb   *system.Testbed
}

var env environment

// setup builds the binaries and starts SPIRE once per package. Under
// -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	skipShort(t)
	env.once.Do(func() {
		begin := time.Now()
		env.tb, env.err = newTestbed(context.Background(), "spike-faults-", 0)
		if env.err == nil {
			fmt.Fprintf(os.Stderr, "faults e2e: binaries built and SPIRE started in %v\n", time.Since(begin).Round(time.Millisecond))
		}
	})
	if env.err != nil {
		t.Fatalf("end-to-end setup failed: %v", env.err)
	}
	return env.tb
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE: skipped with -short")
	}
}

// newTestbed starts a testbed with every workload of the package, its
// SVIDs living ttl (0: SPIRE's default, 1h).
func newTestbed(ctx context.Context, prefix string, ttl time.Duration) (*system.Testbed, error) {
	return system.NewTestbed(ctx, system.Options{
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
	})
}

func (e *environment) teardown() {
	if e.tb == nil {
		return
	}
	if err := e.tb.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "faults e2e: %v\n", err)
	}
}
