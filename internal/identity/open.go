package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// OpenSource returns the SVID source a binary's settings name: the
// spiffe-helper files in svidDir when it is set, the SPIRE Workload API at
// socket ("" for SPIFFE_ENDPOINT_SOCKET or SPIKE's default) otherwise;
// either waits at most timeout for the first SVID.
func OpenSource(ctx context.Context, socket, svidDir string, timeout time.Duration, logger *slog.Logger) (Source, error) {
	if svidDir != "" {
		src, err := NewFileSource(ctx, FileConfig{Dir: svidDir, Timeout: timeout}, logger)
		if err != nil {
			return nil, fmt.Errorf("SVID files in %s: %w", svidDir, err)
		}
		return src, nil
	}
	src, err := NewWorkloadSource(ctx, socket, timeout)
	if err != nil {
		return nil, err
	}
	return src, nil
}
