package pilot

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/sdk"
)

type auditCmd struct {
	List        auditListCmd        `cmd:"" help:"Search the event log: who did what to which path, when, with which outcome."`
	Tail        auditTailCmd        `cmd:"" help:"Follow the event log: print each event that matches as it commits, until Ctrl-C."`
	Checkpoint  auditCheckpointCmd  `cmd:"" help:"Print (and save) the log's latest signed checkpoint."`
	Proof       auditProofCmd       `cmd:"" help:"Prove that the signed log holds an event's hash at its sequence number (--help says what that shows)."`
	Consistency auditConsistencyCmd `cmd:"" help:"Prove that the log only grew since an earlier checkpoint (--help says what that shows)."`
	Verify      auditVerifyCmd      `cmd:"" help:"Verify a copy of the log file offline, without Nexus or the root key."`
	Replay      auditReplayCmd      `cmd:"" help:"Print the access history of a backup of the log offline, with a threshold of recovery files and no Nexus."`
}

// eventsDoc is the JSON document of `spike secret history` and `spike
// audit list`: the events, oldest first, and, when --limit cut the list
// short, the --after that continues it.
type eventsDoc struct {
	Events []api.AuditEvent `json:"events"`
	Next   uint64           `json:"next,omitempty"`
}

// fetchEvents runs one page, or every page when p has no limit.
func fetchEvents(p pageFlags, fetch func(sdk.Page) ([]api.AuditEvent, uint64, error)) (eventsDoc, error) {
	events, next, err := fetchPages(p, fetch)
	return eventsDoc{Events: events, Next: next}, err
}

func (d eventsDoc) human(w io.Writer) error {
	if len(d.Events) == 0 {
		_, err := fmt.Fprintln(w, "No events found.")
		return err
	}
	t := table(w)
	fmt.Fprintln(t, "SEQ\tTIME\tTYPE\tACTOR\tPATH\tVERSIONS\tOUTCOME\tDETAIL")
	for _, ev := range d.Events {
		versions := "-"
		if len(ev.Versions) > 0 {
			versions = strings.ReplaceAll(joinInts(ev.Versions), " ", "")
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, humanTime(ev.Time), oneLine(ev.Type),
			dash(oneLine(ev.Actor)), dash(oneLine(ev.Path)), versions, dash(oneLine(ev.Outcome)), oneLine(ev.Detail))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if d.Next != 0 {
		_, err := fmt.Fprintf(w, "More events: --after %d\n", d.Next)
		return err
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type secretHistoryCmd struct {
	Path string `arg:"" help:"Secret path."`
	pageFlags
}

func (c *secretHistoryCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	doc, err := fetchEvents(c.pageFlags, func(p sdk.Page) ([]api.AuditEvent, uint64, error) {
		return client.SecretHistory(e.ctx, c.Path, p)
	})
	if err != nil {
		return err
	}
	return e.print(doc, doc.human)
}

// auditFilters are the filters of audit list, audit tail and audit
// replay.
type auditFilters struct {
	Actor      string   `name:"actor" help:"Only events by this SPIFFE ID (exact)."`
	Path       string   `name:"path" help:"Only events about this secret path (exact)."`
	PathPrefix string   `name:"path-prefix" placeholder:"PREFIX" help:"Only events about paths that start with PREFIX (app/ keeps app/db and app/x/y)."`
	Types      []string `name:"type" sep:"," placeholder:"TYPE" help:"Only events of these types, such as secret.read (repeatable or comma-separated; --help lists them)."`
	Outcomes   []string `name:"outcome" sep:"," placeholder:"OUTCOME" help:"Only events with these outcomes: ok, not_found, conflict, denied or error (repeatable or comma-separated)."`
}

// help says how the filters combine, and the event types there are.
func (auditFilters) help() string {
	return "Filters given together must all hold; a filter given several values keeps events matching any of them. " +
		"The event types: " + strings.Join(events.Types(), ", ") + "."
}

type auditListCmd struct {
	auditFilters
	pageFlags
}

// Help is the long help: the event types there are.
func (c *auditListCmd) Help() string { return c.help() }

func (c *auditListCmd) Run(e *env) error {
	if err := c.check(); err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	doc, err := fetchEvents(c.pageFlags, func(p sdk.Page) ([]api.AuditEvent, uint64, error) {
		return client.AuditEvents(e.ctx, sdk.AuditQuery{Actor: c.Actor, Path: c.Path, PathPrefix: c.PathPrefix,
			Types: c.Types, Outcomes: c.Outcomes, Page: p})
	})
	if err != nil {
		return err
	}
	return e.print(doc, doc.human)
}

// check refuses types and outcomes that no event has before anything is
// sent: a misspelt filter would match nothing, and "No events found."
// would read as an answer.
func (c *auditFilters) check() error {
	for _, t := range c.Types {
		if _, ok := events.CurrentSchema(t); !ok {
			return usagef("--type %q: no such event type; the types are %s", t, strings.Join(events.Types(), ", "))
		}
	}
	for _, o := range c.Outcomes {
		if !slices.Contains(api.AuditOutcomes(), o) {
			return usagef("--outcome %q: no such outcome; the outcomes are %s", o, strings.Join(api.AuditOutcomes(), ", "))
		}
	}
	return nil
}

// keyFlag is the verifier key an auditor pinned: the key itself, or
// @FILE.
type keyFlag struct {
	Key string `name:"key" help:"The log's verifier key, pinned out of band (or @FILE holding it): check signatures and proofs against it."`
}

func (k keyFlag) load() (string, error) {
	if !strings.HasPrefix(k.Key, "@") {
		return strings.TrimSpace(k.Key), nil
	}
	b, err := readSmallFile(k.Key[1:], "the verifier key file")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// maxSmallFile bounds a verifier key or a checkpoint note, which are a
// few hundred bytes.
const maxSmallFile = 64 << 10

// readSmallFile reads a key or a checkpoint note; what says which.
func readSmallFile(name, what string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	return readAtMost(f, maxSmallFile, what+" "+name)
}

// checkpointDoc is the JSON document of `spike audit checkpoint`.
// Verified says whether the signature was checked against --key.
type checkpointDoc struct {
	Checkpoint  string `json:"checkpoint"`
	Size        uint64 `json:"size"`
	RootHash    []byte `json:"rootHash"`
	VerifierKey string `json:"verifierKey"`
	Verified    bool   `json:"verified"`
}

type auditCheckpointCmd struct {
	keyFlag
	Save string `name:"save" type:"path" help:"Also write the signed checkpoint to this file, for audit consistency --from and audit verify --trusted."`
}

func (c *auditCheckpointCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	cp, err := client.Checkpoint(e.ctx)
	if err != nil {
		return err
	}
	doc := checkpointDoc{Checkpoint: cp.Note, Size: cp.Size, RootHash: cp.RootHash, VerifierKey: cp.VerifierKey}
	if c.Key != "" {
		vkey, err := c.load()
		if err != nil {
			return err
		}
		opened, err := eventlog.OpenCheckpoint([]byte(cp.Note), vkey)
		if err != nil {
			return &integrityError{what: "the checkpoint Nexus served", err: err}
		}
		if opened.Size != cp.Size || string(opened.Root[:]) != string(cp.RootHash) {
			return &integrityError{what: "the checkpoint Nexus served", err: errors.New("its size or root hash differs from what the note says")}
		}
		doc.Verified = true
	}
	if c.Save != "" {
		if err := os.WriteFile(c.Save, []byte(cp.Note), 0o644); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	return e.print(doc, func(w io.Writer) error {
		t := table(w)
		fmt.Fprintf(t, "size\t%d\n", doc.Size)
		fmt.Fprintf(t, "root hash\t%s\n", b64(doc.RootHash))
		fmt.Fprintf(t, "verifier key\t%s\n", oneLine(doc.VerifierKey))
		fmt.Fprintf(t, "signature\t%s\n", verifiedText(doc.Verified))
		if c.Save != "" {
			fmt.Fprintf(t, "saved to\t%s\n", c.Save)
		}
		return t.Flush()
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func verifiedText(ok bool) string {
	if ok {
		return "verified against --key"
	}
	return "not checked (pass --key)"
}

// proofDoc is the JSON document of `spike audit proof`.
type proofDoc struct {
	Seq        uint64   `json:"seq"`
	TreeSize   uint64   `json:"treeSize"`
	LeafHash   []byte   `json:"leafHash"`
	Proof      [][]byte `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
	Verified   bool     `json:"verified"`
}

type auditProofCmd struct {
	Seq      uint64 `arg:"" help:"Sequence number of the event."`
	TreeSize uint64 `name:"tree-size" help:"Size of the log to prove against (0: the latest checkpoint's)."`
	keyFlag
}

// Help is the long help: what a proof shows, and what it does not.
func (c *auditProofCmd) Help() string {
	return `With --key, the proof is checked against a checkpoint signed with that key: it shows that the signed log of that size holds, as event SEQ, the leaf hash printed. ` +
		`It does not show what the event says: the leaf hash comes from Nexus, like the event audit list prints, and nothing here checks that one is the hash of the other. ` +
		`To check every event against its hash, run audit verify on a copy of the log file. Without --key nothing is checked.`
}

func (c *auditProofCmd) Run(e *env) error {
	if c.Seq == 0 {
		return usagef("sequence numbers start at 1")
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	p, err := client.InclusionProof(e.ctx, c.Seq, c.TreeSize)
	if err != nil {
		return err
	}
	if err := c.answers(p); err != nil {
		return err
	}
	doc := proofDoc{Seq: p.Seq, TreeSize: p.TreeSize, LeafHash: p.LeafHash, Proof: p.Proof, Checkpoint: p.Checkpoint}
	if doc.Proof == nil {
		doc.Proof = [][]byte{}
	}
	if c.Key != "" {
		if err := c.check(doc); err != nil {
			return err
		}
		doc.Verified = true
	}
	return e.print(doc, func(w io.Writer) error {
		t := table(w)
		fmt.Fprintf(t, "seq\t%d\n", doc.Seq)
		fmt.Fprintf(t, "tree size\t%d\n", doc.TreeSize)
		fmt.Fprintf(t, "leaf hash\t%s\n", b64(doc.LeafHash))
		fmt.Fprintf(t, "proof\t%d hashes\n", len(doc.Proof))
		fmt.Fprintf(t, "inclusion\t%s\n", verifiedText(doc.Verified))
		return t.Flush()
	})
}

// answers checks that the proof is about what was asked: Nexus echoes
// the sequence number and the size, and a proof of another event, or
// against another size, would verify just as well.
func (c *auditProofCmd) answers(p *sdk.InclusionProof) error {
	switch {
	case p.Seq != c.Seq:
		return &integrityError{what: "the inclusion proof Nexus served", err: fmt.Errorf("it is for event %d, not %d", p.Seq, c.Seq)}
	case c.TreeSize != 0 && p.TreeSize != c.TreeSize:
		return &integrityError{what: "the inclusion proof Nexus served", err: fmt.Errorf("it is for a log of %d events, not %d", p.TreeSize, c.TreeSize)}
	case p.TreeSize < p.Seq:
		return &integrityError{what: "the inclusion proof Nexus served", err: fmt.Errorf("it puts event %d in a log of %d events", p.Seq, p.TreeSize)}
	}
	return nil
}

func (c *auditProofCmd) check(doc proofDoc) error {
	vkey, err := c.load()
	if err != nil {
		return err
	}
	cp, err := signedAt(doc.Checkpoint, doc.TreeSize, vkey)
	if err != nil {
		return err
	}
	proof, err := toHashes(doc.Proof)
	if err != nil {
		return &integrityError{what: "the inclusion proof", err: err}
	}
	leaf, err := toHash(doc.LeafHash)
	if err != nil {
		return &integrityError{what: "the inclusion proof", err: err}
	}
	if err := eventlog.CheckInclusion(tlog.RecordProof(proof), doc.TreeSize, cp.Root, doc.Seq, leaf); err != nil {
		return &integrityError{what: "the inclusion proof", err: err}
	}
	return nil
}

// signedAt opens the checkpoint note a proof came with and checks that it
// is for size.
func signedAt(note string, size uint64, vkey string) (eventlog.Checkpoint, error) {
	if note == "" {
		return eventlog.Checkpoint{}, fmt.Errorf("Nexus has no signed checkpoint at size %d to check against: omit the size to use the latest (spike restore list shows the signed sizes)", size)
	}
	cp, err := eventlog.OpenCheckpoint([]byte(note), vkey)
	if err != nil {
		return cp, &integrityError{what: "the checkpoint Nexus served", err: err}
	}
	if cp.Size != size {
		return cp, &integrityError{what: "the checkpoint Nexus served", err: fmt.Errorf("it is for size %d, not %d", cp.Size, size)}
	}
	return cp, nil
}

func toHash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("a hash of %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

func toHashes(bs [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		h, err := toHash(b)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// consistencyDoc is the JSON document of `spike audit consistency`.
type consistencyDoc struct {
	OldSize    uint64   `json:"oldSize"`
	NewSize    uint64   `json:"newSize"`
	Proof      [][]byte `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
	Verified   bool     `json:"verified"`
}

type auditConsistencyCmd struct {
	OldSize uint64 `arg:"" optional:"" help:"Size of the earlier log (or give --from)."`
	From    string `name:"from" type:"existingfile" help:"A checkpoint saved earlier (audit checkpoint --save): prove the log grew from it, and check the proof with --key (which needs --from)."`
	NewSize uint64 `name:"new-size" help:"Size of the later log (0: the latest checkpoint's)."`
	keyFlag
}

// Help is the long help: what a proof shows.
func (c *auditConsistencyCmd) Help() string {
	return `With --from and --key, the saved checkpoint's signature and the proof are checked: they show that the log Nexus signs now extends the saved one, with nothing in it rewritten or removed. ` +
		`The proof says nothing about events after the saved checkpoint: audit verify on a copy of the log file checks each event. Given a size instead of --from, nothing is checked.`
}

func (c *auditConsistencyCmd) Run(e *env) error {
	switch {
	case (c.OldSize == 0) == (c.From == ""):
		return usagef("give the earlier size or --from FILE (one of them)")
	case c.From != "" && c.Key == "":
		return usagef("--from needs --key to check the saved checkpoint's signature")
	case c.From == "" && c.Key != "":
		return usagef("--key checks the proof against a saved checkpoint: give it with --from FILE (a size alone is not signed)")
	}
	var old eventlog.Checkpoint
	if c.From != "" {
		vkey, err := c.load()
		if err != nil {
			return err
		}
		note, err := readSmallFile(c.From, "the saved checkpoint")
		if err != nil {
			return err
		}
		if old, err = eventlog.OpenCheckpoint(note, vkey); err != nil {
			return &integrityError{what: c.From, err: err}
		}
		c.OldSize = old.Size
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	p, err := client.ConsistencyProof(e.ctx, c.OldSize, c.NewSize)
	if err != nil {
		return err
	}
	if err := c.answers(p); err != nil {
		return err
	}
	doc := consistencyDoc{OldSize: p.OldSize, NewSize: p.NewSize, Proof: p.Proof, Checkpoint: p.Checkpoint}
	if doc.Proof == nil {
		doc.Proof = [][]byte{}
	}
	if c.From != "" {
		if err := c.check(doc, old); err != nil {
			return err
		}
		doc.Verified = true
	}
	return e.print(doc, func(w io.Writer) error {
		t := table(w)
		fmt.Fprintf(t, "old size\t%d\n", doc.OldSize)
		fmt.Fprintf(t, "new size\t%d\n", doc.NewSize)
		fmt.Fprintf(t, "proof\t%d hashes\n", len(doc.Proof))
		state := "not checked (pass --from and --key)"
		if doc.Verified {
			state = "verified: the log only grew"
		}
		fmt.Fprintf(t, "consistency\t%s\n", state)
		return t.Flush()
	})
}

// answers checks that the proof is between the sizes asked for (the
// saved checkpoint's, with --from): a proof between other sizes would
// verify just as well and prove nothing about the saved checkpoint.
func (c *auditConsistencyCmd) answers(p *sdk.ConsistencyProof) error {
	switch {
	case p.OldSize != c.OldSize:
		return &integrityError{what: "the consistency proof Nexus served", err: fmt.Errorf("it starts from a log of %d events, not %d", p.OldSize, c.OldSize)}
	case c.NewSize != 0 && p.NewSize != c.NewSize:
		return &integrityError{what: "the consistency proof Nexus served", err: fmt.Errorf("it reaches a log of %d events, not %d", p.NewSize, c.NewSize)}
	case p.NewSize < p.OldSize:
		return &integrityError{what: "the consistency proof Nexus served", err: fmt.Errorf("it goes from %d events down to %d", p.OldSize, p.NewSize)}
	}
	return nil
}

func (c *auditConsistencyCmd) check(doc consistencyDoc, old eventlog.Checkpoint) error {
	vkey, err := c.load()
	if err != nil {
		return err
	}
	cp, err := signedAt(doc.Checkpoint, doc.NewSize, vkey)
	if err != nil {
		return err
	}
	if cp.Origin != old.Origin {
		return &integrityError{what: "the log", err: fmt.Errorf("the saved checkpoint is of another log (%s, not %s)", old.Origin, cp.Origin)}
	}
	proof, err := toHashes(doc.Proof)
	if err != nil {
		return &integrityError{what: "the consistency proof", err: err}
	}
	if err := eventlog.CheckConsistency(tlog.TreeProof(proof), doc.NewSize, cp.Root, old.Size, old.Root); err != nil {
		return &integrityError{what: "the log", err: fmt.Errorf("it does not extend the saved checkpoint: %w", err)}
	}
	return nil
}

// verifyDoc is the JSON document of `spike audit verify`.
type verifyDoc struct {
	Origin      string `json:"origin"`
	Size        uint64 `json:"size"`
	Checkpoints int    `json:"checkpoints"`
	// LatestSize and LatestRootHash are the newest signed checkpoint's;
	// events after LatestSize are hashed but not yet signed.
	LatestSize     uint64 `json:"latestSize"`
	LatestRootHash []byte `json:"latestRootHash"`
	Verified       bool   `json:"verified"`
}

type auditVerifyCmd struct {
	File    string   `arg:"" type:"path" help:"A copy of the event log (events.db); Nexus holds a lock on the live one."`
	Key     string   `name:"key" required:"" help:"The log's verifier key, pinned out of band (or @FILE holding it)."`
	Trusted []string `name:"trusted" type:"path" help:"Checkpoints saved earlier (audit checkpoint --save); the log must extend each. Repeatable."`
}

// Run verifies the file offline: every event, every stored hash, every
// checkpoint's signature and the consistency between them. It needs
// neither Nexus nor an SVID nor the root key.
func (c *auditVerifyCmd) Run(e *env) error {
	vkey, err := keyFlag{Key: c.Key}.load()
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.File); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	var trusted [][]byte
	for _, f := range c.Trusted {
		b, err := readSmallFile(f, "the trusted checkpoint")
		if err != nil {
			return err
		}
		trusted = append(trusted, b)
	}
	bar := newProgress(e.errOut, e.terminal(e.errOut), "verify")
	rep, err := eventlog.VerifyFile(e.ctx, c.File, vkey, eventlog.VerifyOptions{Trusted: trusted, Progress: bar.update})
	bar.done()
	switch {
	case errors.Is(err, eventlog.ErrTampered):
		return &integrityError{what: c.File, err: err}
	case errors.Is(err, eventlog.ErrInUse):
		return err // its message says to verify a copy
	case err != nil:
		return fmt.Errorf("%w: check that --key and --trusted belong to this log", err)
	}
	doc := verifyDoc{Origin: rep.Origin, Size: rep.Size, Checkpoints: rep.Checkpoints,
		LatestSize: rep.Latest.Size, LatestRootHash: rep.Latest.Root[:], Verified: true}
	if rep.Latest.Size == 0 {
		doc.LatestRootHash = nil
	}
	return e.print(doc, func(w io.Writer) error {
		t := table(w)
		fmt.Fprintf(t, "verified\t%d events, %d checkpoints\n", doc.Size, doc.Checkpoints)
		fmt.Fprintf(t, "origin\t%s\n", oneLine(doc.Origin))
		if doc.LatestSize > 0 {
			fmt.Fprintf(t, "latest checkpoint\tsize %d, root hash %s\n", doc.LatestSize, b64(doc.LatestRootHash))
		}
		if n := doc.Size - doc.LatestSize; n > 0 {
			fmt.Fprintf(t, "unsigned\t%d events after the latest checkpoint\n", n)
		}
		return t.Flush()
	})
}

// integrityError is a proof, signature or log that does not check out.
type integrityError struct {
	what string
	err  error
}

func (i *integrityError) Error() string {
	return fmt.Sprintf("%s fails verification: %v; do not trust it", i.what, i.err)
}

func (i *integrityError) Unwrap() error { return i.err }
