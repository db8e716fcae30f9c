package custody

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// Routes are the routes that work while sealed, and a 503 gate for
// every other Nexus route until the key is back.
func (c *Custody) Routes(roles *identity.Roles) []transport.Route {
	either := func(preds ...func(spiffeid.ID) bool) func(spiffeid.ID) bool {
		return func(id spiffeid.ID) bool {
			for _, p := range preds {
				if p(id) {
					return true
				}
			}
			return false
		}
	}
	routes := []transport.Route{
		route(api.OpBootstrapStatus, either(roles.IsBootstrap, roles.IsPilotSuperuser), c.handleStatus),
		route(api.OpBootstrapVerify, roles.IsBootstrap, c.handleVerify),
		route(api.OpOperatorRecover, roles.IsPilotRecover, c.handleRecover),
		route(api.OpOperatorRestore, roles.IsPilotRestore, c.handleRestore),
		route(api.OpSystemStatus, either(roles.IsPilotSuperuser, roles.IsPilotAuditor), c.handleSystemStatus),
	}
	served := map[api.Op]bool{api.OpBootstrapStatus: true, api.OpBootstrapVerify: true, api.OpOperatorRecover: true, api.OpOperatorRestore: true,
		api.OpSystemStatus: true}
	for _, op := range api.Ops() {
		if op.Service() == api.ServiceNexus && !served[op] {
			routes = append(routes, route(op, nil, c.gate(op)))
		}
	}
	return routes
}

func route(op api.Op, allow func(spiffeid.ID) bool, h transport.Handler) transport.Route {
	return transport.Route{Name: op.String(), Event: opEvents[op], Path: op.Path(), Action: string(op.Action()), Allow: allow, MaxBody: op.BodyLimit(), Handler: h}
}

// opEvents name the access-log line of the operations an operator or an
// auditor looks for in the log.
var opEvents = map[api.Op]string{
	api.OpSecretGet:            "secret read",
	api.OpSecretPut:            "secret changed",
	api.OpSecretPatch:          "secret changed",
	api.OpSecretDelete:         "secret changed",
	api.OpSecretUndelete:       "secret changed",
	api.OpSecretDestroy:        "secret changed",
	api.OpSecretRollback:       "secret changed",
	api.OpSecretMetadataDelete: "secret changed",
	api.OpSecretSettingsPut:    "secret changed",
	api.OpPolicyPut:            "policy changed",
	api.OpPolicyDelete:         "policy changed",
	api.OpCipherEncrypt:        "cipher used",
	api.OpCipherDecrypt:        "cipher used",
	api.OpRestorePointApply:    "secrets restored",
	api.OpOperatorRecover:      "recovery shards issued",
	api.OpOperatorRestore:      "restore shard received",
	api.OpBootstrapVerify:      "bootstrap verified",
}

func fail(status int, code api.ErrorCode) transport.Response {
	return transport.Response{Status: status, Body: api.NewErrorResponse(code)}
}

// gate answers every other Nexus route: 503 state_not_ready while sealed
// (or while the service is still starting), as SPIKE does, then the
// service's handler; a route this build does not serve yet is 400, as an
// unknown route is.
func (c *Custody) gate(op api.Op) transport.Handler {
	return func(ctx context.Context, r *transport.Request) transport.Response {
		svc := c.service.Load()
		if sealed, _ := c.Sealed(); sealed || svc == nil {
			return fail(http.StatusServiceUnavailable, api.CodeNotReady)
		}
		h, ok := svc.Handler(op)
		if !ok {
			return fail(http.StatusBadRequest, api.CodeBadRequest)
		}
		return h(ctx, r)
	}
}

func (c *Custody) handleStatus(ctx context.Context, r *transport.Request) transport.Response {
	if _, err := api.DecodeRequest[api.BootstrapStatusRequest](bytes.NewReader(r.Body), 0); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	resp := api.BootstrapStatusResponse{Shares: c.cfg.Shares, Threshold: c.cfg.Threshold}
	resp.Sealed, _ = c.Sealed()
	s, ok, err := c.recorded(ctx)
	if err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal)
	}
	if ok {
		resp.Bootstrapped, resp.Shares, resp.Threshold = true, s.Shares, s.Threshold
	}
	return transport.Response{Body: resp}
}

func (c *Custody) handleVerify(ctx context.Context, r *transport.Request) transport.Response {
	req, err := api.DecodeRequest[api.BootstrapVerifyRequest](bytes.NewReader(r.Body), 0)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	hash, err := c.VerifyBootstrap(ctx, r.Peer.String(), req)
	if err != nil {
		c.logger.Warn("bootstrap verification failed", "request_id", r.ID, "err", err)
		if sealed, _ := c.Sealed(); sealed {
			return fail(http.StatusServiceUnavailable, api.CodeNotReady)
		}
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	return transport.Response{Body: api.BootstrapVerifyResponse{Hash: hash}}
}

func (c *Custody) handleRecover(ctx context.Context, r *transport.Request) transport.Response {
	if _, err := api.DecodeRequest[api.RecoverRequest](bytes.NewReader(r.Body), 0); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	shares, err := c.RecoveryShards(ctx, r.Peer.String())
	if err != nil {
		if sealed, _ := c.Sealed(); sealed {
			return fail(http.StatusServiceUnavailable, api.CodeNotReady)
		}
		return fail(http.StatusInternalServerError, api.CodeInternal)
	}
	resp := api.RecoverResponse{Shards: make(map[int]*api.Shard, len(shares))}
	for i := range shares {
		s := api.Shard(shares[i].Value)
		resp.Shards[shares[i].ID] = &s
		shares[i].Zero()
	}
	return transport.Response{Body: resp}
}

func (c *Custody) handleRestore(ctx context.Context, r *transport.Request) transport.Response {
	req, err := api.DecodeRequest[api.RestoreRequest](bytes.NewReader(r.Body), 0)
	if err != nil || req.Shard == nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	if sealed, _ := c.Sealed(); !sealed {
		// 409 (an extension code): v0.8 clients see an error either way,
		// ours can say exactly what happened.
		return fail(http.StatusConflict, api.CodeConflict)
	}
	s := shamir.Share{ID: req.ID, Value: *req.Shard}
	req.Shard.Wipe()
	res, err := c.Restore(ctx, r.Peer.String(), s)
	s.Zero()
	if err != nil {
		c.logger.Warn("operator restore refused", "request_id", r.ID, "err", err)
		if errors.Is(err, errAlreadyUnsealed) {
			return fail(http.StatusConflict, api.CodeConflict)
		}
		return fail(http.StatusBadRequest, api.CodeBadRequest)
	}
	return transport.Response{Body: api.RestoreResponse{Collected: res.Collected, Remaining: res.Remaining, Restored: res.Restored}}
}
