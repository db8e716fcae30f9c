//go:build linux

package reliability

import (
	"context"
	"fmt"
	"os"
	"time"
)

// roleWait bounds a role: the longest soak, its warm-up and the checks.
const roleWait = 2 * time.Hour

// runRole is the re-executed test binary's main: "load" runs the load
// until standard input closes, "check" checks the journal against Nexus.
func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), roleWait)
	defer cancel()
	var err error
	switch role {
	case "load":
		err = loadRole(ctx)
	case "check":
		err = checkRole(ctx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability role %s: %v\n", role, err)
		return 1
	}
	return 0
}
