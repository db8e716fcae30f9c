//go:build linux

package reliability

import (
	"path/filepath"
	"testing"

	"github.com/spikeledger/spike/test/e2e/loadkit"
	"github.com/spikeledger/spike/test/e2e/system"
)

// startLoad starts the load role as the pilot superuser against d's
// Nexus, with the settings in extra (see load_test.go).
func startLoad(t *testing.T, tb *system.Testbed, d *system.Deployment, extra ...string) *loadkit.Proc {
	t.Helper()
	return loadkit.Start(t, tb.Path(loadBin), d.Env(append([]string{roleEnv + "=load"}, extra...)...),
		filepath.Join(d.LogDir(), "load.stderr"))
}

// stopLoad tells the load to stop, waits for it and returns its summary.
func stopLoad(t *testing.T, load *loadkit.Proc) summary {
	t.Helper()
	var s summary
	load.Stop(t, &s)
	return s
}
