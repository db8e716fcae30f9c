package keeper

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// routes returns the keeper's two API routes. The TLS layer admits only
// Nexus and Bootstrap; each route narrows that further, as SPIKE's guards
// do, so a change to the TLS authoriser cannot widen them.
func (k *Keeper) routes() []transport.Route {
	nexusOrBootstrap := func(id spiffeid.ID) bool { return k.roles.IsNexus(id) || k.roles.IsBootstrap(id) }
	return []transport.Route{
		{
			Name:    api.OpShardContribute.String(),
			Path:    api.OpShardContribute.Path(),
			Action:  string(api.OpShardContribute.Action()),
			Allow:   k.refusing(api.OpShardContribute, nexusOrBootstrap, k.metrics.contributions),
			MaxBody: api.OpShardContribute.BodyLimit(),
			Handler: k.contribute,
		},
		{
			Name:    api.OpShardGet.String(),
			Path:    api.OpShardGet.Path(),
			Action:  string(api.OpShardGet.Action()),
			Allow:   k.refusing(api.OpShardGet, k.roles.IsNexus, k.metrics.requests),
			MaxBody: api.OpShardGet.BodyLimit(),
			Handler: k.shard,
		},
	}
}

// contribute replaces the held shard. A bad body leaves it untouched.
func (k *Keeper) contribute(ctx context.Context, req *transport.Request) transport.Response {
	defer clear(req.Body)
	body, err := api.DecodeRequest[api.ShardContributeRequest](bytes.NewReader(req.Body), api.OpShardContribute.BodyLimit())
	if body.Shard != nil {
		defer body.Shard.Wipe()
	}
	if err != nil {
		// The error names the rule broken, never the value.
		k.metrics.contributions.WithLabelValues(resultInvalid).Inc()
		k.log.WarnContext(ctx, "shard contribution refused", "request_id", req.ID, "peer", req.Peer.String(), "result", resultInvalid, "err", err)
		return errorResponse(api.OpShardContribute, api.CodeOf(err))
	}
	replaced, err := k.store.set(body.Shard)
	if err != nil {
		k.metrics.contributions.WithLabelValues(resultError).Inc()
		k.log.WarnContext(ctx, "shard contribution refused", "request_id", req.ID, "peer", req.Peer.String(), "result", resultError, "err", err)
		return errorResponse(api.OpShardContribute, api.CodeNotReady)
	}
	k.epoch.Store(body.Epoch)
	k.metrics.stored(body.Epoch, time.Now())
	k.log.InfoContext(ctx, "shard stored", "request_id", req.ID, "peer", req.Peer.String(), "replaced", replaced, "epoch", body.Epoch)
	return transport.Response{Body: api.ShardContributeResponse{}}
}

// shard answers with the held shard, or 400 when there is none yet.
func (k *Keeper) shard(ctx context.Context, req *transport.Request) transport.Response {
	if _, err := api.DecodeRequest[api.ShardGetRequest](bytes.NewReader(req.Body), api.OpShardGet.BodyLimit()); err != nil {
		k.metrics.requests.WithLabelValues(resultInvalid).Inc()
		k.log.WarnContext(ctx, "shard request refused", "request_id", req.ID, "peer", req.Peer.String(), "result", resultInvalid, "err", err)
		return errorResponse(api.OpShardGet, api.CodeOf(err))
	}
	var body []byte
	if !k.store.with(func(sh *api.Shard) { body = appendShardResponse(nil, sh, k.epoch.Load()) }) {
		k.metrics.requests.WithLabelValues(resultNone).Inc()
		k.log.InfoContext(ctx, "shard requested before any was contributed", "request_id", req.ID, "peer", req.Peer.String(), "result", resultNone)
		return errorResponse(api.OpShardGet, api.CodeBadRequest)
	}
	k.metrics.requests.WithLabelValues(resultOK).Inc()
	k.log.InfoContext(ctx, "shard served", "request_id", req.ID, "peer", req.Peer.String(), "epoch", k.epoch.Load())
	// Already-encoded bytes go out as they are: encoding/json would leave
	// copies of the shard in its pooled buffers.
	return transport.Response{Body: body, ContentType: api.ContentTypeJSON}
}

// appendShardResponse appends the JSON of api.ShardGetResponse{Shard: sh,
// Epoch: epoch} to b, byte for byte what encoding/json writes for it.
func appendShardResponse(b []byte, sh *api.Shard, epoch uint64) []byte {
	if b == nil {
		b = make([]byte, 0, len(`{"shard":[]}`)+4*api.ShardSize)
	}
	b = append(b, `{"shard":[`...)
	for i, v := range sh {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	b = append(b, ']')
	if epoch != 0 {
		b = append(b, `,"epoch":`...)
		b = strconv.AppendUint(b, epoch, 10)
	}
	return append(b, '}')
}

// refusing wraps a route's Allow so that a caller it refuses is counted
// in vec and logged. Allow runs before the request has an ID; the access
// log's line for the 401 carries it.
func (k *Keeper) refusing(op api.Op, allow func(spiffeid.ID) bool, vec *prometheus.CounterVec) func(spiffeid.ID) bool {
	return func(id spiffeid.ID) bool {
		if allow(id) {
			return true
		}
		vec.WithLabelValues(resultRefused).Inc()
		k.log.Warn("caller may not use this route", "op", op.String(), "peer", id.String(), "result", resultRefused)
		return false
	}
}

// errorResponse is SPIKE's error body for op with code.
func errorResponse(op api.Op, code api.ErrorCode) transport.Response {
	return transport.Response{Status: code.Status(), Body: api.ErrorResponseFor(op, code)}
}
