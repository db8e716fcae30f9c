//go:build linux

package keeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// The test binary re-executes itself under role names (hard links with
// their own SPIRE registrations) as a keeper client; these environment
// variables tell the child what to do.
const (
	roleEnv = "SPIKE_E2E_KEEPER_CLIENT" // "1" in a child
	urlEnv  = "SPIKE_E2E_KEEPER_URL"    // the keeper's base URL
	pinEnv  = "SPIKE_E2E_KEEPER_ID"     // the keeper's SPIFFE ID
	planEnv = "SPIKE_E2E_KEEPER_PLAN"   // JSON []step
)

// step is one call: "contribute" (with Shard) or "shard".
type step struct {
	Op    string     `json:"op"`
	Shard *api.Shard `json:"shard,omitempty"`
}

// outcome is what one call came to.
type outcome struct {
	Status int        `json:"status"` // 200, the refusal status, or 0 for a transport error
	Code   string     `json:"code,omitempty"`
	Err    string     `json:"err,omitempty"`
	Shard  *api.Shard `json:"shard,omitempty"`
}

// runClient is the child's main: it runs the plan and prints the
// outcomes as JSON.
func runClient() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := clientPlan(ctx)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(out)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "keeper client: %v\n", err)
		return 1
	}
	return 0
}

func clientPlan(ctx context.Context) ([]outcome, error) {
	var plan []step
	if err := json.Unmarshal([]byte(os.Getenv(planEnv)), &plan); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	pin, err := spiffeid.FromString(os.Getenv(pinEnv))
	if err != nil {
		return nil, fmt.Errorf("keeper ID: %w", err)
	}
	src, err := identity.NewWorkloadSource(ctx, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	c, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(pin),
		Timeout: 10 * time.Second, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []outcome
	for _, s := range plan {
		out = append(out, call(ctx, c, s))
	}
	return out, nil
}

func call(ctx context.Context, c *transport.Client, s step) outcome {
	tc := transport.Call{BaseURL: os.Getenv(urlEnv), Path: api.PathKeeperContribute,
		Request: api.ShardContributeRequest{Shard: s.Shard}, Response: &api.ShardContributeResponse{}}
	var got api.ShardGetResponse
	if s.Op == "shard" {
		tc.Path, tc.Request, tc.Response = api.PathKeeperShard, api.ShardGetRequest{}, &got
	}
	err := c.Do(ctx, tc)
	var se *transport.StatusError
	switch {
	case err == nil:
		return outcome{Status: 200, Shard: got.Shard}
	case errors.As(err, &se):
		return outcome{Status: se.Status, Code: string(se.Code)}
	default:
		return outcome{Err: err.Error()}
	}
}
