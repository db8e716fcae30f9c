package service

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
	"github.com/spikeledger/spike/spikedb"
)

// An export is the state at one point of the log as a file. Building it
// replays the log up to that point into a scratch projection, which
// takes as long as the log is long, and the file can be larger than any
// one answer should be; so export start records the export, builds the
// file in the background and answers at once with an id, and export get
// hands the file out in chunks of at most api.MaxExportChunk, with its
// size and SHA-256 so the client can check what it put together. No
// request waits longer than a chunk takes, whatever the log's length:
// Nexus's write timeout and the client's response limit never bind.
//
// The file lives in Nexus's memory until its last chunk is fetched, or
// until it has been left alone for exportTTL, and is zeroed then (a JSON
// export with values holds them in clear). Only the superuser that
// started an export can fetch it; at most maxExports are kept at once.

// exportTTL is how long an export no one fetches from is kept.
const exportTTL = 10 * time.Minute

// maxExports bounds the exports kept (being built or fetched) at once:
// each holds a whole file in memory.
const maxExports = 2

// exportBuildTimeout bounds building one export.
const exportBuildTimeout = 30 * time.Minute

// exportJobs are the exports being built or fetched.
type exportJobs struct {
	mu   sync.Mutex
	jobs map[string]*exportJob
}

// exportJob is one export. Its fields after done are written once, by
// the build, before done is closed.
type exportJob struct {
	owner string
	done  chan struct{}
	// fileMu orders copying chunks out of file against zeroing it: two
	// fetches of one export may overlap.
	fileMu  sync.RWMutex
	file    []byte
	sum     [sha256.Size]byte
	counts  exportCounts
	err     error
	touched time.Time // under exportJobs.mu
}

type exportCounts struct{ secrets, versions, policies int }

// add keeps j under a new id, after dropping expired exports; it fails
// when maxExports are kept already.
func (e *exportJobs) add(j *exportJob, now time.Time) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	if len(e.jobs) >= maxExports {
		return "", false
	}
	if e.jobs == nil {
		e.jobs = map[string]*exportJob{}
	}
	id := ulid.Make().String()
	j.touched = now
	e.jobs[id] = j
	return id, true
}

// get returns the export id of owner.
func (e *exportJobs) get(id, owner string, now time.Time) (*exportJob, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.expire(now)
	j, ok := e.jobs[id]
	if !ok || j.owner != owner {
		return nil, false
	}
	j.touched = now
	return j, true
}

// drop forgets export id and zeroes its file once built.
func (e *exportJobs) drop(id string) {
	e.mu.Lock()
	j := e.jobs[id]
	delete(e.jobs, id)
	e.mu.Unlock()
	if j != nil {
		j.zeroSoon()
	}
}

// expire drops exports untouched for exportTTL. The caller holds e.mu.
func (e *exportJobs) expire(now time.Time) {
	for id, j := range e.jobs {
		if now.Sub(j.touched) > exportTTL {
			delete(e.jobs, id)
			j.zeroSoon()
		}
	}
}

// zeroSoon zeroes the file now if it is built, or once its build ends.
func (j *exportJob) zeroSoon() {
	select {
	case <-j.done:
		j.zero()
	default:
		go j.zero()
	}
}

// zero waits for the build to end, then clears the file.
func (j *exportJob) zero() {
	<-j.done
	j.fileMu.Lock()
	defer j.fileMu.Unlock()
	clear(j.file)
	j.file = nil
}

// chunk copies the file from offset, at most api.MaxExportChunk bytes;
// ok is false once the file is gone.
func (j *exportJob) chunk(offset int64) (data []byte, size int64, ok bool) {
	j.fileMu.RLock()
	defer j.fileMu.RUnlock()
	if j.file == nil {
		return nil, 0, false
	}
	size = int64(len(j.file))
	if offset > size {
		return nil, size, true
	}
	return slices.Clone(j.file[offset:min(size, offset+api.MaxExportChunk)]), size, true
}

// superuserOnly answers, recorded as a denial, a caller that is not the
// pilot superuser: an export or a backup holds every secret, so no
// policy can grant it. what names the work in the denial's reason.
func (s *Service) superuserOnly(ctx context.Context, r *transport.Request, op api.Op, what string) (transport.Response, bool) {
	r.Subject = api.SystemPathSecret
	if s.roles.IsPilotSuperuser(r.Peer) {
		return transport.Response{}, true
	}
	return s.read(ctx, api.SystemPathSecret, func(context.Context) outcome {
		return outcome{
			events: []eventlog.Event{event(r, &events.AccessDenied{Path: api.SystemPathSecret, Action: op.String(), Reason: "only the superuser may " + what})},
			answer: transport.Response{Status: http.StatusUnauthorized, Body: api.ErrorResponseFor(op, api.CodeUnauthorized)},
		}
	}), false
}

func (s *Service) exportStart(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpExportStart
	req, err := decode[api.ExportStartRequest](r)
	if err != nil {
		return invalidRequest(err).response()
	}
	if resp, ok := s.superuserOnly(ctx, r, op, "export"); !ok {
		return resp
	}
	if err := req.Validate(); err != nil {
		return invalidRequest(err).response()
	}
	at := projections.AsOf{Seq: req.AsOfSeq}
	if size := s.log.Size(); req.AsOfSeq > size {
		return refuseFuture("no such point in the log yet: seq %d is beyond its end, %d", req.AsOfSeq, size).response()
	}
	if req.AsOfTime != nil {
		if now := time.Now(); req.AsOfTime.After(now) {
			return refuseFuture("no such point in the log yet: %s is in the future (it is now %s)", req.AsOfTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)).response()
		}
		at.Time = *req.AsOfTime
	}
	seq, err := at.Resolve(ctx, s.log)
	if err != nil {
		s.logger.Error("export: find the point", "err", err)
		return internalError(op)
	}
	if seq == 0 {
		return refuseNotFound(api.ReasonBeforeStart, "no such point in the log: %s is before its first event", at.Time.UTC().Format(time.RFC3339Nano)).response()
	}
	rec, err := s.log.GetSealed(ctx, seq) // only its time
	if err != nil {
		s.logger.Error("export: read the point", "as_of_seq", seq, "err", err)
		return internalError(op)
	}
	job := &exportJob{owner: r.Peer.String(), done: make(chan struct{})}
	id, ok := s.exports.add(job, time.Now())
	if !ok {
		return transport.Response{Status: http.StatusConflict, Body: api.Problem{Err: api.CodeConflict, Reason: api.ReasonInvalid,
			Message: fmt.Sprintf("%d exports are being built or fetched already: fetch them, or wait %s until they expire", maxExports, exportTTL)}}
	}
	// Fail closed: no export leaves without a record of it.
	if err := s.Record(ctx, event(r, &events.Exported{Format: req.Format, AsOfSeq: seq, WithValues: req.WithValues})); err != nil {
		close(job.done)
		s.exports.drop(id)
		s.logger.Error("export: record it", "err", err)
		return internalError(op)
	}
	s.logger.Info("export started", "request_id", r.ID, "format", req.Format, "as_of_seq", seq, "with_values", req.WithValues)
	go func() {
		defer close(job.done)
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exportBuildTimeout)
		defer cancel()
		job.file, job.counts, job.err = s.buildExport(bctx, req.Format, seq, rec.Time, req.WithValues)
		job.sum = sha256.Sum256(job.file)
	}()
	return transport.Response{Body: api.ExportStartResponse{ID: id, AsOfSeq: seq, AsOfTime: rec.Time.UTC()}}
}

func (s *Service) exportGet(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpExportGet
	req, err := decode[api.ExportGetRequest](r)
	if err != nil {
		return invalidRequest(err).response()
	}
	if resp, ok := s.superuserOnly(ctx, r, op, "export"); !ok {
		return resp
	}
	if err := req.Validate(); err != nil {
		return invalidRequest(err).response()
	}
	job, ok := s.exports.get(req.ID, r.Peer.String(), time.Now())
	if !ok {
		return refuseNotFound(api.ReasonInvalid, "no export %s: it was fetched to its end, expired after %s untouched, or was started by someone else", req.ID, exportTTL).response()
	}
	select {
	case <-job.done:
	default:
		return transport.Response{Body: api.ExportGetResponse{}}
	}
	if job.err != nil {
		s.exports.drop(req.ID)
		s.logger.Error("export failed", "export", req.ID, "err", job.err)
		return internalError(op)
	}
	data, size, ok := job.chunk(req.Offset)
	if !ok {
		return refuseNotFound(api.ReasonInvalid, "no export %s: it was fetched to its end", req.ID).response()
	}
	if req.Offset > size {
		return invalidRequest(fmt.Errorf("offset: %d is past the export's end, %d", req.Offset, size)).response()
	}
	resp := api.ExportGetResponse{Ready: true, Size: size, SHA256: job.sum[:], Secrets: job.counts.secrets, Versions: job.counts.versions,
		Policies: job.counts.policies, Data: data, EOF: req.Offset+int64(len(data)) == size}
	if resp.EOF {
		// The answer holds its own copy: the export can go.
		s.exports.drop(req.ID)
	}
	return transport.Response{Body: resp}
}

// buildExport replays the log up to seq and writes the state then in
// format.
func (s *Service) buildExport(ctx context.Context, format string, seq uint64, at time.Time, withValues bool) ([]byte, exportCounts, error) {
	var key, root []byte
	err := s.withKey(func(k []byte) error {
		var err error
		if key, err = projections.KeyFromRoot(k); err != nil {
			return err
		}
		if format == api.ExportSpikeDB {
			root = slices.Clone(k)
		}
		return nil
	})
	defer seal.Zero(root)
	if err != nil {
		return nil, exportCounts{}, err
	}
	defer seal.Zero(key)
	if format == api.ExportProjection {
		return s.exportProjection(ctx, seq, key)
	}
	past, err := projections.BuildAsOf(ctx, s.log, projections.AsOf{Seq: seq}, projections.Options{Memory: true, Key: key, Logger: s.logger})
	if err != nil {
		return nil, exportCounts{}, err
	}
	defer past.Close()
	if format == api.ExportSpikeDB {
		return exportSpikeDB(ctx, past, root)
	}
	return exportJSON(ctx, past, seq, at, withValues)
}

// exportSpikeDB writes the state as SPIKE v0.8's spike.db, sealed under
// the root key as SPIKE seals it, through a scratch file (the format is a
// SQLite database) that is removed at once.
func exportSpikeDB(ctx context.Context, past *projections.Projection, root []byte) ([]byte, exportCounts, error) {
	snap, err := spikedb.SnapshotOf(ctx, past)
	if err != nil {
		return nil, exportCounts{}, err
	}
	defer func() {
		for _, sec := range snap.Secrets {
			for _, v := range sec.Versions {
				clear(v.Data)
			}
		}
	}()
	c := exportCounts{secrets: len(snap.Secrets), policies: len(snap.Policies)}
	for _, sec := range snap.Secrets {
		c.versions += len(sec.Versions)
	}
	b, err := viaScratchFile(func(path string) error { return spikedb.Write(ctx, path, root, snap) })
	return b, c, err
}

// exportProjection builds the projection up to seq into a scratch file:
// the projection's own format, values sealed under the projection key.
func (s *Service) exportProjection(ctx context.Context, seq uint64, key []byte) ([]byte, exportCounts, error) {
	var c exportCounts
	b, err := viaScratchFile(func(path string) error {
		p, err := projections.BuildAsOf(ctx, s.log, projections.AsOf{Seq: seq}, projections.Options{Path: path, Key: key, Logger: s.logger})
		if err != nil {
			return err
		}
		c, err = countState(ctx, p)
		if cerr := p.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return b, c, err
}

// viaScratchFile runs write on a file path in a new private directory,
// reads the file back and removes the directory.
func viaScratchFile(write func(path string) error) ([]byte, error) {
	dir, err := os.MkdirTemp("", "spike-export-")
	if err != nil {
		return nil, fmt.Errorf("export: scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "export.db")
	if err := write(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("export: read the scratch file: %w", err)
	}
	return b, nil
}

// countState counts the paths, versions and policies of p.
func countState(ctx context.Context, p *projections.Projection) (exportCounts, error) {
	var c exportCounts
	paths, err := p.Paths(ctx)
	if err != nil {
		return c, err
	}
	for _, path := range paths {
		m, err := p.Metadata(ctx, path)
		if err != nil {
			return c, err
		}
		c.secrets++
		c.versions += len(m.Versions)
	}
	pols, err := p.Policies(ctx)
	c.policies = len(pols)
	return c, err
}

// exportJSON writes the state as an api.ExportDocument: every path with
// its settings and versions (each version's keys; its data only with
// values), and every policy.
func exportJSON(ctx context.Context, p *projections.Projection, seq uint64, at time.Time, withValues bool) ([]byte, exportCounts, error) {
	doc := api.ExportDocument{Format: api.ExportDocumentFormat, Version: 1, AsOfSeq: seq, AsOfTime: at.UTC(), Values: withValues,
		Secrets: []api.ExportSecret{}, Policies: []api.ExportPolicy{}}
	var c exportCounts
	paths, err := p.Paths(ctx)
	if err != nil {
		return nil, c, err
	}
	defer func() {
		for _, sec := range doc.Secrets {
			for _, v := range sec.Versions {
				clear(v.Data)
			}
		}
	}()
	for _, path := range paths {
		m, err := p.Metadata(ctx, path)
		if err != nil {
			return nil, c, err
		}
		sec := api.ExportSecret{Path: path, CurrentVersion: m.CurrentVersion, OldestVersion: m.OldestVersion, MaxVersions: m.MaxVersions,
			Created: m.Created.UTC(), Updated: m.Updated.UTC(), CASRequired: m.CASRequired, CustomMetadata: m.CustomMetadata,
			Versions: make([]api.ExportVersion, 0, len(m.Versions))}
		if m.DeleteVersionAfter > 0 {
			sec.DeleteVersionAfter = m.DeleteVersionAfter.String()
		}
		for _, v := range m.Versions {
			ev := api.ExportVersion{Version: v.Version, Created: v.Created.UTC(), Deleted: utcPtr(v.Deleted), Destroyed: v.Destroyed}
			if !v.Destroyed {
				data, err := p.VersionData(ctx, path, v.Version)
				switch {
				case errors.Is(err, projections.ErrVersionDestroyed):
					ev.Destroyed = true
				case err != nil:
					return nil, c, err
				default:
					for k := range data {
						ev.Keys = append(ev.Keys, k)
					}
					slices.Sort(ev.Keys)
					if withValues {
						ev.Data = data
					} else {
						clear(data)
					}
				}
			}
			sec.Versions = append(sec.Versions, ev)
		}
		c.secrets++
		c.versions += len(sec.Versions)
		doc.Secrets = append(doc.Secrets, sec)
	}
	pols, err := p.Policies(ctx)
	if err != nil {
		return nil, c, err
	}
	for _, pol := range pols {
		doc.Policies = append(doc.Policies, api.ExportPolicy{Name: pol.Name, SpiffeIDPattern: pol.SpiffeIDPattern, PathPattern: pol.PathPattern,
			Permissions: pol.Permissions, Created: pol.Created.UTC(), Updated: pol.Updated.UTC()})
	}
	c.policies = len(doc.Policies)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, c, err
	}
	return append(b, '\n'), c, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
