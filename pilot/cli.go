package pilot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spikeledger/spike/internal/config"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// Name is the command's name.
const Name = "spike"

const description = `spike: the operator's command line for spike, the SPIFFE-native secret store. Each flag also reads the environment variables shown: the overview's name first, SPIKE v0.8's second.`

type cli struct {
	NexusURL      string        `name:"nexus-url" env:"SPIKE_NEXUS_URL,SPIKE_NEXUS_API_URL" default:"https://localhost:8553" help:"Nexus base URL."`
	SPIFFESocket  string        `name:"spiffe-endpoint-socket" env:"SPIFFE_ENDPOINT_SOCKET" help:"SPIRE Workload API address."`
	SVIDDir       string        `name:"svid-dir" env:"SPIKE_SVID_DIR" type:"path" help:"Read the SVID from spiffe-helper files here instead of the Workload API."`
	SourceTimeout time.Duration `name:"spiffe-source-timeout" env:"SPIKE_SPIFFE_SOURCE_TIMEOUT" default:"30s" help:"How long to wait for the first SVID."`

	Operator struct {
		Recover recoverCmd `cmd:"" help:"Take every shard of the root key from Nexus into recovery files (role spike/pilot/role/recover)."`
		Restore restoreCmd `cmd:"" help:"Give a sealed Nexus recovery shards, one per file or one from standard input (role spike/pilot/role/restore)."`
	} `cmd:"" help:"Break-glass recovery of the root key."`
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	nexus  string
	client *transport.Client
	out    io.Writer
	in     io.Reader
}

// Run parses args and runs the command; it returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cli
	kctx, err := config.Parse(Name, description, &c, args, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	roles, err := identity.NewRoles(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, err := identity.OpenSource(ctx, c.SPIFFESocket, c.SVIDDir, c.SourceTimeout, logger)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	defer src.Close()
	client, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(roles.IsNexus), Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	defer client.Close()
	e := &env{ctx: ctx, nexus: c.NexusURL, client: client, out: stdout, in: stdin}
	if err := kctx.Run(e); err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", Name, kctx.Command(), err)
		return 1
	}
	return 0
}

// defaultRecoveryDir is SPIKE's: ~/.spike/recover.
func defaultRecoveryDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no recovery directory given and no home directory: %w", err)
	}
	return filepath.Join(home, ".spike", "recover"), nil
}
