//go:build linux

package loadkit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/test/e2e/system"
)

// RootKey has recoverBin (spike as the pilot recover role) write the
// recovery files into d's directory and rebuilds the root key from a
// threshold of them, as an operator could. env is added to the role's
// environment (to pick the Nexus it asks, say).
func RootKey(t *testing.T, d *system.Deployment, recoverBin string, env ...string) [shamir.KeySize]byte {
	t.Helper()
	dir := filepath.Join(d.Dir(), "recovery")
	r := d.Run(t, "recover", system.Cmd{Bin: recoverBin, Args: []string{"operator", "recover"},
		Env: d.Env(append([]string{"SPIKE_PILOT_RECOVERY_DIR=" + dir}, env...)...)})
	if r.Code != 0 {
		t.Fatalf("spike operator recover: %s", r)
	}
	var shares []shamir.Share
	for id := 1; id <= d.Threshold(); id++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("spike.recovery.%d.txt", id)))
		if err != nil {
			t.Fatal(err)
		}
		sh, err := shamir.ParseRecovery(string(b))
		if err != nil {
			t.Fatalf("recovery file %d: %v", id, err)
		}
		shares = append(shares, sh)
	}
	key, err := shamir.Combine(len(shares), shares)
	if err != nil {
		t.Fatalf("combine the recovery files: %v", err)
	}
	return key
}
