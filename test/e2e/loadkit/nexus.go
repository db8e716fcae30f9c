//go:build linux

package loadkit

import (
	"context"
	"errors"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// Checkpoint waits for Nexus's first signed checkpoint, which it signs
// within a second or so of an append.
func Checkpoint(ctx context.Context, c *sdk.Client) (*sdk.Checkpoint, error) {
	for {
		cp, err := c.Checkpoint(ctx)
		if !errors.Is(err, sdk.ErrNotFound) {
			return cp, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// VersionList is the version numbers of vs, for messages.
func VersionList(vs []api.SecretVersionInfo) []int {
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.Version
	}
	return out
}
