//go:build linux

package reliability

import (
	"context"
	"time"

	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// roleWait bounds a role: the longest soak, its warm-up and the checks.
const roleWait = 2 * time.Hour

// runRole is the re-executed test binary's main: "load" runs the load
// until standard input closes, "check" checks the journal against Nexus.
func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), roleWait)
	defer cancel()
	return loadkit.RunRole(ctx, "reliability", role, map[string]func(context.Context) error{"load": loadRole, "check": checkRole})
}
