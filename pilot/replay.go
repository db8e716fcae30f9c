package pilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/projections"
)

// `spike audit replay` is the auditor's answer when Nexus is gone: a
// copy of the log and a threshold of recovery files rebuild the root
// key here, in this process, and the access history is read from the
// copy by the code that builds Nexus's own (projections.Replay), so
// the answer is what `audit list` would have shown. It never writes to
// the copy (eventlog.OpenReadOnly) and never opens a secret's value: the
// history holds none, and there is deliberately no flag to show one.

type auditReplayCmd struct {
	Log         string   `name:"log" required:"" type:"path" placeholder:"FILE" help:"A copy of the event log (events.db; with events.db.journal beside it if the copy kept one). It is only read."`
	RecoveryDir string   `name:"recovery-dir" required:"" type:"path" placeholder:"DIR" help:"A directory holding at least a threshold of SPIKE recovery files (spike.recovery.<id>.txt, from spike operator recover)."`
	Key         string   `name:"key" placeholder:"KEY" help:"The verifier key pinned out of band (or @FILE holding it): the log must be signed with it. Without it, the key the recovered root key authenticates is used."`
	Trusted     []string `name:"trusted" type:"path" help:"Checkpoints saved earlier (audit checkpoint --save); the log must extend each. Repeatable."`
	NoVerify    bool     `name:"no-verify" help:"Print the history without verifying the log first (a warning says so): for a damaged copy. Each event still authenticates under its key."`
	AsOf        timeArg  `name:"as-of" placeholder:"TIME" help:"Also print every secret's metadata as it was at this instant (only paths that --path and --path-prefix keep), in the forms --since takes."`

	// The filters and paging of audit list, unchanged.
	Filters auditListCmd `embed:""`
}

// Help is the long help.
func (c *auditReplayCmd) Help() string {
	return "Needs no Nexus, no keepers and no SVID: the recovery files rebuild the root key in this process, the log is verified " +
		"(its signatures, with the key the root key authenticates or --key) and its events decrypted, and the access history is printed " +
		"as audit list prints it, with the same filters. A log that fails verification prints nothing and exits 1. Secret values are never shown. " +
		c.Filters.Help()
}

// replayDoc is the JSON document of `spike audit replay`: audit list's,
// and with --as-of the state of the secrets' metadata then.
type replayDoc struct {
	Events []api.AuditEvent `json:"events"`
	Next   uint64           `json:"next,omitempty"`
	AsOf   *asOfDoc         `json:"asOf,omitempty"`
}

// asOfDoc is the state at --as-of: the last event at or before it, and
// each path's metadata as `secret metadata get` prints it.
type asOfDoc struct {
	Time    time.Time     `json:"time"`
	Seq     uint64        `json:"seq"`
	Secrets []metadataDoc `json:"secrets"`
}

func (c *auditReplayCmd) Run(e *env) error {
	f := &c.Filters
	if err := f.check(); err != nil {
		return err
	}
	if f.Limit < 0 || f.Limit > projections.MaxHistoryPage {
		return usagef("--limit %d: give 1 to %d (0: every event)", f.Limit, projections.MaxHistoryPage)
	}
	if _, err := os.Stat(c.Log); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	var vkey string
	if c.Key != "" {
		var err error
		if vkey, err = (keyFlag{Key: c.Key}).load(); err != nil {
			return err
		}
	}
	var trusted [][]byte
	for _, name := range c.Trusted {
		b, err := readSmallFile(name, "the trusted checkpoint")
		if err != nil {
			return err
		}
		trusted = append(trusted, b)
	}
	shares, err := readRecoveryDir(c.RecoveryDir)
	if err != nil {
		return err
	}
	defer zeroShares(shares)

	log, err := eventlog.OpenReadOnly(e.ctx, c.Log, eventlog.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err // names the file; ErrInUse says to open a copy
	}
	defer log.Close()
	projKey, err := unlockWith(e.ctx, log, c.RecoveryDir, shares)
	if err != nil {
		return err
	}
	defer clear(projKey)
	zeroShares(shares) // the key is rebuilt: the shards are needed no more

	if c.NoVerify {
		fmt.Fprintf(e.errOut, "warning: --no-verify: the log was not verified; events may be missing or out of order, so do not rely on what is absent\n")
	} else if err := c.verify(e, log, vkey, trusted); err != nil {
		return err
	}

	doc, err := c.history(e.ctx, log)
	if err != nil {
		return err
	}
	if c.AsOf.set {
		if doc.AsOf, err = c.state(e.ctx, log, projKey); err != nil {
			return err
		}
	}
	return e.print(doc, doc.human)
}

// readRecoveryDir reads every recovery file in dir. A directory that is
// missing or holds none, or a file that is not a recovery file, is a
// usage error naming it.
func readRecoveryDir(dir string) ([]namedShard, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("recovery directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, usagef("--recovery-dir %s is not a directory", dir)
	}
	files, err := shamir.RecoveryFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, usagef("%s holds no recovery files (named %s, %s, …, as spike operator recover writes them)",
			dir, shamir.RecoveryFileName(1), shamir.RecoveryFileName(2))
	}
	var out []namedShard
	for _, name := range files {
		s, err := shamir.ReadRecoveryFile(name)
		if err != nil {
			s.Zero()
			zeroShares(out)
			return nil, usagef("%s: %v", name, err)
		}
		out = append(out, namedShard{name: filepath.Base(name), share: s})
	}
	return out, nil
}

func zeroShares(shares []namedShard) {
	for i := range shares {
		shares[i].share.Zero()
	}
}

// sharingRecord is what the log records in clear of each sharing of the
// root key (a bootstrap, a rotation): its shape and the Feldman
// commitment that tells a shard of it from any other.
type sharingRecord struct {
	Epoch      uint64            `json:"epoch"`
	Shares     int               `json:"shares"`
	Threshold  int               `json:"threshold"`
	Commitment shamir.Commitment `json:"commitment"`
}

// sharingTypes are the events whose clear part is a sharingRecord.
var sharingTypes = []string{(&events.Bootstrapped{}).Type(), (&events.ShardsRotated{}).Type()}

// recordedSharings reads the sharings the log records, newest first. It
// needs no key: they are in the events' clear parts. A record that does
// not decode is left out: the shards are then tried without its help.
func recordedSharings(ctx context.Context, log *eventlog.Log) ([]sharingRecord, error) {
	var out []sharingRecord
	err := log.ScanBack(ctx, func(r eventlog.Record) bool {
		var s sharingRecord
		if json.Unmarshal(r.Public, &s) == nil && s.Threshold >= 1 && len(s.Commitment) == s.Threshold {
			out = append(out, s)
		}
		return true
	}, sharingTypes...)
	return out, err
}

// maxCombinations bounds how many sets of shards are tried when the log
// records no sharing to say which ones belong together.
const maxCombinations = 4096

// unlockWith rebuilds the root key from shares and unlocks log with it,
// and returns the projection key derived from it (for --as-of); the root
// key itself is zeroed before it returns. Recovery files carry no
// threshold and no epoch: the log's sharing records say how many shards
// are needed and which shards belong to which sharing, and the log's key
// check says whether a rebuilt key is the one.
func unlockWith(ctx context.Context, log *eventlog.Log, dir string, shares []namedShard) ([]byte, error) {
	recs, err := recordedSharings(ctx, log)
	if err != nil {
		return nil, fmt.Errorf("read the log's sharing records: %w", err)
	}
	var key [shamir.KeySize]byte
	defer clear(key[:])
	try := func(group []shamir.Share, threshold int) (bool, error) {
		k, err := shamir.Combine(threshold, group)
		if err != nil {
			return false, nil // an all-zero or malformed shard: another set may do
		}
		defer clear(k[:])
		err = log.Unlock(ctx, k[:])
		switch {
		case errors.Is(err, eventlog.ErrWrongRootKey):
			return false, nil
		case err != nil:
			return false, err
		}
		key = k
		return true, nil
	}
	all := make([]shamir.Share, len(shares))
	for i, s := range shares {
		all[i] = s.share
	}
	defer clear(all)
	for _, rec := range recs { // newest sharing first
		var group []shamir.Share
		for _, s := range all {
			if shamir.Verify(s, rec.Commitment) {
				group = append(group, s)
			}
		}
		if len(group) < rec.Threshold {
			continue
		}
		if ok, err := try(group, rec.Threshold); ok || err != nil {
			return projectionKey(key[:], err)
		}
	}
	if len(recs) == 0 {
		// No record to go by (a log bootstrapped before they existed):
		// try sets of one shard, then two, …, until one opens the log.
		tried := 0
		for size := 1; size <= len(all) && tried < maxCombinations; size++ {
			var found bool
			var ferr error
			combinations(len(all), size, func(idx []int) bool {
				tried++
				group := make([]shamir.Share, len(idx))
				for i, j := range idx {
					group[i] = all[j]
				}
				found, ferr = try(group, size)
				clear(group)
				return !found && ferr == nil && tried < maxCombinations
			})
			if found || ferr != nil {
				return projectionKey(key[:], ferr)
			}
		}
	}
	return nil, shardsError(dir, shares, recs)
}

func projectionKey(root []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return projections.KeyFromRoot(root)
}

// shardsError says why the recovery files rebuild no key that opens the
// log: how many were found, how many the log's sharing needs, and which
// files belong to no sharing it records. It is a usage error: the
// directory given is the wrong one.
func shardsError(dir string, shares []namedShard, recs []sharingRecord) error {
	found := fmt.Sprintf("%s holds %d recovery file%s", dir, len(shares), plural(len(shares)))
	if len(recs) == 0 {
		return usagef("%s, and no set of them rebuilds the root key of this log: too few, or from another deployment", found)
	}
	newest := recs[0]
	var strangers []string
	matching := 0
	for _, s := range shares {
		ok := false
		for _, r := range recs {
			if shamir.Verify(s.share, r.Commitment) {
				ok = true
			}
		}
		if shamir.Verify(s.share, newest.Commitment) {
			matching++
		}
		if !ok {
			strangers = append(strangers, s.name)
		}
	}
	msg := fmt.Sprintf("%s; %d of them %s the log's newest sharing of the root key, which needs %d (%d of %d)",
		found, matching, map[bool]string{true: "belongs to", false: "belong to"}[matching == 1], newest.Threshold, newest.Threshold, newest.Shares)
	if len(strangers) > 0 {
		msg += fmt.Sprintf("; %s %s of no sharing this log records (another deployment, or a file altered)",
			strings.Join(strangers, ", "), map[bool]string{true: "is", false: "are"}[len(strangers) == 1])
	}
	return usagef("%s", msg)
}

// combinations calls fn with each size-element subset of 0..n-1, in
// lexicographic order, until fn returns false.
func combinations(n, size int, fn func([]int) bool) {
	idx := make([]int, size)
	var rec func(start, depth int) bool
	rec = func(start, depth int) bool {
		if depth == size {
			return fn(idx)
		}
		for i := start; i <= n-(size-depth); i++ {
			idx[depth] = i
			if !rec(i+1, depth+1) {
				return false
			}
		}
		return true
	}
	rec(0, 0)
}

// verify verifies the log before anything in it is printed. Without
// --key, the verifier key is the one the file records: after Unlock it
// is authenticated by the root key (the log's key ring proves the
// signing key it wraps matches it), so a forger needs the root key.
func (c *auditReplayCmd) verify(e *env, log *eventlog.Log, vkey string, trusted [][]byte) error {
	own, err := log.VerifierKey(e.ctx)
	if err != nil {
		return fmt.Errorf("read verifier key: %w", err)
	}
	if vkey != "" && vkey != own {
		return &integrityError{what: c.Log, err: errors.New("it is not signed with the verifier key given with --key (a log of another deployment, or a forged one)")}
	}
	bar := newProgress(e.errOut, e.terminal(e.errOut), "verify")
	rep, err := log.Verify(e.ctx, own, eventlog.VerifyOptions{Trusted: trusted, Progress: bar.update})
	bar.done()
	switch {
	case errors.Is(err, eventlog.ErrTampered):
		return &integrityError{what: c.Log, err: err}
	case err != nil:
		return fmt.Errorf("verify %s: %w", c.Log, err)
	}
	if n := rep.Size - rep.Latest.Size; n > 0 {
		fmt.Fprintf(e.errOut, "note: the last %d of %d events are not yet covered by a signed checkpoint; each still authenticates under the root key\n", n, rep.Size)
	}
	return nil
}

// query is the filters as projections take them, as Nexus builds them
// for audit list.
func (c *auditReplayCmd) query() projections.HistoryQuery {
	f := &c.Filters
	q := projections.HistoryQuery{Target: f.Path, TargetPrefix: f.PathPrefix, Actor: f.Actor, Types: f.Types, Outcomes: f.Outcomes,
		After: f.After, Limit: f.Limit}
	if t := f.Since.ptr(); t != nil {
		q.From = *t
	}
	if t := f.Until.ptr(); t != nil {
		q.To = *t
	}
	return q
}

// history replays the history the filters select: one page with
// --limit, as audit list prints one, else every matching event.
func (c *auditReplayCmd) history(ctx context.Context, log *eventlog.Log) (replayDoc, error) {
	q := c.query()
	doc := replayDoc{Events: []api.AuditEvent{}}
	if q.Limit > 0 {
		rows, next, err := projections.ReplayPage(ctx, log, q)
		if err != nil {
			return doc, fmt.Errorf("replay: %w", err)
		}
		for _, a := range rows {
			doc.Events = append(doc.Events, auditEventOf(a))
		}
		doc.Next = next
		return doc, nil
	}
	err := projections.Replay(ctx, log, q, func(rows []projections.Access) error {
		for _, a := range rows {
			doc.Events = append(doc.Events, auditEventOf(a))
		}
		return nil
	})
	if err != nil {
		return doc, fmt.Errorf("replay: %w", err)
	}
	return doc, nil
}

// refusedType is the type of a refused write's event.
var refusedType = (&events.RequestRefused{}).Type()

// auditEventOf is an access row as Nexus answers it to audit list (its
// auditEvent): a denial or a refusal names its action, the first word
// of its detail.
func auditEventOf(a projections.Access) api.AuditEvent {
	e := api.AuditEvent{Seq: a.Seq, Time: a.Time.UTC(), Type: a.Type, Actor: a.Actor, Path: a.Target,
		Versions: a.Versions, Outcome: a.Outcome, RequestID: a.RequestID, Detail: a.Detail}
	if a.Outcome == events.OutcomeDenied || a.Type == refusedType {
		e.Action, _, _ = strings.Cut(a.Detail, " ")
	}
	return e
}

// state builds the secrets' state at --as-of in a scratch projection, in
// a private temporary directory removed before it returns: never beside
// the copy.
func (c *auditReplayCmd) state(ctx context.Context, log *eventlog.Log, projKey []byte) (*asOfDoc, error) {
	at := c.AsOf.t
	seq, err := log.SeqAt(ctx, at)
	if err != nil {
		return nil, fmt.Errorf("as-of: %w", err)
	}
	doc := &asOfDoc{Time: at.UTC(), Seq: seq, Secrets: []metadataDoc{}}
	if seq == 0 {
		return doc, nil // before the first event: nothing existed
	}
	dir, err := os.MkdirTemp("", "spike-replay-")
	if err != nil {
		return nil, fmt.Errorf("as-of: scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := projections.BuildAsOf(ctx, log, projections.AsOf{Seq: seq},
		projections.Options{Path: filepath.Join(dir, "asof.db"), Key: projKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	paths, err := p.Paths(ctx)
	if err != nil {
		return nil, fmt.Errorf("as-of: %w", err)
	}
	f := &c.Filters
	for _, path := range paths {
		if (f.Path != "" && path != f.Path) || !strings.HasPrefix(path, f.PathPrefix) {
			continue
		}
		m, err := p.Metadata(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("as-of: %s: %w", path, err)
		}
		doc.Secrets = append(doc.Secrets, metadataOf(m))
	}
	return doc, nil
}

// metadataOf is a path's metadata in the shape secret metadata get
// prints.
func metadataOf(m projections.SecretMetadata) metadataDoc {
	d := metadataDoc{Path: m.Path, CurrentVersion: m.CurrentVersion, OldestVersion: m.OldestVersion,
		CreatedTime: m.Created.UTC(), UpdatedTime: m.Updated.UTC(), MaxVersions: m.MaxVersions, CASRequired: m.CASRequired,
		DeleteVersionAfter: m.DeleteVersionAfter.String(), CustomMetadata: m.CustomMetadata, Versions: []versionDoc{}}
	if d.CustomMetadata == nil {
		d.CustomMetadata = map[string]string{}
	}
	for _, v := range m.Versions {
		d.Versions = append(d.Versions, versionDoc{Version: v.Version, CreatedTime: v.Created.UTC(), DeletedTime: v.Deleted, Destroyed: v.Destroyed})
	}
	return d
}

func (d replayDoc) human(w io.Writer) error {
	if err := (eventsDoc{Events: d.Events, Next: d.Next}).human(w); err != nil {
		return err
	}
	if d.AsOf == nil {
		return nil
	}
	a := d.AsOf
	fmt.Fprintf(w, "\nSecrets at %s (after event %d):\n", humanTime(a.Time), a.Seq)
	if len(a.Secrets) == 0 {
		_, err := fmt.Fprintln(w, "No secrets.")
		return err
	}
	t := table(w)
	fmt.Fprintln(t, "PATH\tCURRENT\tVERSIONS\tUPDATED\tSTATES")
	for _, s := range a.Secrets {
		var live, deleted, destroyed int
		for _, v := range s.Versions {
			switch {
			case v.Destroyed:
				destroyed++
			case v.DeletedTime != nil:
				deleted++
			default:
				live++
			}
		}
		fmt.Fprintf(t, "%s\t%d\t%d\t%s\t%d readable, %d deleted, %d destroyed\n", oneLine(s.Path), s.CurrentVersion, len(s.Versions),
			humanTime(s.UpdatedTime), live, deleted, destroyed)
	}
	return t.Flush()
}
