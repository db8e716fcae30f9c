//go:build linux

package loadkit

import (
	"context"
	"fmt"
	"os"
	"strconv"
)

// RunRole is the re-executed test binary's main: it runs roles[role]
// bounded by ctx and returns the process's exit code. pkg labels the
// error on standard error.
func RunRole(ctx context.Context, pkg, role string, roles map[string]func(context.Context) error) int {
	f, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s role %s: unknown role\n", pkg, role)
		return 1
	}
	if err := f(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s role %s: %v\n", pkg, role, err)
		return 1
	}
	return 0
}

// IntEnv reads the count in the environment variable name, def when it
// is unset; a value below least is an error.
func IntEnv(name string, def, least int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		return 0, fmt.Errorf("%s=%q: want a whole number of at least %d", name, s, least)
	}
	return n, nil
}
