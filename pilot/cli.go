package pilot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alecthomas/kong"

	"github.com/spikeledger/spike/internal/config"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/sdk"
)

// Name is the command's name.
const Name = "spike"

const description = `spike: the operator's command line for spike, the SPIFFE-native secret store. Each flag also reads the environment variables shown: the overview's name first, SPIKE v0.8's second. ` +
	`Exit status: 0 success; 2 the command line was wrong, and nothing was done: a bad command, flag or argument, a file it names that is missing or unreadable or not what the command reads (a value, policy, key, checkpoint or recovery file, an envelope, an output's directory), or --yes missing without a terminal to ask on; 1 anything else: Nexus refused or could not be reached, a proof or log did not verify, or a confirmation was answered no ("cancelled: nothing was changed"). ` +
	`Output for people is unchanged by logging; diagnostics (retries, SVID reloads) go to stderr as slog text lines, errors only (warnings and up for spike dev) unless SPIKE_SYSTEM_LOG_LEVEL (debug, info, warn or error) asks for more.`

// globals are the flags every command takes: how to reach Nexus, as
// every program built on the SDK spells it, and spike's own.
type globals struct {
	sdk.Flags
	RetryWait time.Duration `name:"retry-wait" default:"${retry_wait}" help:"How long to keep retrying while Nexus is sealed or starting (0: do not retry). A refused connection (nothing listening) is retried for 1s at most."`
	Format    string        `name:"format" short:"f" enum:"${formats}" default:"human" help:"Output format: human, json or yaml (SPIKE's h, plain, p, j and y work too)."`
}

// cli is the whole grammar.
type cli struct {
	globals

	Secret     secretCmd     `cmd:"" help:"Write, read and manage secrets."`
	Policy     policyCmd     `cmd:"" help:"Manage the policies that grant workloads access."`
	Cipher     cipherCmd     `cmd:"" help:"Encrypt and decrypt with Nexus's key (encryption as a service)."`
	Audit      auditCmd      `cmd:"" help:"Search the event log and verify that it is intact."`
	Restore    restoreCmd    `cmd:"" help:"Bring secrets back to an earlier point of the log."`
	Export     exportCmd     `cmd:"" help:"Write the state at an instant to a file: SPIKE v0.8's spike.db, a projection or JSON (superuser)."`
	Operator   operatorCmd   `cmd:"" help:"Break-glass recovery of the root key, hot backups, cluster membership."`
	Status     statusCmd     `cmd:"" help:"Show whether Nexus is ready or sealed, its keepers, its log (superuser or auditor)."`
	Dev        devCmd        `cmd:"" help:"Run a whole development system (CA, Keepers, Nexus) in this process."`
	Version    versionCmd    `cmd:"" help:"Print spike's version."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

type operatorCmd struct {
	Recover recoverCmd         `cmd:"" help:"Take every shard of the root key from Nexus into recovery files (role spike/pilot/role/recover)."`
	Restore operatorRestoreCmd `cmd:"" help:"Give a sealed Nexus recovery shards, one per file or one from standard input (role spike/pilot/role/restore)."`
	Cluster clusterCmd         `cmd:"" help:"Manage the Nexus replicas of a cluster (superuser)."`
	Backup  operatorBackupCmd  `cmd:"" help:"Copy the event log, while Nexus serves, into a backup file (superuser)."`
}

// env is what a command runs with.
type env struct {
	ctx     context.Context
	g       *globals
	format  format
	in      io.Reader
	out     io.Writer
	errOut  io.Writer
	command string // "spike secret get", for messages
	model   *kong.Application
	opts    runOptions
	notices *notifier // what the command waits for, on a terminal
	// logLevel is the level of the diagnostics the command logs.
	logLevel slog.Level

	client *sdk.Client // made on first use: see nexus
}

// exitRequest is how kong's exit (after --help) unwinds out of parsing
// without ending the process.
type exitRequest int

// Run parses args and runs the command; it returns the exit code: 0 on
// success, 1 when the operation failed, 2 for a usage error. Errors are
// one line on stderr; data goes to stdout.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts ...Option) int {
	o := runOptions{terminal: isTerminal, lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	var c cli
	kctx, exit, err := parse(&c, args, stdout, stderr, o)
	if exit >= 0 {
		return exit
	}
	if err != nil {
		fmt.Fprintln(stderr, flatten(usageMessage(err)))
		return exitUsage
	}
	// Diagnostics only (the SDK's retries, SVID reloads): errors unless
	// SPIKE_SYSTEM_LOG_LEVEL asks for more. A bad value stops the command
	// before it does anything.
	level, err := logging.LevelFromEnv(o.lookupEnv, slog.LevelError)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return exitUsage
	}
	e := &env{
		ctx: ctx, g: &c.globals, format: parseFormat(c.Format),
		in: stdin, out: stdout, errOut: stderr,
		command: kctx.Selected().FullPath(), model: kctx.Model, opts: o,
		notices:  &notifier{w: stderr, enabled: o.terminal(stderr)},
		logLevel: level,
	}
	defer e.close()
	if err := kctx.Run(e); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", e.command, flatten(e.explain(err)))
		return exitCodeOf(err)
	}
	return exitOK
}

// parse runs kong; exit is the code kong asked to exit with (after
// printing help), or -1.
func parse(c *cli, args []string, stdout, stderr io.Writer, o runOptions) (kctx *kong.Context, exit int, err error) {
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			kctx, exit, err = nil, int(code), nil
		}
	}()
	kctx, err = config.Parse(Name, description, c, args, o.lookupEnv,
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.Vars{"formats": formatEnum, "max_dev_keepers": strconv.Itoa(maxDevKeepers),
			"retry_wait": defaultRetryWait, "spiffe_source_timeout": defaultSourceTimeout},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	return kctx, -1, err
}

// usageMessage adds to a parse error where to read about the command.
func usageMessage(err error) string {
	var pe *kong.ParseError
	where := Name
	if errors.As(err, &pe) && pe.Context != nil {
		if n := pe.Context.Selected(); n != nil {
			where = n.FullPath()
		}
	}
	return fmt.Sprintf("%v (see '%s --help')", err, where)
}

// print writes one document: v as JSON or YAML, or what human writes.
func (e *env) print(v any, human func(w io.Writer) error) error {
	b, err := render(e.format, v, human)
	if err != nil {
		return err
	}
	_, err = e.out.Write(b)
	return err
}

// nexus returns the client, connecting on first use: commands that do not
// talk to Nexus (version, completion, dev, audit verify) never need an
// SVID.
func (e *env) nexus() (*sdk.Client, error) {
	if e.client != nil {
		return e.client, nil
	}
	if e.g.RetryWait < 0 {
		return nil, usagef("--retry-wait must be 0 or more")
	}
	opts, err := e.g.Options()
	if err != nil {
		return nil, newClientError(err)
	}
	opts = append(opts, e.waitOptions()...)
	logger, err := logging.New(e.notices, logging.FormatText, e.logLevel)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sdk.WithLogger(logger))
	done := e.waitForSVID()
	c, err := sdk.New(e.ctx, opts...)
	done()
	if err != nil {
		return nil, newClientError(err)
	}
	e.client = c
	return c, nil
}

func (e *env) close() {
	if e.client != nil {
		e.client.Close()
	}
}

// defaultRecoveryDir is SPIKE's: ~/.spike/recover.
func defaultRecoveryDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no recovery directory given and no home directory: %w", err)
	}
	return filepath.Join(home, ".spike", "recover"), nil
}

// terminal reports whether v (stdin, stderr) is a terminal.
func (e *env) terminal(v any) bool { return e.opts.terminal(v) }
