package cluster

import (
	"errors"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Transport defaults: Raft keeps a few connections per peer (replication,
// heartbeats and votes each use their own), and an RPC that has not
// completed in ten seconds is failed so that Raft retries it.
const (
	DefaultMaxPool = 3
	DefaultTimeout = 10 * time.Second
)

// TransportOptions configure NewTransport; zero values take the defaults.
type TransportOptions struct {
	// MaxPool is how many idle connections are kept per peer.
	MaxPool int
	// Timeout is the I/O deadline of an RPC (raft scales it up for
	// snapshots), and bounds a dial with its handshake.
	Timeout time.Duration
	// Logger receives raft's transport log. Default slog.Default().
	Logger *slog.Logger
}

// NewTransport returns a raft.NetworkTransport over stream. The transport
// owns stream from then on: closing the transport closes it.
func NewTransport(stream *StreamLayer, opts TransportOptions) (*raft.NetworkTransport, error) {
	if stream == nil {
		return nil, errors.New("cluster: transport needs a stream layer")
	}
	if opts.MaxPool <= 0 {
		opts.MaxPool = DefaultMaxPool
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: opts.MaxPool,
		Timeout: opts.Timeout,
		Logger:  NewHCLogger(opts.Logger, "raft-net"),
	}), nil
}
