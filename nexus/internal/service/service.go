package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/authz"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/nexus/internal/members"
	"github.com/spikeledger/spike/nexus/internal/metrics"
	"github.com/spikeledger/spike/projections"
)

// Service serves secrets, policies and the cipher once Nexus is unsealed.
//
// Every state change and every audited read goes through one writer, the
// command loop: it takes the commands waiting, builds each one's events
// against the projection as it stands, appends them with group commit,
// applies them to the projection and only then answers. Commands on the
// same path (or two policy changes) are never built in the same step, so
// each sees the one before it: no lost versions under concurrency.
type Service struct {
	// log is read (proofs, checkpoints, tails); every write goes through
	// commit, the one way Nexus writes its log.
	log         *eventlog.Log
	commit      commit.Committer
	proj        *projections.Projection
	roles       *identity.Roles
	withKey     func(func([]byte) error) error
	maxVersions int
	// maxValue bounds one version's data (keys and values together).
	maxValue int
	logger   *slog.Logger
	authz    atomic.Pointer[authz.Authorizer]
	// loop is the command loop's current term (see loop.go): the queue
	// submitters use, and whether a Run takes from it.
	loop atomic.Pointer[loop]
	// loopMu orders starting a term, standing by and closing; running
	// is held by Run or Follow, so that only one runs at a time.
	loopMu  sync.Mutex
	running sync.Mutex
	// closed is closed by Close: the service is shutting down for good.
	closed    chan struct{}
	closeOnce sync.Once
	state     writeState // the loop's own: see writeState
	applier   *applier
	// queued carries segments of reads whose events are queued in the
	// log to answerReads (made anew by each Run); reads counts those
	// not yet answered.
	queued chan queuedReads
	reads  sync.WaitGroup
	routes map[api.Op]transport.Handler
	// recordWait bounds a record's wait (defaultRecordWait; tests
	// shorten it).
	recordWait time.Duration
	metrics    *metrics.Metrics
	exports    exportJobs // see export.go
	// followers counts the audit tails open, at most maxFollowers per
	// caller; heartbeat is how often a quiet tail says it is alive (see
	// tail.go; tests shorten it).
	followers    followers
	maxFollowers int
	heartbeat    time.Duration
	// restoring holds the one slot of restore work (restoreSlot);
	// restoreWait bounds the wait for it (defaultRestoreWait; tests
	// shorten it).
	restoring   chan struct{}
	restoreWait time.Duration
	// backingUp holds the one slot of backup work (backup.go).
	backingUp atomic.Bool
	// outage logs failures to record once an episode (storage.go).
	outage outage
}

// outcome is what building a command produced: events to append, and the
// answer to send once they are durable.
type outcome struct {
	events []eventlog.Event
	// known, if set, is what the builder knows of each of events, in
	// order, for the projection to take instead of decoding them
	// (projections.Known).
	known  []projections.Known
	answer transport.Response
	// durable, if set, runs in the loop once the events are durable and
	// applied, before any later command is built. A write command
	// without it makes the loop forget its key's write state.
	durable func()
	// answerAfter, if set, makes the answer from the records appended
	// (for an answer that names their sequence numbers).
	answerAfter func(recs []eventlog.Record) transport.Response
}

type command struct {
	ctx context.Context
	key string // what it touches: a secret path, or policiesKey
	// write marks a command whose events change state under key; reads
	// (audited gets, denials, cipher uses) only record.
	write bool
	// barrier marks a command that touches many keys: it is built alone,
	// after everything before it is applied and before anything after.
	barrier bool
	build   func(ctx context.Context) outcome
	reply   chan transport.Response
}

// policiesKey is the conflict key of every policy change.
const policiesKey = "\x00policies"

// DefaultMaxSecretSize bounds one version's data: 1 MiB.
const DefaultMaxSecretSize = 1 << 20

// MaxSecretSizeLimit is the largest --max-secret-size: a version's data
// arrives in one request body, which Nexus reads up to
// api.SecretBodyLimit, so a larger setting could never be reached.
const MaxSecretSizeLimit = api.SecretBodyLimit

// PayloadLimit is the event payload limit the log needs for versions of
// up to maxSecret bytes. A version's data is sealed as JSON, in which a
// byte can take six (a control character as \u00XX), and the sealed
// bytes travel in base64 (4/3): eight times the data at worst, plus room
// for the path, the pruned versions and the other fields.
func PayloadLimit(maxSecret int) int {
	return 8*max(maxSecret, DefaultMaxSecretSize) + 256<<10
}

// maxQueuedReads bounds the segments of reads queued in the log and not
// yet answered; past it the loop waits for the answerer.
const maxQueuedReads = 64

// maxBatch bounds the commands one loop step takes.
const maxBatch = 256

// Config is what a Service is built over.
type Config struct {
	// Log is read (proofs, checkpoints, tails); Commit is how the
	// service writes it.
	Log    *eventlog.Log
	Commit commit.Committer
	Proj   *projections.Projection
	Roles  *identity.Roles
	// WithKey runs its argument with the root key (the cipher's key).
	WithKey func(func([]byte) error) error
	// MaxVersions is the retention of a new path (default
	// projections.DefaultMaxVersions); MaxValue bounds one version's
	// data (default DefaultMaxSecretSize).
	MaxVersions, MaxValue int
	// Metrics, if set, is what the service counts into.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Cluster is the Raft group this Nexus belongs to, served to the
	// superuser by the membership routes; nil when clustering is off,
	// and they answer so.
	Cluster members.Cluster
}

// New compiles the policies and returns a service; Run starts it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.MaxVersions <= 0 {
		cfg.MaxVersions = projections.DefaultMaxVersions
	}
	if cfg.MaxValue <= 0 {
		cfg.MaxValue = DefaultMaxSecretSize
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(nil)
	}
	s := &Service{log: cfg.Log, commit: cfg.Commit, proj: cfg.Proj, roles: cfg.Roles, withKey: cfg.WithKey, maxVersions: cfg.MaxVersions, maxValue: cfg.MaxValue,
		logger: cfg.Logger, closed: make(chan struct{}), recordWait: defaultRecordWait,
		restoring: make(chan struct{}, 1), restoreWait: defaultRestoreWait, metrics: cfg.Metrics, maxFollowers: DefaultMaxFollowers, heartbeat: api.AuditTailHeartbeat}
	s.applier = newApplier(cfg.Proj, cfg.Logger)
	// Commands submitted before the first Run wait for it, as at start
	// before there were terms: custody may record as soon as it has
	// the service, before Run's goroutine is scheduled.
	s.loop.Store(newLoop())
	if err := s.recompile(ctx); err != nil {
		return nil, err
	}
	s.routes = s.handlers()
	mem := members.New(members.Config{Cluster: cfg.Cluster, Recorder: s, Roles: cfg.Roles, Logger: cfg.Logger})
	for _, op := range []api.Op{api.OpClusterList, api.OpClusterAdd, api.OpClusterRemove} {
		s.routes[op], _ = mem.Handler(op)
	}
	for op, h := range s.routes {
		s.routes[op] = s.guard(h)
	}
	s.warnLegacyPaths(ctx)
	return s, nil
}

// warnLegacyPaths says, once per unseal, how many secrets sit at legacy
// paths (with an empty segment, stored before spike refused them), and
// how to move them. Their names are not logged: an operator finds them
// with secret list.
func (s *Service) warnLegacyPaths(ctx context.Context) {
	n, err := s.proj.LegacyPaths(ctx)
	if err != nil {
		s.logger.Error("count legacy secret paths", "err", err)
		return
	}
	if n > 0 {
		s.logger.Warn("secrets stored at legacy paths, which start or end with '/' or hold \"//\": they can be read, deleted and restored, but take no new versions",
			"count", n, "move", "copy each to a path without empty segments, then remove it with secret metadata delete; see \"Legacy paths\" in docs/operator.md")
	}
}

func (s *Service) recompile(ctx context.Context) error {
	ps, err := s.proj.Policies(ctx)
	if err != nil {
		return err
	}
	a := authz.Compile(s.roles, ps)
	for _, skipped := range a.Skipped() {
		s.logger.Warn("policy skipped", "policy", skipped)
	}
	s.authz.Store(a)
	s.metrics.Compiled(a.Rules())
	return nil
}

// Run is the command loop, while this replica leads; it returns when
// ctx ends or the service is closed. It first brings the projection up
// to the log's end (a follower's log grows without it), and only then
// takes commands: until then, as between terms, they are answered 503
// (except before the first Run, when they wait for it). Commands still
// queued when it returns are answered 503 (nothing of them was done).
// Run and Follow may alternate on one service, one at a time.
func (s *Service) Run(ctx context.Context) {
	s.running.Lock()
	defer s.running.Unlock()
	if s.isClosed() {
		return
	}
	// Before the term opens, so that nothing is authorised or answered
	// from the projection as it was while another replica led.
	if err := s.catchUp(ctx); err != nil && ctx.Err() == nil {
		// The projection is marked behind: commands are refused 503
		// until the probe has caught it up.
		s.logger.Error("command loop: catch the projection up before leading", "err", err)
	}
	l := s.lead()
	if l == nil {
		return // closed
	}
	s.queued = make(chan queuedReads, maxQueuedReads)
	// Close ends the term without ending ctx: the applier's goroutine
	// ends with runCtx.
	runCtx, cancel := context.WithCancel(ctx)
	applied, answered := make(chan struct{}), make(chan struct{})
	go func() { s.applier.run(runCtx); close(applied) }()
	go func() { s.answerReads(ctx, s.queued); close(answered) }()
	defer func() {
		close(s.queued)
		<-answered
		l.stop()
		cancel()
		<-applied
		s.applier.finish(ctx)
	}()
	probe := time.NewTicker(probeEvery)
	defer probe.Stop()
	for {
		var first *command
		select {
		case first = <-l.cmds:
			if ctx.Err() != nil {
				// Both were ready: stop rather than build after the
				// end, when committing would fail half-way.
				first.reply <- errStopped
				return
			}
		case <-probe.C:
			s.probe(ctx)
			continue
		case <-ctx.Done():
			return
		case <-l.stopped: // Close
			return
		}
		batch := []*command{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case c := <-l.cmds:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		s.metrics.Batch.Observe(float64(len(batch)))
		s.step(ctx, batch)
	}
}

type built struct {
	c   *command
	out outcome
}

// step builds the batch's commands in order, flushing before any command
// on a key an earlier command of the same segment wrote: a write must see
// the write before it, and a read must see it too. Reads of one key share
// a segment (and a commit).
//
// While the projection is behind the log nothing is built from it: the
// whole batch is refused, and the probe catches the projection up.
func (s *Service) step(ctx context.Context, batch []*command) {
	if err := s.applier.lagging(); err != nil {
		for _, c := range batch {
			c.reply <- behindAnswer(err)
		}
		return
	}
	written := map[string]bool{}
	var seg []built
	for _, c := range batch {
		if written[c.key] || c.barrier && len(seg) > 0 {
			s.flush(ctx, seg)
			seg, written = nil, map[string]bool{}
		}
		b := built{c, c.build(c.ctx)}
		if !s.fits(b) {
			continue
		}
		if c.barrier {
			s.flush(ctx, []built{b})
			continue
		}
		if c.write {
			written[c.key] = true
		}
		seg = append(seg, b)
	}
	s.flush(ctx, seg)
}

// fits reports whether the log takes b's events, and answers b's command
// when it does not: an event over the log's limits (a huge value's write,
// a rollback to a version stored under a larger --max-secret-size) fails
// only the command that made it, never the others of its segment, which
// share one append. The command's write state is forgotten, as it
// changed nothing.
func (s *Service) fits(b built) bool {
	if len(b.out.events) == 0 {
		return true
	}
	err := s.commit.Check(b.out.events...)
	if err == nil {
		return true
	}
	if b.c.write {
		s.state.forget(b.c.key)
	}
	if errors.Is(err, commit.ErrNotLeader) {
		b.c.reply <- refuseNotLeader
		return false
	}
	s.logger.Error("command loop: command refused, its events do not fit the log", "err", err)
	answer := errInternal
	if errors.Is(err, eventlog.ErrTooLarge) {
		answer = refusal{status: http.StatusBadRequest, code: api.CodeBadRequest, reason: api.ReasonTooLarge,
			message: "the request makes an event larger than the log holds (" + SizeText(s.commit.MaxPayload()) + "); store less at once"}.response()
	}
	b.c.reply <- answer
	return false
}

// flush appends a segment's events in one durable append, applies them,
// and answers each command. A command that only records (an audited
// read, a denial) is answered as soon as its events are durable: nothing
// it answers depends on applying them, and the applier holds them
// briefly to apply many at once.
func (s *Service) flush(ctx context.Context, seg []built) {
	var evs []eventlog.Event
	policies := false
	for _, b := range seg {
		evs = append(evs, b.out.events...)
		policies = policies || b.c.key == policiesKey && len(b.out.events) > 0
	}
	if len(evs) > 0 && onlyReads(seg) {
		s.submitReads(ctx, seg, evs)
		return
	}
	var recs []eventlog.Record
	if len(evs) > 0 {
		var err error
		if recs, err = s.commit.Commit(ctx, evs...); err != nil {
			s.failedCommit(ctx, seg, err)
			return
		}
		// Reads queued before these events are before them in the log:
		// their records are held before these are applied or held.
		s.reads.Wait()
	}
	var later []built
	var laterRecs [][]eventlog.Record
	var known map[uint64]projections.Known
	all, records := recs, true
	for _, b := range seg {
		own := recs[:len(b.out.events)]
		recs = recs[len(own):]
		if b.onlyRecords() {
			b.c.reply <- b.out.answer
			continue
		}
		records = records && recordsOnly(b.out.events)
		later, laterRecs = append(later, b), append(laterRecs, own)
		for i, k := range b.out.known {
			if known == nil {
				known = map[uint64]projections.Known{}
			}
			known[own[i].Seq] = k
		}
	}
	if err := s.applyOrHold(ctx, all, known, records, policies); err != nil {
		s.failed(later, "apply", err, true)
		return
	}
	for i, b := range later {
		switch {
		case b.out.durable != nil:
			b.out.durable()
		case b.c.write:
			s.state.forget(b.c.key)
		}
		answer := b.out.answer
		if b.out.answerAfter != nil {
			answer = b.out.answerAfter(laterRecs[i])
		}
		b.c.reply <- answer
	}
}

// onlyRecords reports whether b's command only records (an audited
// read, a denial, a cipher use, a refusal) and is answered without its
// records: it can be answered once they are durable, before they are
// applied.
func (b built) onlyRecords() bool {
	return !b.c.write && b.out.durable == nil && b.out.answerAfter == nil && recordsOnly(b.out.events)
}

// onlyReads reports whether every command of seg only records.
func onlyReads(seg []built) bool {
	for _, b := range seg {
		if !b.onlyRecords() {
			return false
		}
	}
	return true
}

// recordsOnly reports whether evs only record (projections.RecordOnly):
// applying them changes nothing a command is built from.
func recordsOnly(evs []eventlog.Event) bool {
	for _, e := range evs {
		if !projections.RecordOnly(e.Type) {
			return false
		}
	}
	return true
}

// submitReads queues a segment of reads' events and leaves them to the
// answerer, so the loop builds the next segment while their sync runs.
// Nothing a later command is built from depends on them; the log keeps
// them in the order queued, and a later segment that changes state waits
// for them to be held before it is applied (s.reads).
func (s *Service) submitReads(ctx context.Context, seg []built, evs []eventlog.Event) {
	p, err := s.commit.Submit(ctx, evs...)
	if err != nil {
		s.failedCommit(ctx, seg, err)
		return
	}
	s.reads.Add(1)
	s.queued <- queuedReads{p, seg}
}

// queuedReads is a segment of reads whose events are queued in the log.
type queuedReads struct {
	p   commit.Pending
	seg []built
}

// answerReads answers queued reads, in the order queued, once their
// events are durable, and hands their records to the applier; it
// returns when queued is closed and drained. ctx is the loop's.
func (s *Service) answerReads(ctx context.Context, queued <-chan queuedReads) {
	for q := range queued {
		recs, err := q.p.Wait()
		if err != nil {
			// Not s.failed: the write state is the loop's, and reads
			// changed nothing in it.
			if r, ok := uncommitted(ctx, err); ok {
				answerAll(q.seg, r)
			} else {
				s.storageFailed("append", err)
				answerAll(q.seg, storageAnswer(err, false))
			}
		} else {
			s.applier.hold(recs)
			for _, b := range q.seg {
				b.c.reply <- b.out.answer
			}
		}
		s.reads.Done()
	}
}

// applyOrHold applies a segment's records (given what the loop knows of
// some of them), or, when they only record, hands them to the applier to
// hold. It recompiles the policies if they changed.
func (s *Service) applyOrHold(ctx context.Context, recs []eventlog.Record, known map[uint64]projections.Known, records, policies bool) error {
	if records {
		if len(recs) > 0 {
			s.applier.hold(recs)
		}
		return nil
	}
	// Not ctx, the loop's: committed events are applied and answered
	// even as the term ends (a local apply takes milliseconds).
	err := s.applier.apply(context.WithoutCancel(ctx), recs, known)
	if s.applier.caughtUp.Swap(false) {
		// The catch-up may have applied events appended past the loop.
		s.state.forgetAll()
	}
	if err != nil {
		return err
	}
	if policies {
		if err := s.recompile(ctx); err != nil {
			s.logger.Error("recompile policies", "err", err)
		}
	}
	return nil
}

// failed answers every command of seg after a failed append or apply
// (recorded: its events are in the log) as storageAnswer says. It
// forgets the write state, which may no longer match the projection.
func (s *Service) failed(seg []built, what string, err error, recorded bool) {
	s.state.forgetAll()
	s.storageFailed(what, err)
	answerAll(seg, storageAnswer(err, recorded))
}

// answerAll sends r to every command of seg.
func answerAll(seg []built, r transport.Response) {
	for _, b := range seg {
		b.c.reply <- r
	}
}

// fail is an answer of status with an error body of code.
func fail(status int, code api.ErrorCode) transport.Response {
	return transport.Response{Status: status, Body: api.NewErrorResponse(code)}
}

// errInternal answers a command whose append or apply failed.
var errInternal = fail(http.StatusInternalServerError, api.CodeInternal)

// do queues a state-changing command and waits for its answer.
func (s *Service) do(ctx context.Context, key string, build func(ctx context.Context) outcome) transport.Response {
	return s.submit(&command{ctx: ctx, key: key, write: true, build: build, reply: make(chan transport.Response, 1)})
}

// read queues a command that only records (an audited read) and waits.
func (s *Service) read(ctx context.Context, key string, build func(ctx context.Context) outcome) transport.Response {
	return s.submit(&command{ctx: ctx, key: key, build: build, reply: make(chan transport.Response, 1)})
}

// errStopped answers a command the loop will never build: 503, so a
// client retries elsewhere or later, as it does while Nexus starts.
var errStopped = fail(http.StatusServiceUnavailable, api.CodeNotReady)

// submit queues c and waits for its answer, its context's end or the
// loop's, whichever is first. A caller that gives up before the answer
// gets 503 although the command may still run: its events may become
// durable, but no one is told they did, which is the only safe side.
func (s *Service) submit(c *command) transport.Response {
	ctx := c.ctx
	start := time.Now()
	defer func() { s.metrics.Command.Observe(time.Since(start).Seconds()) }()
	l := s.loop.Load()
	if l.isStopped() {
		return errStopped // not leading, or closed: do not queue at all
	}
	select {
	case l.cmds <- c:
	case <-ctx.Done():
		return errStopped
	case <-l.stopped:
		return errStopped
	}
	select {
	case r := <-c.reply:
		return r
	case <-ctx.Done():
	case <-l.stopped:
	}
	// The answer may have been sent as the wait ended: prefer it.
	select {
	case r := <-c.reply:
		return r
	default:
		return errStopped
	}
}

// Record appends events built elsewhere (custody's: bootstrap, recovery,
// shard distribution and rotation, keeper health) through the loop, so
// they are applied to the projection at once, like every other event,
// and visible to audit queries the moment they are durable.
//
// Its caller must learn whether they were appended: one told "not
// recorded" while they were would retry, and a retried bootstrap would
// record a second system.bootstrapped. So the wait does not end with
// the caller's context, only with the loop's or after s.recordWait; and a
// record still queued when that wait ends is dropped, not appended. Only
// a record whose append outlasts that wait leaves its outcome unknown.
//
// A replica that does not lead appends nothing: its error then wraps
// commit.ErrNotLeader, as a cluster committer's does, so that a
// follower's caller can tell "the leader records this" from a failure.
func (s *Service) Record(ctx context.Context, evs ...eventlog.Event) error {
	resp := s.record(ctx, evs...)
	switch {
	case resp.Status < http.StatusBadRequest:
		return nil
	case s.notLeading(resp):
		return fmt.Errorf("record %s: %w", evs[0].Type, commit.ErrNotLeader)
	}
	return fmt.Errorf("record %s: %w", evs[0].Type, errNotRecorded)
}

// notLeading reports whether a refused record was refused because this
// replica does not lead: the committer said so, or the record was
// answered as no term would take it (errStopped) and no term runs now
// (the replica follows, or is between terms) though the service is
// open. A failed append or apply is a failure whatever became of the
// term after it: its event may be in the log.
func (s *Service) notLeading(resp transport.Response) bool {
	if s.isClosed() {
		return false
	}
	if p, ok := resp.Body.(api.Problem); ok && p.Reason == api.ReasonNotLeader {
		return true
	}
	return answeredStopped(resp) && s.loop.Load().isStopped()
}

// answeredStopped reports whether resp is errStopped: the command was
// never built (no term took it, or its caller stopped waiting), or a
// term ended before committing it.
func answeredStopped(resp transport.Response) bool {
	b, ok := resp.Body.(api.ErrorResponse)
	return ok && resp.Status == errStopped.Status && b == errStopped.Body
}

// record is Record answering as the loop did: a refusal (sealed, not the
// leader, no space) says why, for a handler to pass on.
func (s *Service) record(ctx context.Context, evs ...eventlog.Event) transport.Response {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.recordWait)
	defer cancel()
	return s.submit(&command{ctx: ctx, key: recordKey, reply: make(chan transport.Response, 1),
		build: func(ctx context.Context) outcome {
			if ctx.Err() != nil { // its caller has been told it failed
				return answerNow(errStopped)
			}
			return outcome{events: evs}
		}})
}

// defaultRecordWait bounds how long a record waits for the loop: far
// longer than a step takes (milliseconds), short enough that custody's
// callers and background jobs never hang on a loop that cannot append.
const defaultRecordWait = 30 * time.Second

// recordKey is the conflict key of custody's records; they change no
// secret or policy, so they share a segment with anything.
const recordKey = "\x00record"

var errNotRecorded = errors.New("the command loop did not commit it (stopping, the log failed, or it waited too long)")

// answerNow is an outcome with no events.
func answerNow(r transport.Response) outcome {
	return outcome{answer: r}
}

// event encodes a payload carrying the request's actor and id.
func event(r *transport.Request, p events.Payload) eventlog.Event {
	m := p.EventMeta()
	m.Actor, m.RequestID = r.Peer.String(), r.ID
	b, err := events.Encode(p)
	if err != nil {
		// Our own structs always encode; a failure here is a bug.
		panic(err)
	}
	return eventlog.Event{Type: p.Type(), Schema: p.Schema(), Payload: b}
}

// allow checks a permission, and when it is refused returns the audited
// 401: the denial is recorded before the caller hears of it.
//
// A path that no secret could have (too long, or with a character outside
// the path alphabet) is refused 400 before authorisation and not
// recorded: a refusal records the path it refused, and a caller without
// any grant must not be able to write what it likes into the log, nor
// control characters to an auditor's terminal. An empty path keeps
// SPIKE's order (401 before 400).
func (s *Service) allow(ctx context.Context, r *transport.Request, op api.Op, path string, want api.Permission) (transport.Response, bool) {
	if path != "" {
		if err := api.ValidateStoredSecretPath(path); err != nil {
			return invalidRequest(err).response(), false
		}
	}
	r.Subject = path
	a := s.authz.Load()
	d := a.Decide(r.Peer, path, want)
	s.metrics.Decided(d, d == authz.Denied && a.GrantsByRole(r.Peer))
	if d != authz.Denied {
		return transport.Response{}, true
	}
	return s.read(ctx, path, func(context.Context) outcome {
		return outcome{
			events: []eventlog.Event{event(r, &events.AccessDenied{Path: path, Action: op.String(), Reason: "no policy grants " + string(want)})},
			answer: transport.Response{Status: http.StatusUnauthorized, Body: api.ErrorResponseFor(op, api.CodeUnauthorized)},
		}
	}), false
}

func notFound(op api.Op) transport.Response {
	return transport.Response{Status: http.StatusNotFound, Body: api.ErrorResponseFor(op, api.CodeNotFound)}
}

func internalError(op api.Op) transport.Response {
	return transport.Response{Status: http.StatusInternalServerError, Body: api.ErrorResponseFor(op, api.CodeInternal)}
}

func isNotFound(err error) bool {
	return errors.Is(err, projections.ErrNotFound) || errors.Is(err, projections.ErrVersionDeleted) || errors.Is(err, projections.ErrVersionDestroyed)
}

// admit decodes r's body as T, authorises want on the path pathOf names,
// and only then validates: SPIKE's order, so an unauthorised bad request
// gets 401 rather than 400. It returns the answer to send when it refuses.
func admit[T api.Request](ctx context.Context, s *Service, r *transport.Request, want api.Permission, pathOf func(T) string) (T, transport.Response, bool) {
	var zero T
	op := zero.Op()
	req, err := decode[T](r)
	if err != nil {
		return req, invalidRequest(err).response(), false
	}
	if resp, ok := s.allow(ctx, r, op, pathOf(req), want); !ok {
		return req, resp, false
	}
	if err := req.Validate(); err != nil {
		return req, s.invalid(ctx, op, err, pathOf(req)), false
	}
	if resp, ok := s.checkStoredPaths(ctx, op, req); !ok {
		return req, resp, false
	}
	return req, transport.Response{}, true
}

// invalid answers a request that breaks a validation rule. A write of a
// new version to a legacy path is told that the path is legacy and how
// to move it, not pointed at the cleaned path, which is another secret.
func (s *Service) invalid(ctx context.Context, op api.Op, err error, path string) transport.Response {
	var fe *api.FieldError
	if !errors.Is(err, api.ErrEmptySegment) || !errors.As(err, &fe) || api.CheckSegments(fe.Field, path) == nil {
		return invalidRequest(err).response()
	}
	stored, serr := s.proj.Stored(ctx, path)
	if serr != nil {
		s.logger.Error("legacy path lookup", "op", op.String(), "err", serr)
		return internalError(op)
	}
	if !stored {
		return invalidRequest(err).response()
	}
	cleanStored := false
	if clean := api.CleanSecretPath(path); clean != "" {
		if cleanStored, serr = s.proj.Stored(ctx, clean); serr != nil {
			s.logger.Error("legacy path lookup", "op", op.String(), "err", serr)
			return internalError(op)
		}
	}
	return invalidRequest(api.LegacyPathError(fe.Field, path, cleanStored)).response()
}

// checkStoredPaths lets a request that reaches stored secrets name a
// legacy path (one with an empty segment, stored before spike refused
// them: see api.StoredPathsRequest) only where a secret is or was
// stored; elsewhere the path is refused as for a new write.
func (s *Service) checkStoredPaths(ctx context.Context, op api.Op, req api.Request) (transport.Response, bool) {
	sp, ok := req.(api.StoredPathsRequest)
	if !ok {
		return transport.Response{}, true
	}
	field, paths := sp.StoredPaths()
	for _, p := range paths {
		refused := api.CheckSegments(field, p)
		if refused == nil {
			continue
		}
		stored, err := s.proj.Stored(ctx, p)
		if err != nil {
			s.logger.Error("legacy path lookup", "op", op.String(), "err", err)
			return internalError(op), false
		}
		if !stored {
			return invalidRequest(refused).response(), false
		}
	}
	return transport.Response{}, true
}

// Handler returns the handler of op, one of the routes the service
// serves once Nexus is unsealed; ok is false for an op it does not serve.
func (s *Service) Handler(op api.Op) (h transport.Handler, ok bool) {
	h, ok = s.routes[op]
	return h, ok
}

// QueueDepth is how many commands wait for the command loop.
func (s *Service) QueueDepth() int { return len(s.loop.Load().cmds) }

// Lag is how many events of the log the projection has not applied yet.
func (s *Service) Lag() uint64 {
	size, applied := s.log.Size(), s.proj.LastApplied()
	if applied >= size {
		return 0
	}
	return size - applied
}
