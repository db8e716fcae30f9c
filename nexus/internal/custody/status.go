package custody

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// Nexus's status (OpSystemStatus) is a custody route: it is answered
// while sealed too, when an operator needs it most, from what custody
// knows (the key, the keepers as last contacted, the recorded sharing)
// and from the log's headers and checkpoints, which need no key. Like
// the bootstrap status it is not recorded: it reveals no secret and
// changes nothing, and while sealed nothing could be recorded.

// keeperHealth is what each keeper did when Nexus last contacted it: a
// health probe, a shard delivery or a recovery's fetch, whichever came
// last.
type keeperHealth struct {
	mu   sync.Mutex
	last []keeperContact // by keeper position, 0-based
}

type keeperContact struct {
	checked   time.Time // last attempt (zero: none yet)
	seen      time.Time // last attempt that got through (zero: none)
	reachable bool
	err       string
}

// sawKeeper records a contact with keeper i (0-based) that ended with
// err. A keeper that answered with an error status is reachable: the
// error says what it answered. A contact cut short by ctx (Nexus
// stopping) says nothing about the keeper and is not recorded.
func (c *Custody) sawKeeper(ctx context.Context, i int, err error) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	var se *transport.StatusError
	reachable := err == nil || errors.As(err, &se)
	h := &c.health
	h.mu.Lock()
	defer h.mu.Unlock()
	k := &h.last[i]
	k.checked, k.reachable, k.err = now, reachable, ""
	if reachable {
		k.seen = now
	}
	if err != nil {
		k.err = err.Error()
	}
}

// keeperStatuses returns each configured keeper as last contacted, and
// how many of them were reachable then.
func (c *Custody) keeperStatuses() ([]api.KeeperStatus, int) {
	h := &c.health
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]api.KeeperStatus, len(c.cfg.Keepers))
	reachable := 0
	for i, url := range c.cfg.Keepers {
		k := h.last[i]
		out[i] = api.KeeperStatus{URL: url, Reachable: k.reachable, Error: k.err,
			LastChecked: optUTC(k.checked), LastSeen: optUTC(k.seen)}
		if k.reachable {
			reachable++
		}
	}
	return out, reachable
}

func optUTC(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (c *Custody) handleSystemStatus(ctx context.Context, r *transport.Request) transport.Response {
	if _, err := api.DecodeRequest[api.SystemStatusRequest](bytes.NewReader(r.Body), 0); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	resp, err := c.status(ctx)
	if err != nil {
		c.logger.Error("system status", "request_id", r.ID, "err", err)
		return fail(http.StatusInternalServerError, api.CodeInternal)
	}
	return transport.Response{Body: resp}
}

// status says how Nexus is. It reads only what is cheap: custody's own
// fields, the log's size, file extent and newest checkpoint.
func (c *Custody) status(ctx context.Context) (api.SystemStatusResponse, error) {
	resp := api.SystemStatusResponse{State: api.SystemReady, Node: c.cfg.Self,
		Leader: c.cfg.Self, // a single node commits its own writes
		Shares: c.cfg.Shares, Threshold: c.cfg.Threshold}
	c.mu.Lock()
	sealed, reason, unsealedAt := c.key == nil, c.reason, c.unsealedAt
	c.mu.Unlock()
	if sealed {
		resp.State, resp.Reason = api.SystemSealed, reason
	} else {
		resp.UnsealedAt = optUTC(unsealedAt)
	}
	s, ok, err := c.recorded(ctx)
	if err != nil {
		return resp, fmt.Errorf("recorded sharing: %w", err)
	}
	if ok {
		resp.Bootstrapped, resp.Shares, resp.Threshold = true, s.Shares, s.Threshold
	}
	resp.Keepers, resp.KeepersReachable = c.keeperStatuses()
	resp.LogEvents = c.log.Size()
	if resp.LogBytes, err = c.log.Bytes(ctx); err != nil {
		return resp, err
	}
	cp, ok, err := c.log.LatestCheckpoint(ctx)
	if err != nil {
		return resp, fmt.Errorf("latest checkpoint: %w", err)
	}
	if ok {
		// Only its header: the time needs no key.
		rec, err := c.log.GetSealed(ctx, cp.Size)
		if err != nil {
			return resp, fmt.Errorf("event %d: %w", cp.Size, err)
		}
		resp.Checkpoint = &api.CheckpointStatus{Size: cp.Size, Time: rec.Time.UTC()}
	}
	return resp, nil
}
