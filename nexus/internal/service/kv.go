package service

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// secretDestroy (extension) destroys versions for good: their value keys
// are shredded in the same append that records it, so no reader and no
// replay can see the data again, while the log still verifies.
func (s *Service) secretDestroy(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretDestroy
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretDestroyRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		meta, err := s.proj.Metadata(ctx, req.Path)
		if err != nil {
			return s.refusedOrFailed(r, op, req.Path, req.Versions, err)
		}
		var vs []int
		var shred []eventlog.ValueKeyID
		for _, info := range undestroyed(meta, req.Versions) {
			vs = append(vs, info.Version)
			if id, ok := s.liveValueKey(ctx, req.Path, versionState{version: info.Version}); ok {
				shred = append(shred, id)
			}
		}
		if len(vs) == 0 {
			named := wanted(req.Versions, meta.CurrentVersion)
			return refuse(r, op, req.Path, named, whyNotDestroyed(meta, named))
		}
		ev := event(r, &events.SecretVersionsDestroyed{Path: req.Path, Versions: vs})
		ev.DestroyValueKeys = shred
		return outcome{events: []eventlog.Event{ev},
			answer: transport.Response{Body: api.SecretDestroyResponse{Versions: vs, CurrentVersion: currentAfter(meta, vs, nil)}}}
	})
}

// whyNotDestroyed explains a destroy that found nothing to destroy among
// vs: every one it names is destroyed already, or some do not exist.
func whyNotDestroyed(meta projections.SecretMetadata, vs []int) refusal {
	var missing []int
	for _, v := range vs {
		if _, ok := versionInfo(meta, v); !ok {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return refuseNotFound(api.ReasonNoSuchVersion, "nothing to destroy at %s: it has no %s (%s)", meta.Path, versionsText(missing), heldText(meta))
	}
	return refuseNotFound(api.ReasonDestroyed, "nothing to destroy at %s: %s %s destroyed already", meta.Path, versionsText(vs), isAre(vs))
}

// secretMetadataDelete (extension) removes a path: every version whose
// data still exists is destroyed (its key shredded in the same append),
// its settings go, and it no longer lists. Its history stays in the log,
// and a later write continues after the highest version it ever had.
func (s *Service) secretMetadataDelete(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretMetadataDelete
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretMetadataDeleteRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		meta, err := s.proj.Metadata(ctx, req.Path)
		if err != nil {
			return s.refusedOrFailed(r, op, req.Path, nil, err)
		}
		last, err := s.proj.VersionFloor(ctx, req.Path)
		if err != nil {
			return answerNow(internalError(op))
		}
		var vs []int
		var shred []eventlog.ValueKeyID
		for _, info := range meta.Versions {
			last = max(last, info.Version)
			if info.Destroyed {
				continue
			}
			vs = append(vs, info.Version)
			if id, ok := s.liveValueKey(ctx, req.Path, versionState{version: info.Version}); ok {
				shred = append(shred, id)
			}
		}
		ev := event(r, &events.SecretMetadataDeleted{Path: req.Path, Versions: vs, LastVersion: last})
		ev.DestroyValueKeys = shred
		return outcome{events: []eventlog.Event{ev}, answer: transport.Response{Body: api.SecretMetadataDeleteResponse{Versions: vs}}}
	})
}

// secretSettingsPut (extension) changes a path's retention, CAS rule,
// delete-after and custom metadata; lowering the retention prunes (and
// shreds) the oldest versions at once.
func (s *Service) secretSettingsPut(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretSettingsPut
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretSettingsPutRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	upd := &events.SecretMetadataUpdated{Path: req.Path, MaxVersions: req.MaxVersions, CASRequired: req.CASRequired, CustomMetadata: req.CustomMetadata}
	if req.DeleteVersionAfter != nil {
		d, err := time.ParseDuration(*req.DeleteVersionAfter)
		if err != nil || d < 0 {
			return invalidRequest(&api.FieldError{Field: "deleteVersionAfter", Reason: "must be a duration of 0s or more, such as 720h"}).response()
		}
		upd.DeleteVersionAfter = &d
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		meta, err := s.proj.Metadata(ctx, req.Path)
		if err != nil && !isNotFound(err) {
			return answerNow(internalError(op))
		}
		var shred []eventlog.ValueKeyID
		if req.MaxVersions != nil && *req.MaxVersions > 0 {
			upd.Pruned, shred = s.pruneOldest(ctx, req.Path, versionStates(meta.Versions), len(meta.Versions)-*req.MaxVersions)
		}
		ev := event(r, upd)
		ev.DestroyValueKeys = shred
		return outcome{events: []eventlog.Event{ev}, answer: transport.Response{Body: api.SecretSettingsPutResponse{}}}
	})
}

func (s *Service) secretSettingsGet(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretSettingsGet
	req, refusal, ok := admit(ctx, s, r, api.PermRead, func(q api.SecretSettingsGetRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	meta, err := s.proj.Metadata(ctx, req.Path)
	if isNotFound(err) {
		return refuseNoSuchPath(req.Path).response()
	}
	if err != nil {
		return internalError(op)
	}
	resp := api.SecretSettingsGetResponse{MaxVersions: meta.MaxVersions, CASRequired: meta.CASRequired, CustomMetadata: meta.CustomMetadata}
	if meta.DeleteVersionAfter > 0 {
		resp.DeleteVersionAfter = meta.DeleteVersionAfter.String()
	}
	for _, v := range meta.Versions {
		if v.Destroyed {
			resp.Destroyed = append(resp.Destroyed, v.Version)
		}
	}
	return transport.Response{Status: http.StatusOK, Body: resp}
}

func spiffeIDFrom(s string) (spiffeid.ID, error) { return spiffeid.FromString(s) }

// RetainEvery runs the retention job at interval until ctx ends: every
// live version older than its path's deleteVersionAfter is soft-deleted,
// through the command loop, as Nexus's own act. (Retention by count is
// enforced by every write, which prunes and shreds at once.)
func (s *Service) RetainEvery(ctx context.Context, interval time.Duration, self string) {
	s.metrics.Jobs.Run(ctx, "retention", interval, func(ctx context.Context) error {
		err := s.retain(ctx, self, time.Now())
		if err != nil {
			s.logger.Warn("retention run failed", "err", err)
		}
		return err
	})
}

func (s *Service) retain(ctx context.Context, self string, now time.Time) error {
	paths, err := s.proj.PathsWithDeleteAfter(ctx)
	if err != nil {
		return err
	}
	actor := &transport.Request{ID: "retention"}
	if id, err := spiffeIDFrom(self); err == nil {
		actor.Peer = id
	}
	for _, path := range paths {
		resp := s.do(ctx, path, func(ctx context.Context) outcome {
			meta, err := s.proj.Metadata(ctx, path)
			if err != nil || meta.DeleteVersionAfter <= 0 {
				return answerNow(transport.Response{})
			}
			var expired []int
			for _, v := range meta.Versions {
				if v.Deleted == nil && !v.Destroyed && now.Sub(v.Created) >= meta.DeleteVersionAfter {
					expired = append(expired, v.Version)
				}
			}
			if len(expired) == 0 {
				return answerNow(transport.Response{})
			}
			return outcome{events: []eventlog.Event{event(actor, &events.SecretVersionsDeleted{Path: path, Versions: expired})},
				answer: transport.Response{}}
		})
		if resp.Status >= 400 {
			return fmt.Errorf("retention of %s: status %d", path, resp.Status)
		}
	}
	return nil
}
