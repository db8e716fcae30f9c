// Command spike-demo is the example workload: with its own SPIFFE
// identity (spiffe://<trust domain>/workload/demo in `spike dev` and
// `make demo`) it writes a database credential to
// tenants/demo/db/creds through the SDK, reads it back, and says what it
// did. The password is random and never printed.
//
// It needs a policy that lets its SPIFFE ID write (and so read) the path,
// which `make demo` creates. Configuration comes from flags or the
// environment the SDK reads (--help lists both). Exit status: 0 done, 1
// the demo failed (one line on stderr says why), 2 bad usage.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/config"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/sdk"
)

const (
	name        = "spike-demo"
	description = "spike-demo: the example workload. Writes a database credential to a secret path through the spike SDK, reads it back, and prints what it did (never the password). " +
		"Diagnostics (the SDK's retries, SVID reloads) go to stderr as slog text lines, warnings and errors only unless SPIKE_SYSTEM_LOG_LEVEL (debug, info, warn or error) asks for more."
)

type cli struct {
	sdk.Flags
	Path     string `name:"path" default:"tenants/demo/db/creds" help:"Secret path to write and read."`
	Username string `name:"username" default:"demo" help:"User name stored beside the random password."`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the demo and returns the exit status.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	var c cli
	if _, err := config.Parse(name, description, &c, args, lookup); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	level, err := logging.LevelFromEnv(lookup, slog.LevelWarn)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	logger, err := logging.New(stderr, logging.FormatText, level)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	if err := demo(ctx, c, logger, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if errors.Is(err, sdk.ErrConfig) {
			return 2
		}
		return 1
	}
	return 0
}

// demo connects, writes, reads back and reports.
func demo(ctx context.Context, c cli, logger *slog.Logger, stdout io.Writer) error {
	opts, err := c.Options()
	if err != nil {
		return err
	}
	opts = append(opts, sdk.WithLogger(logger))
	client, err := sdk.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer client.Close()
	id, err := client.SPIFFEID()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "running as %s\n", id)
	fmt.Fprintf(stdout, "Nexus at %s\n", client.NexusURL())

	password := rand.Text()
	want := map[string]string{"username": c.Username, "password": password}
	version, err := write(ctx, client, c.Path, want)
	if err != nil {
		return explain(err, "put", c.Path, id)
	}
	fmt.Fprintf(stdout, "wrote %s version %d: username %q, password of %d characters (not shown)\n", c.Path, version, c.Username, len(password))

	got, err := client.GetSecret(ctx, c.Path, version)
	if err != nil {
		return explain(err, "get", c.Path, id)
	}
	keys := slices.Sorted(maps.Keys(got.Data))
	fmt.Fprintf(stdout, "read  %s version %d: keys %s\n", got.Path, got.Version, strings.Join(keys, ", "))
	if !maps.Equal(got.Data, want) {
		return fmt.Errorf("get %s: version %d does not hold what was written", c.Path, version)
	}
	fmt.Fprintln(stdout, "the values read back match the values written")
	return nil
}

// write stores values as the next version of path with check-and-set, so
// that it learns the version it wrote, trying again if another writer
// got in first.
func write(ctx context.Context, c *sdk.Client, path string, values map[string]string) (int, error) {
	var err error
	for range 3 {
		current := 0 // CAS(0): no readable version yet
		m, merr := c.SecretMetadata(ctx, path)
		switch {
		case merr == nil:
			current = m.CurrentVersion
		case !errors.Is(merr, sdk.ErrNotFound):
			return 0, merr
		}
		var v int
		v, err = c.PutSecret(ctx, path, values, sdk.CAS(current))
		if !errors.Is(err, sdk.ErrConflict) {
			return v, err
		}
	}
	return 0, err
}

// explain turns an SDK error into the one line a person running the demo
// needs: what failed and, where it is the usual cause, what to do.
func explain(err error, op, path string, id spiffeid.ID) error {
	var hint string
	switch {
	case errors.Is(err, sdk.ErrUnauthorized):
		pattern := grantPattern(path)
		hint = fmt.Sprintf(" — create a policy granting %s write on %s: "+
			"spike policy create --name demo --spiffeid-pattern '^%s$' --path-pattern '%s' --permissions write",
			id, pattern, regexp.QuoteMeta(id.String()), pattern)
	case errors.Is(err, sdk.ErrNotReady):
		hint = " — Nexus is sealed or still starting: is the system bootstrapped?"
	}
	var e *sdk.Error
	if errors.As(err, &e) && e.Status != 0 {
		return fmt.Errorf("%s %s: %s (%d %s)%s", op, path, reason(err), e.Status, e.Code, hint)
	}
	return fmt.Errorf("%s %s: %w%s", op, path, err, hint)
}

// reason is the failure in a word or two.
func reason(err error) string {
	for _, s := range []error{sdk.ErrUnauthorized, sdk.ErrNotFound, sdk.ErrNotReady, sdk.ErrBadRequest, sdk.ErrConflict} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "failed"
}

// grantPattern is the path pattern a policy for the demo should grant:
// the tenant's paths (^tenants/demo/.*$ for tenants/demo/db/creds), the
// folder's for a shorter path, the path itself for a single element.
func grantPattern(path string) string {
	parts := strings.Split(path, "/")
	switch {
	case len(parts) > 2:
		return "^" + regexp.QuoteMeta(strings.Join(parts[:2], "/")) + "/.*$"
	case len(parts) == 2:
		return "^" + regexp.QuoteMeta(parts[0]) + "/.*$"
	}
	return "^" + regexp.QuoteMeta(path) + "$"
}
