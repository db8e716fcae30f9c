package service

import (
	"context"
	"net/http"
	"sort"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/authz"
	"github.com/spikeledger/spike/nexus/internal/cipher"
)

func (s *Service) policyPut(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpPolicyPut
	req, err := decode[api.PolicyPutRequest](r)
	if err != nil {
		return invalidRequest(err).response()
	}
	if resp, ok := s.allow(ctx, r, op, api.SystemPathACL, api.PermWrite); !ok {
		return resp
	}
	perms := make([]string, len(req.Permissions))
	for i, p := range req.Permissions {
		perms[i] = string(p)
	}
	p := authz.Policy{Name: req.Name, SpiffeIDPattern: req.SPIFFEIDPattern, PathPattern: req.PathPattern, Permissions: perms}
	// SPIKE answers rejected patterns with 500 (bug #4); they are 400s,
	// saying what is wrong (patterns are not secrets).
	if err := authz.CheckPolicy(p); err != nil {
		return invalidRequest(err).response()
	}
	return s.do(ctx, policiesKey, func(context.Context) outcome {
		put := &events.PolicyPut{Name: p.Name, SpiffeIDPattern: p.SpiffeIDPattern, PathPattern: p.PathPattern, Permissions: perms}
		return outcome{events: []eventlog.Event{event(r, put)},
			answer: transport.Response{Body: api.PolicyPutResponse{}}}
	})
}

// policyName is the name a get or delete names: SPIKE sends it in "id".
func policyName(id, name string) string {
	if name != "" {
		return name
	}
	return id
}

func (s *Service) policyGet(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpPolicyGet
	req, refusal, ok := admit(ctx, s, r, api.PermRead, func(q api.PolicyGetRequest) string { return api.SystemPathACL })
	if !ok {
		return refusal
	}
	name := policyName(req.ID, req.Name)
	p, err := s.proj.Policy(ctx, name)
	if isNotFound(err) {
		return noSuchPolicy(name).response() // SPIKE: 500 for a missing name (bug #3)
	}
	if err != nil {
		return internalError(op)
	}
	perms := make([]api.Permission, len(p.Permissions))
	for i, x := range p.Permissions {
		perms[i] = api.Permission(x)
	}
	return transport.Response{Body: api.PolicyGetResponse{Policy: api.Policy{Name: p.Name, SPIFFEIDPattern: p.SpiffeIDPattern,
		PathPattern: p.PathPattern, Permissions: perms, CreatedAt: p.Created, UpdatedAt: p.Updated}}}
}

func (s *Service) policyDelete(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpPolicyDelete
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.PolicyDeleteRequest) string { return api.SystemPathACL })
	if !ok {
		return refusal
	}
	name := policyName(req.ID, req.Name)
	return s.do(ctx, policiesKey, func(ctx context.Context) outcome {
		if _, err := s.proj.Policy(ctx, name); isNotFound(err) {
			return refuse(r, op, name, nil, noSuchPolicy(name))
		} else if err != nil {
			return answerNow(internalError(op))
		}
		return outcome{events: []eventlog.Event{event(r, &events.PolicyDeleted{Name: name})},
			answer: transport.Response{Body: api.PolicyDeleteResponse{}}}
	})
}

func (s *Service) policyList(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpPolicyList
	req, err := decode[api.PolicyListRequest](r)
	if err != nil {
		return invalidRequest(err).response()
	}
	if resp, ok := s.allow(ctx, r, op, api.SystemPathACL, api.PermList); !ok {
		return resp
	}
	ps, err := s.proj.Policies(ctx)
	if err != nil {
		return internalError(op)
	}
	items := []api.PolicyListItem{}
	for _, p := range ps {
		// SPIKE's filters are exact string matches, SPIFFE ID first.
		if req.SPIFFEIDPattern != "" && p.SpiffeIDPattern != req.SPIFFEIDPattern ||
			req.SPIFFEIDPattern == "" && req.PathPattern != "" && p.PathPattern != req.PathPattern {
			continue
		}
		items = append(items, api.PolicyListItem{Name: p.Name})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return transport.Response{Body: api.PolicyListResponse{Policies: items}}
}

func noSuchPolicy(name string) refusal {
	return refuseNotFound(api.ReasonNoSuchPath, "no policy named %q", name)
}

// cipher serves encrypt and decrypt in JSON or stream mode, under the
// root key, recording the operation and its outcome (never the data).
func (s *Service) cipher(op api.Op) transport.Handler {
	return func(ctx context.Context, r *transport.Request) transport.Response {
		if resp, ok := s.allow(ctx, r, op, api.SystemPathCipher, api.PermExecute); !ok {
			return resp
		}
		var resp transport.Response
		err := s.withKey(func(key []byte) error {
			if api.IsStreamMode(r.ContentType) {
				status, ct, out := cipher.Stream(key, op, r.Body)
				resp = transport.Response{Status: status, Body: out, ContentType: ct}
			} else {
				status, body := cipher.JSON(key, op, r.Body)
				resp = transport.Response{Status: status, Body: body}
			}
			return nil
		})
		if err != nil {
			return fail(http.StatusServiceUnavailable, api.CodeNotReady)
		}
		outcomeText := events.OutcomeOK
		ok := resp.Status == 0 || resp.Status == http.StatusOK
		if !ok {
			outcomeText = events.OutcomeError
		}
		s.metrics.Ciphered(api.IsStreamMode(r.ContentType), op, ok)
		used := &events.CipherUsed{Operation: op.String(), Outcome: outcomeText, Bytes: len(r.Body)}
		return s.read(ctx, api.SystemPathCipher, func(context.Context) outcome {
			return outcome{events: []eventlog.Event{event(r, used)}, answer: resp}
		})
	}
}

// handlers maps each op the service serves to its handler.
func (s *Service) handlers() map[api.Op]transport.Handler {
	return map[api.Op]transport.Handler{
		api.OpSecretPut:         s.secretPut,
		api.OpSecretGet:         s.secretGet,
		api.OpSecretDelete:      s.secretDelete,
		api.OpSecretUndelete:    s.secretUndelete,
		api.OpSecretList:        s.secretList,
		api.OpSecretMetadataGet: s.secretMetadata,
		api.OpPolicyPut:         s.policyPut,
		api.OpPolicyGet:         s.policyGet,
		api.OpPolicyDelete:      s.policyDelete,
		api.OpPolicyList:        s.policyList,
		api.OpSecretDestroy:     s.secretDestroy,
		api.OpSecretSettingsPut: s.secretSettingsPut,
		api.OpSecretSettingsGet: s.secretSettingsGet,
		api.OpSecretHistory:     s.secretHistory,
		api.OpAuditList:         s.auditList,
		api.OpAuditCheckpoint:   s.auditCheckpoint,
		api.OpAuditProof:        s.auditProof,
		api.OpAuditConsistency:  s.auditConsistency,
		api.OpRestorePointList:  s.restorePointList,
		api.OpRestorePointApply: s.restorePointApply,
		api.OpRestorePlan:       s.restorePlan,
		api.OpCipherEncrypt:     s.cipher(api.OpCipherEncrypt),
		api.OpCipherDecrypt:     s.cipher(api.OpCipherDecrypt),

		api.OpSecretPatch:          s.secretPatch,
		api.OpSecretRollback:       s.secretRollback,
		api.OpSecretMetadataDelete: s.secretMetadataDelete,
		api.OpExportStart:          s.exportStart,
		api.OpExportGet:            s.exportGet,
		api.OpAuditTail:            s.auditTail,
		api.OpOperatorBackup:       s.backup,
	}
}
