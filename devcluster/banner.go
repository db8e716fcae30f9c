package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spikeledger/spike/internal/identity"
)

// Run is `spike dev`: it starts a cluster, prints the banner to out,
// waits until ctx ends (Ctrl-C) and stops the cluster. It returns early,
// with the error, if Nexus stops on its own.
func Run(ctx context.Context, o Options, out io.Writer) error {
	c, err := Start(ctx, o)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(out, c.banner()); err != nil {
		return joinErrors(fmt.Errorf("devcluster: banner: %w", err), c.Close())
	}
	var runErr error
	select {
	case <-ctx.Done():
	case <-c.nexus.done:
		// Close reports Nexus's error, if it had one.
		if c.nexus.err == nil {
			runErr = errors.New("devcluster: nexus stopped on its own")
		}
	}
	fmt.Fprintln(out, "==> spike dev: stopping")
	closeErr := c.Close()
	if c.temp {
		fmt.Fprintf(out, "==> spike dev: stopped; removed %s\n", c.DataDir())
	} else {
		fmt.Fprintf(out, "==> spike dev: stopped; data kept in %s\n", c.DataDir())
	}
	return joinErrors(runErr, closeErr)
}

// banner says loudly what this is, and gives the two lines a second
// shell pastes: one for spike, one for spike-demo.
func (c *Cluster) banner() string {
	var b strings.Builder
	b.WriteString("==> spike dev: DEVELOPMENT MODE. NOT FOR PRODUCTION.\n")
	b.WriteString("    Throwaway CA, keepers in this process, recovery files on disk.\n")
	fmt.Fprintf(&b, "    The root key's recovery shards lie unencrypted in %s so that a restart\n", c.RecoveryDir())
	b.WriteString("    with the same --data-dir can unseal Nexus: whoever reads them reads every secret.\n")
	data := c.DataDir()
	if c.temp {
		data += " (temporary: removed on exit; --data-dir keeps it)"
	}
	fmt.Fprintf(&b, "Nexus:  %s   data: %s\n", c.NexusURL(), data)
	if c.opsURL != "" {
		fmt.Fprintf(&b, "Health: %s/readyz\n", c.opsURL)
	}
	export := "export SPIKE_NEXUS_URL=" + shellQuote(c.NexusURL())
	if td := c.TrustDomain().Name(); td != identity.DefaultTrustRoot {
		export += " " + identity.EnvTrustRoot + "=" + shellQuote(td)
	}
	export += " SPIKE_SVID_DIR=" + shellQuote(c.SVIDDir(SVIDSuperuser))
	demo := "SPIKE_SVID_DIR=" + shellQuote(c.SVIDDir(SVIDDemo)) + " spike-demo"
	width := max(len(export), len(demo))
	b.WriteString("In another shell:\n")
	fmt.Fprintf(&b, "  %-*s   # for spike (as superuser)\n", width, export)
	fmt.Fprintf(&b, "  %-*s   # for spike-demo (workload/demo; it needs a policy)\n", width, demo)
	c.svidDirs(&b)
	b.WriteString("Press Ctrl-C to stop.\n")
	return b.String()
}

// svidDirs lists every SVID directory Start wrote, with its identity:
// any of them can be SPIKE_SVID_DIR (or --svid-dir), to act as that role.
func (c *Cluster) svidDirs(b *strings.Builder) {
	b.WriteString("SVID directories, one per identity (SPIKE_SVID_DIR or --svid-dir picks one):\n")
	names := svidNames()
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		path, _ := svidPath(n)
		fmt.Fprintf(b, "  %-*s  %s  spiffe://%s%s\n", width, n, shellQuote(c.SVIDDir(n)), c.TrustDomain().Name(), path)
	}
}

// shellQuote returns s as one POSIX shell word: as is when it holds
// nothing a shell would act on, single-quoted otherwise.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
