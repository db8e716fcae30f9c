//go:build linux

package custody

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/test/e2e/system"
)

// The test binary re-executes itself under role names (hard links with
// their own SPIRE registrations); these environment variables tell the
// child what to do.
const (
	roleEnv    = "SPIKE_E2E_CUSTODY_ROLE"    // "peek" (as spike/nexus) or "contribute" (as spike/bootstrap)
	keepersEnv = "SPIKE_E2E_CUSTODY_KEEPERS" // comma list of keeper URLs; keeper N is spike/keeper/N
	targetEnv  = "SPIKE_E2E_CUSTODY_TARGET"  // contribute: the keeper's position, from 1
	shardEnv   = "SPIKE_E2E_CUSTODY_SHARD"   // contribute: the shard, hex
)

// peeked is what one keeper answered a shard request.
type peeked struct {
	Status int    `json:"status"` // 200, the refusal status, or 0 for a transport error
	Code   string `json:"code,omitempty"`
	Err    string `json:"err,omitempty"`
	Shard  string `json:"shard,omitempty"` // hex
}

// runRole is the child's main.
func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	switch role {
	case "peek":
		err = peekRole(ctx)
	case "contribute":
		err = contributeRole(ctx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "custody role %s: %v\n", role, err)
		return 1
	}
	return 0
}

// keeperClient returns a client pinned to keeper n (spike/keeper/n).
func keeperClient(src *identity.WorkloadSource, n int) (*transport.Client, error) {
	pin := spiffeid.RequireFromString(system.KeeperID(n))
	return transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(pin),
		Timeout: 10 * time.Second, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
}

// peekRole asks every keeper, as Nexus, for its shard and prints the
// answers as JSON, in keeper order.
func peekRole(ctx context.Context) error {
	src, err := identity.NewWorkloadSource(ctx, "", 30*time.Second)
	if err != nil {
		return err
	}
	defer src.Close()
	var out []peeked
	for i, url := range strings.Split(os.Getenv(keepersEnv), ",") {
		c, err := keeperClient(src, i+1)
		if err != nil {
			return err
		}
		var resp api.ShardGetResponse
		err = c.Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp})
		c.Close()
		out = append(out, outcomeOf(err))
		if err == nil && resp.Shard != nil {
			out[i].Shard = hex.EncodeToString(resp.Shard[:])
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// contributeRole gives one keeper, as Bootstrap, the shard it is told.
func contributeRole(ctx context.Context) error {
	var n int
	if _, err := fmt.Sscan(os.Getenv(targetEnv), &n); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	urls := strings.Split(os.Getenv(keepersEnv), ",")
	if n < 1 || n > len(urls) {
		return fmt.Errorf("target %d: not a keeper position", n)
	}
	var shard api.Shard
	b, err := hex.DecodeString(os.Getenv(shardEnv))
	if err != nil || len(b) != len(shard) {
		return fmt.Errorf("shard: want %d bytes of hex", len(shard))
	}
	copy(shard[:], b)
	src, err := identity.NewWorkloadSource(ctx, "", 30*time.Second)
	if err != nil {
		return err
	}
	defer src.Close()
	c, err := keeperClient(src, n)
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Do(ctx, transport.Call{BaseURL: urls[n-1], Path: api.PathKeeperContribute,
		Request: api.ShardContributeRequest{Shard: &shard}, Response: &api.ShardContributeResponse{}})
	return json.NewEncoder(os.Stdout).Encode(outcomeOf(err))
}

func outcomeOf(err error) peeked {
	var se *transport.StatusError
	switch {
	case err == nil:
		return peeked{Status: 200}
	case errors.As(err, &se):
		return peeked{Status: se.Status, Code: string(se.Code)}
	default:
		return peeked{Err: err.Error()}
	}
}
