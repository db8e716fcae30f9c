//go:build linux

package system

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// Suites that look into the keepers run the test binary itself as two
// more workloads: registered as spike/nexus, it asks every keeper for its
// shard ("peek"); registered as spike/bootstrap, it gives one keeper a
// shard ("contribute"). The parent starts the child with these variables
// and reads its answer, which may hold shards, from a pipe: never from a
// file.
const (
	keeperRoleEnv   = "SPIKE_E2E_KEEPER_ROLE"   // peek or contribute
	keeperURLsEnv   = "SPIKE_E2E_KEEPER_URLS"   // comma list; keeper N is spike/keeper/N
	keeperTargetEnv = "SPIKE_E2E_KEEPER_TARGET" // contribute: the keeper's position, from 1
	keeperShardEnv  = "SPIKE_E2E_KEEPER_SHARD"  // contribute: the shard, hex
)

// KeeperAnswer is what one keeper answered a shard request or a
// contribution.
type KeeperAnswer struct {
	Status int    `json:"status"` // 200, the refusal status, or 0 for a transport error
	Code   string `json:"code,omitempty"`
	Err    string `json:"err,omitempty"`
	Shard  string `json:"shard,omitempty"` // hex, for a shard request
}

// String says what the keeper answered, without the shard.
func (a KeeperAnswer) String() string {
	return strings.TrimSpace(fmt.Sprintf("status %d %s %s", a.Status, a.Code, a.Err))
}

// RunKeeperRole runs the keeper role this process was started for, if
// any: a suite's TestMain calls it first and exits with the code when
// ran is true.
func RunKeeperRole() (code int, ran bool) {
	role := os.Getenv(keeperRoleEnv)
	if role == "" {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out any
	var err error
	switch role {
	case "peek":
		out, err = peekShards(ctx)
	case "contribute":
		out, err = contributeShard(ctx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(out)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "keeper role %s: %v\n", role, err)
		return 1, true
	}
	return 0, true
}

// PeekShards asks every keeper for its shard, as spike/nexus, by running
// bin (the test binary registered as spike/nexus); the answers are in
// keeper order.
func (d *Deployment) PeekShards(t testing.TB, bin string) []KeeperAnswer {
	t.Helper()
	var got []KeeperAnswer
	d.keeperRole(t, bin, &got, keeperRoleEnv+"=peek")
	if len(got) != d.Keepers() {
		t.Fatalf("peek at the keepers: %d answers, want %d", len(got), d.Keepers())
	}
	return got
}

// ContributeShard gives keeper n (from 1) shard, as spike/bootstrap, by
// running bin (the test binary registered as spike/bootstrap); it fails
// t unless the keeper took it.
func (d *Deployment) ContributeShard(t testing.TB, bin string, n int, shard []byte) {
	t.Helper()
	var got KeeperAnswer
	d.keeperRole(t, bin, &got, keeperRoleEnv+"=contribute", keeperTargetEnv+"="+strconv.Itoa(n),
		keeperShardEnv+"="+hex.EncodeToString(shard))
	if got.Status != http.StatusOK {
		t.Fatalf("contribute to keeper %d as spike/bootstrap: %v", n, got)
	}
}

// keeperRole runs bin in a keeper role and decodes its answer into out.
func (d *Deployment) keeperRole(t testing.TB, bin string, out any, env ...string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = d.Env(append(env, keeperURLsEnv+"="+strings.Join(d.KeeperURLs(), ","))...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output() // may hold shards: kept in memory, never in a file
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(env[:1], " "), err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: its answer: %v", strings.Join(env[:1], " "), err)
	}
}

// keeperClient returns a client pinned to keeper n (spike/keeper/n).
func keeperClient(src *identity.WorkloadSource, n int) (*transport.Client, error) {
	pin := spiffeid.RequireFromString(KeeperID(n))
	return transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(pin),
		Timeout: 10 * time.Second, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
}

// peekShards is the peek role: every keeper's answer to a shard request.
func peekShards(ctx context.Context) ([]KeeperAnswer, error) {
	src, err := identity.NewWorkloadSource(ctx, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []KeeperAnswer
	for i, url := range strings.Split(os.Getenv(keeperURLsEnv), ",") {
		c, err := keeperClient(src, i+1)
		if err != nil {
			return nil, err
		}
		var resp api.ShardGetResponse
		err = c.Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp})
		c.Close()
		a := answerOf(err)
		if err == nil && resp.Shard != nil {
			a.Shard = hex.EncodeToString(resp.Shard[:])
			resp.Shard.Wipe()
		}
		out = append(out, a)
	}
	return out, nil
}

// contributeShard is the contribute role: one keeper's answer to a
// contribution of the shard it is told.
func contributeShard(ctx context.Context) (KeeperAnswer, error) {
	urls := strings.Split(os.Getenv(keeperURLsEnv), ",")
	n, err := strconv.Atoi(os.Getenv(keeperTargetEnv))
	if err != nil || n < 1 || n > len(urls) {
		return KeeperAnswer{}, fmt.Errorf("target %q: not a keeper position", os.Getenv(keeperTargetEnv))
	}
	var shard api.Shard
	b, err := hex.DecodeString(os.Getenv(keeperShardEnv))
	if err != nil || len(b) != len(shard) {
		return KeeperAnswer{}, fmt.Errorf("shard: want %d bytes of hex", len(shard))
	}
	copy(shard[:], b)
	defer shard.Wipe()
	src, err := identity.NewWorkloadSource(ctx, "", 30*time.Second)
	if err != nil {
		return KeeperAnswer{}, err
	}
	defer src.Close()
	c, err := keeperClient(src, n)
	if err != nil {
		return KeeperAnswer{}, err
	}
	defer c.Close()
	err = c.Do(ctx, transport.Call{BaseURL: urls[n-1], Path: api.PathKeeperContribute,
		Request: api.ShardContributeRequest{Shard: &shard}, Response: &api.ShardContributeResponse{}})
	return answerOf(err), nil
}

func answerOf(err error) KeeperAnswer {
	var se *transport.StatusError
	switch {
	case err == nil:
		return KeeperAnswer{Status: http.StatusOK}
	case errors.As(err, &se):
		return KeeperAnswer{Status: se.Status, Code: string(se.Code)}
	default:
		return KeeperAnswer{Err: err.Error()}
	}
}
