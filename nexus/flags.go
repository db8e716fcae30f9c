package nexus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/mod/sumdb/note"

	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/internal/config"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/nexus/internal/service"
)

// Name is the binary's name.
const Name = "spike-nexus"

const description = `SPIKE Nexus: the secret service. It starts sealed and recovers the root key from the Keepers' shards; every flag also reads the environment variables shown, the overview's name first and SPIKE v0.8's second. "spike-nexus import --from spike.db" imports a SPIKE v0.8 deployment into a new data directory instead (see spike-nexus import --help); "spike-nexus restore-backup --from FILE" installs a backup (see spike-nexus restore-backup --help).`

type cli struct {
	DataDir    string   `name:"data-dir" env:"SPIKE_DATA_DIR,SPIKE_NEXUS_DATA_DIR" placeholder:"DIR" help:"Where events.db and projections.db live (default ~/.spike/data)."`
	TLSPort    string   `name:"tls-port" env:"SPIKE_NEXUS_TLS_PORT" default:":8553" help:"API listen address: a port, :port or host:port."`
	OpsAddr    string   `name:"ops-addr" env:"SPIKE_NEXUS_OPS_ADDR" placeholder:"ADDR" help:"Plain-HTTP address for /healthz, /readyz and /metrics; \"off\" disables it (default: 127.0.0.1 at the TLS port + 1000, 9553 for 8553)."`
	Keepers    []string `name:"keepers" env:"SPIKE_KEEPERS,SPIKE_NEXUS_KEEPER_PEERS" sep:"," placeholder:"URL" help:"Keeper URLs (https://host:port) in shard order."`
	Shares     int      `name:"shares" env:"SPIKE_SHAMIR_SHARES,SPIKE_NEXUS_SHAMIR_SHARES" help:"Shards (default: the number of keepers)."`
	Threshold  int      `name:"threshold" env:"SPIKE_SHAMIR_THRESHOLD,SPIKE_NEXUS_SHAMIR_THRESHOLD" help:"Shards needed to rebuild the key (default: a majority of the keepers)."`
	Store      string   `name:"backend-store" env:"SPIKE_BACKEND_STORE_TYPE,SPIKE_NEXUS_BACKEND_STORE" default:"sqlite" help:"sqlite: the event log and its projections on disk."`
	Projection string   `name:"projection" env:"SPIKE_NEXUS_PROJECTION" default:"sqlite" enum:"sqlite,memory" help:"Keep the projections in a file (sqlite) or in RAM (memory)."`

	MaxSecretSize            int    `name:"max-secret-size" env:"SPIKE_NEXUS_MAX_SECRET_SIZE" default:"1048576" help:"Largest version, in bytes of keys and values; larger puts are refused."`
	MaxSecretVersions        int    `name:"max-secret-versions" env:"SPIKE_NEXUS_MAX_SECRET_VERSIONS" default:"10" help:"Versions a new path keeps; older ones are pruned for good."`
	ClusterID                string `name:"cluster-id" env:"SPIKE_NEXUS_CLUSTER_ID" placeholder:"ID" help:"This replica's id (a-z, 0-9 and -, up to 64). With --cluster-peers, Nexus runs as one replica of a Raft group (docs/ha.md)."`
	ClusterPeers             string `name:"cluster-peers" env:"SPIKE_NEXUS_CLUSTER_PEERS" placeholder:"PEERS" help:"The cluster's replicas, this one included: id=raft-host:port=api-host:port,... (without =api-host:port, the Raft host at this replica's API port). Empty: a single Nexus."`
	ClusterAddr              string `name:"cluster-addr" env:"SPIKE_NEXUS_CLUSTER_ADDR" placeholder:"ADDR" help:"Raft listen address (default: this replica's port in --cluster-peers, on every interface)."`
	ClusterJoin              bool   `name:"cluster-join" env:"SPIKE_NEXUS_CLUSTER_JOIN" help:"This replica joins a running cluster: it waits to be added (spike operator cluster add) instead of forming a cluster from --cluster-peers."`
	ClusterName              string `name:"cluster-name" env:"SPIKE_NEXUS_CLUSTER_NAME" default:"spike" help:"Names the replicated log; every replica of one cluster must use the same name."`
	ClusterSnapshotThreshold uint64 `name:"cluster-snapshot-threshold" env:"SPIKE_NEXUS_CLUSTER_SNAPSHOT_THRESHOLD" default:"8192" help:"Raft entries after which a replica snapshots its log (checked every 2 minutes; every 5 s below 1024), 1 to 1073741824."`
	ClusterTrailingLogs      uint64 `name:"cluster-trailing-logs" env:"SPIKE_NEXUS_CLUSTER_TRAILING_LOGS" default:"10240" help:"Raft entries kept after a snapshot, so that a replica behind by fewer catches up without one; 1 to 1073741824."`

	MaxConnections int `name:"max-connections" env:"SPIKE_NEXUS_MAX_CONNECTIONS" default:"4096" help:"Most API connections open at once (1 to 1048576), TLS handshakes included; at the cap new connections wait, unanswered, until one closes."`

	ShardRotation         string        `name:"shard-rotation" env:"SPIKE_SHARD_ROTATION" default:"deterministic" enum:"deterministic,refresh" help:"deterministic: SPIKE's shards, the same forever; refresh: re-split the key into a new epoch every --shard-rotation-interval, so a stolen shard expires."`
	ShardRotationInterval time.Duration `name:"shard-rotation-interval" env:"SPIKE_SHARD_ROTATION_INTERVAL" default:"24h" help:"How often refresh mode re-splits the key."`

	KeeperUpdateInterval time.Duration `name:"keeper-update-interval" env:"SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL" default:"5m" help:"How often every keeper is re-sent its shard."`
	KeeperHealthInterval time.Duration `name:"keeper-health-interval" env:"SPIKE_NEXUS_KEEPER_HEALTH_INTERVAL" default:"30s" help:"How often every keeper is probed; an outage is recorded in the log."`
	RecoveryMaxInterval  time.Duration `name:"recovery-max-interval" env:"SPIKE_NEXUS_RECOVERY_MAX_INTERVAL" default:"60s" help:"Longest wait between recovery attempts."`

	SPIFFESocket  string        `name:"spiffe-endpoint-socket" env:"SPIFFE_ENDPOINT_SOCKET" help:"SPIRE Workload API address."`
	SVIDDir       string        `name:"svid-dir" env:"SPIKE_SVID_DIR" type:"path" help:"Read the SVID from spiffe-helper files here instead of the Workload API."`
	SourceTimeout time.Duration `name:"spiffe-source-timeout" env:"SPIKE_SPIFFE_SOURCE_TIMEOUT" default:"30s" help:"How long to wait for the first SVID."`
	// The fields of logging.Flags, spelled out so that tests can build a
	// cli with a composite literal.
	LogLevel  string `name:"log-level" env:"SPIKE_SYSTEM_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat string `name:"log-format" env:"SPIKE_SYSTEM_LOG_FORMAT" default:"json" help:"Log format: json (one object a line) or text (key=value)."`
}

// Options are the process's settings.
type Options struct {
	Config                Config
	SPIFFESocket, SVIDDir string
	SourceTimeout         time.Duration
	LogLevel              slog.Level
	// LogFormat is logging.FormatJSON or logging.FormatText.
	LogFormat string
}

// Parse reads the command line and the environment and checks them; each
// error is one line naming the setting.
func Parse(args []string, opts ...kong.Option) (Options, error) {
	var c cli
	if _, err := config.Parse(Name, description, &c, args, nil, opts...); err != nil {
		return Options{}, err
	}
	// The logging settings first: nothing else is worth reporting in a
	// format nobody asked for.
	logs, err := logging.Flags{LogLevel: c.LogLevel, LogFormat: c.LogFormat}.Check()
	if err != nil {
		return Options{}, fmt.Errorf("%s: %w", Name, err)
	}
	o, err := c.options()
	if err != nil {
		return Options{}, fmt.Errorf("%s: %w", Name, err)
	}
	o.LogLevel, o.LogFormat = logs.Level, logs.Format
	return o, nil
}

func (c *cli) options() (Options, error) {
	var o Options
	if s := strings.ToLower(c.Store); s != "sqlite" {
		return o, fmt.Errorf("backend store (SPIKE_BACKEND_STORE_TYPE) %q: this build of Nexus serves sqlite only", c.Store)
	}
	keepers, err := keeperURLs(c.Keepers)
	if err != nil {
		return o, err
	}
	shares, threshold := c.Shares, c.Threshold
	if shares == 0 {
		shares = len(keepers)
	}
	if threshold == 0 {
		threshold = len(keepers)/2 + 1
	}
	tlsAddr, err := listenAddr(c.TLSPort)
	if err != nil {
		return o, fmt.Errorf("TLS port (SPIKE_NEXUS_TLS_PORT): %w", err)
	}
	opsAddr := ""
	switch {
	case c.OpsAddr == "off":
	case strings.TrimSpace(c.OpsAddr) == "":
		opsAddr, err = defaultOpsAddr(tlsAddr)
	default:
		opsAddr, err = listenAddr(c.OpsAddr)
	}
	if err != nil {
		return o, fmt.Errorf("operations address (SPIKE_NEXUS_OPS_ADDR): %w", err)
	}
	dir := c.DataDir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return o, fmt.Errorf("data directory (SPIKE_DATA_DIR) not set and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".spike", "data")
	}
	if c.MaxSecretSize < 1 || c.MaxSecretSize > service.MaxSecretSizeLimit {
		return o, fmt.Errorf("max secret size (SPIKE_NEXUS_MAX_SECRET_SIZE) %d: want 1 to %d bytes (%s), the largest request body Nexus reads",
			c.MaxSecretSize, service.MaxSecretSizeLimit, service.SizeText(service.MaxSecretSizeLimit))
	}
	if c.MaxConnections < 1 || c.MaxConnections > MaxConnectionsLimit {
		return o, fmt.Errorf("max connections (SPIKE_NEXUS_MAX_CONNECTIONS) %d: want 1 to %d", c.MaxConnections, MaxConnectionsLimit)
	}
	if c.MaxSecretVersions < 1 {
		return o, fmt.Errorf("max secret versions (SPIKE_NEXUS_MAX_SECRET_VERSIONS) %d: want at least 1", c.MaxSecretVersions)
	}
	o.Config = Config{DataDir: dir, TLSAddr: tlsAddr, OpsAddr: opsAddr, MemoryProjection: c.Projection == "memory", MaxSecretVersions: c.MaxSecretVersions, MaxSecretSize: c.MaxSecretSize,
		MaxConnections: c.MaxConnections,
		Custody: CustodyConfig{Keepers: keepers, Shares: shares, Threshold: threshold,
			KeeperUpdateInterval: c.KeeperUpdateInterval, RecoveryMaxInterval: c.RecoveryMaxInterval,
			Rotation: c.ShardRotation, RotationInterval: c.ShardRotationInterval, HealthInterval: c.KeeperHealthInterval}}
	if err := o.Config.Custody.Defaults(); err != nil {
		return o, err
	}
	if o.Config.Cluster, err = c.cluster(); err != nil {
		return o, err
	}
	o.SPIFFESocket, o.SVIDDir, o.SourceTimeout = c.SPIFFESocket, c.SVIDDir, c.SourceTimeout
	return o, nil
}

// MaxConnectionsLimit bounds --max-connections: each connection costs a
// file descriptor, and a million is past any sensible deployment.
const MaxConnectionsLimit = 1 << 20

// keeperURLs checks the keeper list: https URLs with a host, no
// duplicates, order kept (it is the shard order).
func keeperURLs(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("keepers (SPIKE_KEEPERS or SPIKE_NEXUS_KEEPER_PEERS) not set: list the keepers' https URLs in shard order")
	}
	seen := map[string]bool{}
	var out []string
	for i, raw := range in {
		s := strings.TrimSpace(raw)
		u, err := url.Parse(s)
		if s == "" || err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("keeper %d %q: want https://host:port", i+1, raw)
		}
		if seen[s] {
			return nil, fmt.Errorf("keeper %d %q is listed twice", i+1, raw)
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

// listenAddr turns "8553", ":8553" or "host:8553" into host:port form.
// opsPortOffset is added to the TLS port to make the default operations
// port, as for keepers: 8553 gives 9553, and a second Nexus on the host
// with another TLS port does not collide with the first.
const opsPortOffset = 1000

// defaultOpsAddr returns the default operations address for the API
// address tlsAddr (host:port form): loopback, at its port plus
// opsPortOffset; port 0 (any) gives port 0.
func defaultOpsAddr(tlsAddr string) (string, error) {
	_, p, err := net.SplitHostPort(tlsAddr)
	if err != nil {
		return "", err
	}
	port, err := net.LookupPort("tcp", p)
	if err != nil {
		return "", fmt.Errorf("no default for TLS port %q: %w", p, err)
	}
	switch {
	case port == 0:
		return "127.0.0.1:0", nil
	case port+opsPortOffset > 65535:
		return "", fmt.Errorf("TLS port %d has no default (%d + %d is past 65535): set one or turn it off", port, port, opsPortOffset)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+opsPortOffset)), nil
}

func listenAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return "", fmt.Errorf("%q is not a port or host:port", s)
	}
	return net.JoinHostPort(host, port), nil
}

const importDescription = `Import a SPIKE v0.8 deployment (its spike.db) into a new data directory, offline: no server starts. ` +
	`The root key comes from a threshold of SPIKE's recovery files (--recovery-dir) or, without it, from SPIKE's keepers (with this Nexus's SVID). ` +
	`Keepers, shares and threshold must be SPIKE's own. It refuses a data directory whose log holds any event. See docs/migrate-from-spike.md.`

// importCLI is the grammar of spike-nexus import.
type importCLI struct {
	From        string   `name:"from" required:"" type:"existingfile" placeholder:"FILE" help:"The SPIKE v0.8 spike.db to import (stop SPIKE Nexus first, or copy spike.db-wal beside it)."`
	RecoveryDir string   `name:"recovery-dir" type:"existingdir" placeholder:"DIR" help:"Directory of SPIKE recovery files (spike.recovery.<id>.txt), at least the threshold of them; without it the keepers are asked."`
	DataDir     string   `name:"data-dir" env:"SPIKE_DATA_DIR,SPIKE_NEXUS_DATA_DIR" placeholder:"DIR" help:"The new data directory (default ~/.spike/data); its events.db must be absent or empty."`
	Keepers     []string `name:"keepers" env:"SPIKE_KEEPERS,SPIKE_NEXUS_KEEPER_PEERS" sep:"," placeholder:"URL" help:"SPIKE's keeper URLs (https://host:port) in shard order."`
	Shares      int      `name:"shares" env:"SPIKE_SHAMIR_SHARES,SPIKE_NEXUS_SHAMIR_SHARES" help:"SPIKE's shards (default: the number of keepers)."`
	Threshold   int      `name:"threshold" env:"SPIKE_SHAMIR_THRESHOLD,SPIKE_NEXUS_SHAMIR_THRESHOLD" help:"SPIKE's threshold (default: a majority of the keepers)."`

	SPIFFESocket  string        `name:"spiffe-endpoint-socket" env:"SPIFFE_ENDPOINT_SOCKET" help:"SPIRE Workload API address (only to ask the keepers)."`
	SVIDDir       string        `name:"svid-dir" env:"SPIKE_SVID_DIR" type:"path" help:"Read the SVID from spiffe-helper files here instead of the Workload API (only to ask the keepers)."`
	SourceTimeout time.Duration `name:"spiffe-source-timeout" env:"SPIKE_SPIFFE_SOURCE_TIMEOUT" default:"30s" help:"How long to wait for the first SVID."`
	LogLevel      string        `name:"log-level" env:"SPIKE_SYSTEM_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat     string        `name:"log-format" env:"SPIKE_SYSTEM_LOG_FORMAT" default:"json" help:"Log format: json (one object a line) or text (key=value)."`
}

// ImportOptions are the settings of spike-nexus import.
type ImportOptions struct {
	Import                ImportConfig
	SPIFFESocket, SVIDDir string
	SourceTimeout         time.Duration
	LogLevel              slog.Level
	LogFormat             string
}

// ParseImport reads the command line of spike-nexus import (the words
// after "import") and the environment.
func ParseImport(args []string, opts ...kong.Option) (ImportOptions, error) {
	var c importCLI
	if _, err := config.Parse(Name+" import", importDescription, &c, args, nil, opts...); err != nil {
		return ImportOptions{}, err
	}
	logs, err := logging.Flags{LogLevel: c.LogLevel, LogFormat: c.LogFormat}.Check()
	if err != nil {
		return ImportOptions{}, fmt.Errorf("%s import: %w", Name, err)
	}
	o := ImportOptions{SPIFFESocket: c.SPIFFESocket, SVIDDir: c.SVIDDir, SourceTimeout: c.SourceTimeout, LogLevel: logs.Level, LogFormat: logs.Format}
	// The keepers set the defaults of shares and threshold, as for the
	// server; they are needed even with recovery files, since the new
	// Nexus will ask them.
	base := cli{DataDir: c.DataDir, Keepers: c.Keepers, Shares: c.Shares, Threshold: c.Threshold, Store: "sqlite", TLSPort: ":8553", OpsAddr: "off",
		MaxSecretSize: 1, MaxSecretVersions: 1, MaxConnections: 1, ShardRotation: "deterministic"}
	so, err := base.options()
	if err != nil {
		return ImportOptions{}, fmt.Errorf("%s import: %w", Name, err)
	}
	o.Import = ImportConfig{From: c.From, DataDir: so.Config.DataDir, RecoveryDir: c.RecoveryDir, Custody: so.Config.Custody}
	return o, nil
}

const restoreBackupDescription = `Install a backup file (spike operator backup --out FILE) as the event log of a data directory, offline: no server starts. ` +
	`The directory must hold no log. The copy is verified against the checkpoint the file names, with --key if given (a verifier key from a trusted place) or else the file's own; ` +
	`Nexus proves that key against the root key when it next unseals, and rebuilds its projections from the log. See docs/backup.md.`

// restoreBackupCLI is the grammar of spike-nexus restore-backup.
type restoreBackupCLI struct {
	From      string `name:"from" required:"" type:"existingfile" placeholder:"FILE" help:"The backup file to restore."`
	DataDir   string `name:"data-dir" env:"SPIKE_DATA_DIR,SPIKE_NEXUS_DATA_DIR" placeholder:"DIR" help:"The data directory to restore into (default ~/.spike/data); it must hold no log."`
	Key       string `name:"key" placeholder:"VKEY" help:"The trusted verifier key the backup must verify with (spike audit checkpoint prints it), or @FILE holding it; default the key the file names."`
	LogLevel  string `name:"log-level" env:"SPIKE_SYSTEM_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat string `name:"log-format" env:"SPIKE_SYSTEM_LOG_FORMAT" default:"json" help:"Log format: json (one object a line) or text (key=value)."`
}

// RestoreBackupOptions are the settings of spike-nexus restore-backup.
type RestoreBackupOptions struct {
	Restore   RestoreBackupConfig
	LogLevel  slog.Level
	LogFormat string
}

// ParseRestoreBackup reads the command line of spike-nexus
// restore-backup (the words after "restore-backup") and the environment.
func ParseRestoreBackup(args []string, opts ...kong.Option) (RestoreBackupOptions, error) {
	var c restoreBackupCLI
	if _, err := config.Parse(Name+" restore-backup", restoreBackupDescription, &c, args, nil, opts...); err != nil {
		return RestoreBackupOptions{}, err
	}
	logs, err := logging.Flags{LogLevel: c.LogLevel, LogFormat: c.LogFormat}.Check()
	if err != nil {
		return RestoreBackupOptions{}, fmt.Errorf("%s restore-backup: %w", Name, err)
	}
	dir := c.DataDir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return RestoreBackupOptions{}, fmt.Errorf("%s restore-backup: data directory (SPIKE_DATA_DIR) not set and no home directory: %w", Name, err)
		}
		dir = filepath.Join(home, ".spike", "data")
	}
	key, err := verifierKeyArg(c.Key)
	if err != nil {
		return RestoreBackupOptions{}, fmt.Errorf("%s restore-backup: %w", Name, err)
	}
	return RestoreBackupOptions{Restore: RestoreBackupConfig{From: c.From, DataDir: dir, Key: key}, LogLevel: logs.Level, LogFormat: logs.Format}, nil
}

// maxKeyFile bounds a --key @FILE: a verifier key is under 200 bytes.
const maxKeyFile = 4 << 10

// verifierKeyArg reads --key: a note verifier key, or @FILE holding one
// (as spike audit checkpoint --save writes it beside the checkpoint);
// "" is none.
func verifierKeyArg(arg string) (string, error) {
	key := strings.TrimSpace(arg)
	if name, ok := strings.CutPrefix(key, "@"); ok {
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("--key: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
		if err != nil {
			return "", fmt.Errorf("--key: %w", err)
		}
		if len(b) > maxKeyFile {
			return "", fmt.Errorf("--key %s: larger than %d bytes, not a verifier key file", arg, maxKeyFile)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		if arg != "" {
			return "", fmt.Errorf("--key %s: empty", arg)
		}
		return "", nil
	}
	if _, err := note.NewVerifier(key); err != nil {
		return "", fmt.Errorf("--key: not a note verifier key (%v): give the key spike audit checkpoint prints (NAME+HASH+KEY), or @FILE holding it", err)
	}
	return key, nil
}

// cluster checks the cluster settings: all or nothing.
func (c *cli) cluster() (*ClusterConfig, error) {
	if strings.TrimSpace(c.ClusterPeers) == "" {
		if c.ClusterID != "" || c.ClusterAddr != "" || c.ClusterJoin {
			return nil, errors.New("cluster peers (SPIKE_NEXUS_CLUSTER_PEERS) not set, but other cluster settings are: set the peers too, or none")
		}
		return nil, nil
	}
	peers, err := cluster.ParsePeers(c.ClusterPeers)
	if err != nil {
		return nil, fmt.Errorf("cluster peers (SPIKE_NEXUS_CLUSTER_PEERS): %w", err)
	}
	cc := &ClusterConfig{ID: c.ClusterID, Peers: peers, Join: c.ClusterJoin, Name: c.ClusterName}
	if cc.ID == "" {
		return nil, errors.New("cluster id (SPIKE_NEXUS_CLUSTER_ID) not set: name this replica, as in SPIKE_NEXUS_CLUSTER_PEERS")
	}
	if _, ok := cc.self(); !ok {
		return nil, fmt.Errorf("cluster id (SPIKE_NEXUS_CLUSTER_ID) %q is not among SPIKE_NEXUS_CLUSTER_PEERS", cc.ID)
	}
	for _, v := range []struct {
		what string
		n    uint64
	}{{"snapshot threshold (SPIKE_NEXUS_CLUSTER_SNAPSHOT_THRESHOLD)", c.ClusterSnapshotThreshold}, {"trailing logs (SPIKE_NEXUS_CLUSTER_TRAILING_LOGS)", c.ClusterTrailingLogs}} {
		if v.n < 1 || v.n > 1<<30 {
			return nil, fmt.Errorf("cluster %s %d: want 1 to %d", v.what, v.n, 1<<30)
		}
	}
	cc.Timing.SnapshotThreshold, cc.Timing.TrailingLogs = c.ClusterSnapshotThreshold, c.ClusterTrailingLogs
	if c.ClusterSnapshotThreshold < 1024 {
		// A small threshold is for tests and small clusters: snapshot
		// soon after it is reached, not minutes later.
		cc.Timing.SnapshotInterval = 5 * time.Second
	}
	if err := clusterName(cc.Name); err != nil {
		return nil, fmt.Errorf("cluster name (SPIKE_NEXUS_CLUSTER_NAME): %w", err)
	}
	if c.ClusterAddr != "" {
		if cc.Addr, err = listenAddr(c.ClusterAddr); err == nil {
			err = numericPort(cc.Addr)
		}
		if err != nil {
			return nil, fmt.Errorf("cluster address (SPIKE_NEXUS_CLUSTER_ADDR): %w", err)
		}
	}
	return cc, nil
}

func clusterName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: want 1 to 64 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%q holds %q: only a-z, 0-9 and - are allowed", s, r)
		}
	}
	return nil
}

// numericPort checks that addr's port is a number from 1 to 65535.
func numericPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", addr)
	}
	return nil
}
