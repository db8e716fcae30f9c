//go:build linux

package spire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	defaultTrustDomain = "spike.test"
	defaultSVIDTTL     = time.Hour
	// startTimeout bounds each daemon's wait for a healthy state.
	startTimeout = time.Minute
	// maxSocketPath keeps Unix socket paths under the 108-byte sun_path limit.
	maxSocketPath = 100
)

// Entry is a registration entry for a workload.
type Entry struct {
	// SpiffeID is the workload's ID, e.g. "spiffe://spike.test/spike/nexus".
	SpiffeID string
	// Selectors are "type:value" strings, e.g. "unix:path:/abs/bin". A
	// workload gets the entry's SVID when it has all of them.
	Selectors []string
	// X509SVIDTTL, if set, overrides the server's SVID TTL for this entry.
	// It must be a whole number of seconds.
	X509SVIDTTL time.Duration
}

// Options configures Start. The zero value is usable.
type Options struct {
	// TrustDomain defaults to "spike.test".
	TrustDomain string
	// SVIDTTL is the server's default X.509 SVID TTL; default 1h. The agent
	// rotates an SVID at about half of its lifetime, where the lifetime
	// includes SPIRE's 10 s NotBefore backdating.
	SVIDTTL time.Duration
	// Entries are created before the agent starts, so their SVIDs are
	// ready from the agent's first sync.
	Entries []Entry
	// Logger receives progress and timings; default: discarded.
	Logger *slog.Logger
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.TrustDomain == "" {
		o.TrustDomain = defaultTrustDomain
	}
	if o.SVIDTTL == 0 {
		o.SVIDTTL = defaultSVIDTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Cluster is a running SPIRE server and agent in a private directory.
type Cluster struct {
	dir         string
	trustDomain string
	hostID      string
	serverBin   string
	agentBin    string
	log         *slog.Logger

	server *daemon
	agent  *daemon

	stopOnce sync.Once
	stopErr  error
}

// Start builds or reuses the SPIRE binaries and starts a server and an
// agent in a fresh temporary directory: the server on a random loopback
// port, the agent attested with a join token as spiffe://<td>/host, the
// parent of all entries. It returns once both are healthy. On failure
// everything started is stopped and the error includes the log tail.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	serverBin, agentBin, err := Binaries(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "spk-")
	if err != nil {
		return nil, fmt.Errorf("spire cluster dir: %w", err)
	}
	c := &Cluster{
		dir:         dir,
		trustDomain: opts.TrustDomain,
		hostID:      "spiffe://" + opts.TrustDomain + "/host",
		serverBin:   serverBin,
		agentBin:    agentBin,
		log:         opts.Logger.With("dir", dir),
	}
	if err := c.start(ctx, opts); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// start runs the startup sequence.
func (c *Cluster) start(ctx context.Context, opts Options) error {
	begin := time.Now()
	data, err := c.prepare(opts)
	if err != nil {
		return err
	}
	if err := c.startServer(ctx, data); err != nil {
		return err
	}
	serverUp := time.Since(begin)
	if data.JoinToken, err = c.prepareAgent(ctx, opts.Entries); err != nil {
		return err
	}
	if err := c.startAgent(ctx, data); err != nil {
		return err
	}
	c.log.Info("spire cluster started", "port", data.Port, "trust_domain", c.trustDomain,
		"server_healthy", serverUp, "agent_healthy", time.Since(begin),
		"server_pid", c.server.pid(), "agent_pid", c.agent.pid())
	return nil
}

// prepare makes the directory layout and picks the port.
func (c *Cluster) prepare(opts Options) (confData, error) {
	for _, sub := range []string{"conf", "logs", "data/server", "data/agent"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o700); err != nil {
			return confData{}, fmt.Errorf("spire cluster dir: %w", err)
		}
	}
	if len(c.SocketPath()) >= maxSocketPath {
		return confData{}, fmt.Errorf("socket path %s is too long for a Unix socket", c.SocketPath())
	}
	port, err := freePort()
	if err != nil {
		return confData{}, err
	}
	return confData{
		Dir:          c.dir,
		ServerSocket: c.serverSocket(),
		AgentSocket:  c.SocketPath(),
		TrustDomain:  c.trustDomain,
		Port:         port,
		SVIDTTL:      opts.SVIDTTL,
		Interval:     interval,
	}, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer writes server.conf, starts the server and waits for health.
func (c *Cluster) startServer(ctx context.Context, data confData) error {
	conf := filepath.Join(c.dir, "conf", "server.conf")
	if err := writeConf(conf, serverConf, data); err != nil {
		return err
	}
	d, err := startDaemon("spire-server", c.serverBin, filepath.Join(c.dir, "logs", "server.log"),
		"run", "-config", conf)
	if err != nil {
		return err
	}
	c.server = d
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return d.waitHealthy(ctx, c.serverBin, "healthcheck", "-socketPath", c.serverSocket())
}

// prepareAgent writes the trust bundle, creates the initial entries and
// returns a join token for the agent.
func (c *Cluster) prepareAgent(ctx context.Context, entries []Entry) (string, error) {
	bundle, err := c.serverCLI(ctx, nil, "bundle", "show", "-format", "pem")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "conf", "bundle.pem"), bundle, 0o600); err != nil {
		return "", fmt.Errorf("write trust bundle: %w", err)
	}
	if err := c.createEntries(ctx, entries); err != nil {
		return "", err
	}
	out, err := c.serverCLI(ctx, nil, "token", "generate", "-spiffeID", c.hostID, "-ttl", "600", "-output", "json")
	if err != nil {
		return "", err
	}
	var token struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(out, &token); err != nil || token.Value == "" {
		return "", fmt.Errorf("parse join token from %q: %v", out, err)
	}
	return token.Value, nil
}

// startAgent writes agent.conf, starts the agent and waits for health.
func (c *Cluster) startAgent(ctx context.Context, data confData) error {
	conf := filepath.Join(c.dir, "conf", "agent.conf")
	if err := writeConf(conf, agentConf, data); err != nil {
		return err
	}
	d, err := startDaemon("spire-agent", c.agentBin, filepath.Join(c.dir, "logs", "agent.log"),
		"run", "-config", conf)
	if err != nil {
		return err
	}
	c.agent = d
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return d.waitHealthy(ctx, c.agentBin, "healthcheck", "-socketPath", c.SocketPath())
}

// Register creates an entry, parented to the agent's host ID, on the
// running server. Workloads see it after the server's cache reload and
// the agent's sync, typically within a second; workloadapi.NewX509Source
// waits for it.
func (c *Cluster) Register(ctx context.Context, e Entry) error {
	return c.createEntries(ctx, []Entry{e})
}

// createEntries creates entries in one "entry create -data" call.
func (c *Cluster) createEntries(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	data, err := entriesJSON(c.hostID, entries)
	if err != nil {
		return err
	}
	_, err = c.serverCLI(ctx, data, "entry", "create", "-data", "-")
	return err
}

// serverCLI runs a spire-server subcommand against this cluster's server,
// with stdin as its input, and returns its standard output.
func (c *Cluster) serverCLI(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	args = append(args, "-socketPath", c.serverSocket())
	cmd := exec.CommandContext(ctx, c.serverBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("spire-server %s: %w: %s", strings.Join(args[:2], " "), err,
			strings.TrimSpace(stdout.String()+"\n"+stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Stop stops the agent and then the server (SIGTERM, SIGKILL after 10 s)
// and removes the cluster directory. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

// stop does the work of Stop.
func (c *Cluster) stop() error {
	for _, d := range []*daemon{c.agent, c.server} {
		if d == nil {
			continue
		}
		begin := time.Now()
		if d.stop() {
			c.log.Warn("spire daemon ignored SIGTERM; killed", "name", d.name, "pid", d.pid())
		}
		c.log.Debug("spire daemon stopped", "name", d.name, "pid", d.pid(), "took", time.Since(begin))
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove spire cluster dir: %w", err)
	}
	return nil
}

// Dir returns the cluster's private directory; it is removed by Stop.
func (c *Cluster) Dir() string { return c.dir }

// TrustDomain returns the trust domain name, e.g. "spike.test".
func (c *Cluster) TrustDomain() string { return c.trustDomain }

// HostID returns the agent's SPIFFE ID, the parent of every entry.
func (c *Cluster) HostID() string { return c.hostID }

// SocketPath returns the path of the agent's Workload API socket.
func (c *Cluster) SocketPath() string { return filepath.Join(c.dir, "agent.sock") }

// EndpointSocket returns the Workload API address, "unix://" + SocketPath,
// the value for SPIFFE_ENDPOINT_SOCKET or workloadapi.WithAddr.
func (c *Cluster) EndpointSocket() string { return "unix://" + c.SocketPath() }

// Env returns the environment entry that points go-spiffe at the agent.
func (c *Cluster) Env() string { return "SPIFFE_ENDPOINT_SOCKET=" + c.EndpointSocket() }

// serverSocket returns the path of the server's private API socket.
func (c *Cluster) serverSocket() string { return filepath.Join(c.dir, "server.sock") }
