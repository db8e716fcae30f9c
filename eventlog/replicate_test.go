package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// group stands in for Raft: the replica that leads replicates a change
// by applying it to every member in order, itself included.
type group struct {
	mu      sync.Mutex
	members []*Log
	leader  int
	fail    error // set: Replicate fails and applies nothing
	index   uint64
}

type member struct {
	g *group
	i int
}

var errFollower = errors.New("not the leader")

func (m member) Replicate(ctx context.Context, change []byte) error {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leader != m.i {
		return errFollower
	}
	if g.fail != nil {
		return g.fail
	}
	g.index++
	for i, l := range g.members {
		if err := l.ApplyChange(g.index, change); err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
	}
	return nil
}

var groupID = bytes.Repeat([]byte{0x5a}, 16)

func newGroup(t *testing.T, n int) (*group, []*Log) {
	t.Helper()
	g := &group{}
	dir := t.TempDir()
	for i := range n {
		l, err := Open(context.Background(), filepath.Join(dir, fmt.Sprint(i), "events.db"),
			Options{ID: groupID, Replicator: member{g, i}, IndexTypes: []string{"custody.x"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		g.members = append(g.members, l)
	}
	return g, g.members
}

// dump returns every bucket of l's file, for comparing replicas.
func dump(t *testing.T, l *Log) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := l.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			tx.Bucket(b).ForEach(func(k, v []byte) error {
				out[fmt.Sprintf("%s/%x", b, k)] = string(v)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, logs []*Log) {
	t.Helper()
	want := dump(t, logs[0])
	for i, l := range logs[1:] {
		got := dump(t, l)
		if len(got) != len(want) {
			t.Errorf("replica %d holds %d records, replica 0 %d", i+1, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("replica %d differs from replica 0 at %s", i+1, k)
				break
			}
		}
	}
}

// TestReplicatedLogsAreIdentical: appends, value keys, destroyed keys,
// data key rotations and checkpoints made by whichever replica leads
// leave every replica's file the same, record for record; each replica
// decrypts every event; each file verifies offline against the one
// verifier key.
func TestReplicatedLogsAreIdentical(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, logs := newGroup(t, 3)
	if err := logs[1].Unlock(ctx, testKey(1)); !errors.Is(err, errFollower) {
		t.Fatalf("a follower created the key ring of a new log: %v", err)
	}
	if err := logs[0].Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	for i, l := range logs[1:] {
		if err := l.Unlock(ctx, testKey(1)); err != nil {
			t.Fatalf("replica %d cannot unlock the replicated ring: %v", i+1, err)
		}
	}
	var keys []*ValueKey
	seq := 0
	appendSome := func(by int, n int) {
		t.Helper()
		for range n {
			seq++
			k := NewValueKey()
			e := Event{Type: "secret.written", Schema: 1, Payload: []byte(fmt.Sprintf("v%d", seq)), NewValueKeys: []*ValueKey{k}}
			if seq%7 == 0 {
				e.Type = "custody.x"
			}
			if seq%5 == 0 && len(keys) > 0 {
				e.DestroyValueKeys = []ValueKeyID{keys[0].ID()}
				keys = keys[1:]
			}
			keys = append(keys, &ValueKey{id: k.id})
			if _, err := logs[by].Append(ctx, e); err != nil {
				t.Fatalf("append %d by replica %d: %v", seq, by, err)
			}
		}
	}
	appendSome(0, 40)
	if err := logs[0].RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	appendSome(0, 30)
	if _, err := logs[2].Append(ctx, ev("secret.written", "x")); !errors.Is(err, errFollower) {
		t.Fatalf("a follower appended: %v", err)
	}
	g.mu.Lock()
	g.leader = 2
	g.mu.Unlock()
	appendSome(2, 30)
	// A checkpoint request signs what is unsigned, on every replica.
	logs[2].w.requestCheckpoint()
	waitCheckpoint(t, logs, uint64(seq))
	sameFiles(t, logs)
	vkey, err := logs[0].VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range logs {
		if l.Size() != uint64(seq) {
			t.Fatalf("replica %d holds %d events, want %d", i, l.Size(), seq)
		}
		r, err := l.Get(ctx, uint64(seq))
		if err != nil || string(r.Payload) != fmt.Sprintf("v%d", seq) {
			t.Fatalf("replica %d reads event %d as %q, %v", i, seq, r.Payload, err)
		}
		if _, err := VerifyFile(ctx, l.Path(), vkey, VerifyOptions{}); err == nil {
			t.Fatalf("replica %d: the open file verified (it should be locked)", i)
		}
	}
	for i, l := range logs {
		path := l.Path()
		l.Close()
		if _, err := VerifyFile(ctx, path, vkey, VerifyOptions{}); err != nil {
			t.Errorf("replica %d's file does not verify: %v", i, err)
		}
	}
}

func waitCheckpoint(t *testing.T, logs []*Log, size uint64) {
	t.Helper()
	for _, l := range logs {
		for range 500 {
			if l.f.cp.size.Load() >= size {
				break
			}
			l.w.requestCheckpoint()
			sleepBriefly()
		}
		if got := l.f.cp.size.Load(); got < size {
			t.Fatalf("checkpoint at %d, want %d", got, size)
		}
	}
}

// TestReplicateFailureWritesNothing: when the group cannot commit, the
// append fails and no replica's file or size changes.
func TestReplicateFailureWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, logs := newGroup(t, 2)
	if err := logs[0].Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := logs[0].Append(ctx, ev("secret.written", "a")); err != nil {
		t.Fatal(err)
	}
	before := dump(t, logs[1])
	g.mu.Lock()
	g.fail = errors.New("quorum lost")
	g.mu.Unlock()
	if _, err := logs[0].Append(ctx, ev("secret.written", "b")); err == nil {
		t.Fatal("append succeeded without a quorum")
	}
	for i, l := range logs {
		if l.Size() != 1 {
			t.Fatalf("replica %d holds %d events after a failed replication", i, l.Size())
		}
	}
	after := dump(t, logs[1])
	if len(after) != len(before) {
		t.Fatal("a failed replication changed a follower's file")
	}
	g.mu.Lock()
	g.fail = nil
	g.mu.Unlock()
	recs, err := logs[0].Append(ctx, ev("secret.written", "c"))
	if err != nil || recs[0].Seq != 2 {
		t.Fatalf("append after recovery: %v %v", recs, err)
	}
}

// TestApplyChangeOrder: a change already applied is skipped, one that
// skips ahead is refused, one of another log is refused.
func TestApplyChangeOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{changes: new([][]byte)}
	dir := t.TempDir()
	leader, err := Open(ctx, filepath.Join(dir, "a", "events.db"), Options{ID: groupID, Replicator: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	rec.apply = leader
	if err := leader.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := leader.Append(ctx, ev("secret.written", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// The leader's checkpoint tick may still add changes: take those
	// made so far.
	changes := rec.list()
	f, err := Open(ctx, filepath.Join(dir, "b", "events.db"), Options{ID: groupID, Replicator: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.ApplyChange(3, changes[2]); !errors.Is(err, ErrStaleChange) {
		t.Fatalf("a change that skips events: %v", err)
	}
	for i, c := range changes {
		if err := f.ApplyChange(uint64(i+1), c); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range changes {
		if err := f.ApplyChange(uint64(i+1), c); err != nil {
			t.Fatalf("replaying an applied entry: %v", err)
		}
	}
	if f.Size() != 3 {
		t.Fatalf("size %d after replays, want 3", f.Size())
	}
	// The same change as a later entry is not a replay: it does not
	// continue the log, and is refused.
	if err := f.ApplyChange(uint64(len(changes)+1), changes[1]); !errors.Is(err, ErrStaleChange) || f.Size() != 3 {
		t.Fatalf("a stale change as a new entry: %v, size %d", err, f.Size())
	}
	other, err := Open(ctx, filepath.Join(dir, "c", "events.db"), Options{ID: bytes.Repeat([]byte{1}, 16), Replicator: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.ApplyChange(1, changes[0]); !errors.Is(err, ErrTampered) {
		t.Fatalf("a change of another log: %v", err)
	}
	if _, err := Open(ctx, f.Path(), Options{ID: bytes.Repeat([]byte{1}, 16)}); err == nil {
		t.Fatal("opened a file under another log's identity")
	}
}

// recorder keeps every change and applies it to one log.
type recorder struct {
	mu      sync.Mutex
	changes *[][]byte
	apply   *Log
}

func (r *recorder) Replicate(ctx context.Context, change []byte) error {
	if r.changes == nil {
		return errFollower
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.changes = append(*r.changes, bytes.Clone(change))
	return r.apply.ApplyChange(uint64(len(*r.changes)), change)
}

// list returns the changes made so far.
func (r *recorder) list() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(*r.changes)
}

// TestRestoreSnapshot: a new replica restored from a snapshot holds the
// same file; restoring an older snapshot changes nothing; a snapshot of
// a forked log is refused.
func TestRestoreSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, logs := newGroup(t, 1)
	l := logs[0]
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := l.Append(ctx, Event{Type: "secret.written", Schema: 1, Payload: []byte(fmt.Sprint(i)), NewValueKeys: []*ValueKey{NewValueKey()}}); err != nil {
			t.Fatal(err)
		}
	}
	l.w.requestCheckpoint()
	waitCheckpoint(t, logs, 50)
	snapshot := func() []byte {
		s, err := l.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		var buf bytes.Buffer
		if _, err := s.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	old := snapshot()
	// A damaged copy (the root hash of its checkpoint at 50 changed) is
	// refused, and nothing of it applied.
	bad := bytes.Clone(old)
	at := bytes.Index(bad, []byte("\n50\n"))
	if at < 0 {
		t.Fatal("no checkpoint at 50 in the snapshot")
	}
	bad[at+4] ^= 1
	other, err := Open(ctx, filepath.Join(t.TempDir(), "events.db"), Options{ID: groupID, Replicator: &recorder{}, IndexTypes: []string{"custody.x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Restore(ctx, bytes.NewReader(bad)); err == nil || other.Size() != 0 {
		t.Fatalf("a damaged snapshot: %v, size %d", err, other.Size())
	}
	dir := t.TempDir()
	fresh, err := Open(ctx, filepath.Join(dir, "events.db"), Options{ID: groupID, Replicator: &recorder{}, IndexTypes: []string{"custody.x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.Restore(ctx, bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, []*Log{l, fresh})
	if err := fresh.Unlock(ctx, testKey(1)); err != nil {
		t.Fatalf("restored replica cannot unlock: %v", err)
	}
	if r, err := fresh.Get(ctx, 50); err != nil || string(r.Payload) != "49" {
		t.Fatalf("restored replica reads %q, %v", r.Payload, err)
	}
	if _, err := l.Append(ctx, ev("secret.written", "more")); err != nil {
		t.Fatal(err)
	}
	newer := snapshot()
	if err := l.Restore(ctx, bytes.NewReader(old)); err != nil {
		t.Fatalf("restoring an older snapshot: %v", err)
	}
	if l.Size() != 51 {
		t.Fatalf("an older snapshot changed the log: size %d", l.Size())
	}
	if err := fresh.Restore(ctx, bytes.NewReader(newer)); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, []*Log{l, fresh})

	// A fork: another log of the same identity whose event 1 differs.
	_, fork := newGroup(t, 1)
	if err := fork[0].Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := fork[0].Append(ctx, ev("secret.written", "forked")); err != nil {
		t.Fatal(err)
	}
	if err := fork[0].Restore(ctx, bytes.NewReader(newer)); !errors.Is(err, ErrTampered) {
		t.Fatalf("restoring a forked snapshot: %v", err)
	}
}

func FuzzDecodeChange(f *testing.F) {
	c := &change{logID: groupID, base: 0, size: 1}
	c.add(bucketEvents, u64key(1), []byte("x"))
	f.Add(c.encode())
	f.Add([]byte(changeMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChange(b)
		if err != nil {
			return
		}
		if !bytes.Equal(decodeMust(t, c.encode()).encode(), c.encode()) {
			t.Fatal("re-encoding changes the change")
		}
	})
}

func decodeMust(t *testing.T, b []byte) *change {
	c, err := decodeChange(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sleepBriefly() { time.Sleep(10 * time.Millisecond) }

// lateCommit models Raft losing leadership after sending: the first
// Replicate fails ("outcome unknown") while its entry stays in the Raft
// log and commits later, ahead of the next change.
type lateCommit struct {
	l       *Log
	pending []byte
	failing bool
	index   uint64
}

func (r *lateCommit) Replicate(ctx context.Context, change []byte) error {
	if r.failing {
		r.failing = false
		r.pending = bytes.Clone(change)
		return errors.New("leadership lost: outcome unknown")
	}
	if r.pending != nil {
		r.index++
		if err := r.l.ApplyChange(r.index, r.pending); err != nil {
			return err
		}
		r.pending = nil
	}
	r.index++
	return r.l.ApplyChange(r.index, change)
}

// TestLateCommitRefusesStaleChange: a change built before an earlier
// one, whose outcome its caller was told is unknown, committed is
// refused, not acknowledged (it would be lost) — for an append and for
// a data key rotation (whose ring would otherwise be kept in memory,
// sealing events under a key no file holds).
func TestLateCommitRefusesStaleChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, second := range []string{"append", "rotate"} {
		rep := &lateCommit{}
		path := filepath.Join(t.TempDir(), "events.db")
		l, err := Open(ctx, path, Options{ID: groupID, Replicator: rep})
		if err != nil {
			t.Fatal(err)
		}
		rep.l = l
		if err := l.Unlock(ctx, testKey(1)); err != nil {
			t.Fatal(err)
		}
		rep.failing = true
		if _, err := l.Append(ctx, ev("secret.written", "A")); err == nil {
			t.Fatal("the first append did not fail")
		}
		switch second {
		case "append":
			if recs, err := l.Append(ctx, ev("secret.written", "B")); err == nil {
				got, _ := l.Get(ctx, recs[0].Seq)
				t.Fatalf("B acknowledged at %d, where the log holds %q", recs[0].Seq, got.Payload)
			}
		case "rotate":
			if err := l.RotateDataKey(ctx); err == nil {
				t.Fatal("a rotation built on a stale state succeeded")
			}
		}
		recs, err := l.Append(ctx, ev("secret.written", "C"))
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		l2, err := Open(ctx, path, Options{ID: groupID, Replicator: &lateCommit{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := l2.Unlock(ctx, testKey(1)); err != nil {
			t.Fatal(err)
		}
		for seq, want := range map[uint64]string{1: "A", recs[0].Seq: "C"} {
			if got, err := l2.Get(ctx, seq); err != nil || string(got.Payload) != want {
				t.Errorf("%s: event %d after reopening: %q, %v; want %q", second, seq, got.Payload, err, want)
			}
		}
		l2.Close()
	}
}

// TestBackupOfReplicatedLog: the leader's copy ends at a checkpoint it
// commits for the copy, even while appends go on, and installs; a
// follower cannot sign one and refuses.
func TestBackupOfReplicatedLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, logs := newGroup(t, 2)
	if err := logs[0].Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if err := logs[1].Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := logs[0].Append(ctx, ev("test.event", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	appended := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				appended <- nil
				return
			default:
			}
			if _, err := logs[0].Append(ctx, ev("test.event", fmt.Sprint("during ", i))); err != nil {
				appended <- err
				return
			}
		}
	}()
	var buf bytes.Buffer
	info, err := logs[0].Backup(ctx, &buf)
	close(stop)
	if aerr := <-appended; aerr != nil {
		t.Fatal(aerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if info.Size < 30 {
		t.Fatalf("the copy ends at %d events, before what was acknowledged", info.Size)
	}
	vkey := vkeyOf(t, logs[0])
	rep, err := InstallBackup(ctx, bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "events.db"), vkey, info)
	if err != nil || rep.Size != info.Size {
		t.Fatalf("install the leader's copy: %+v, %v", rep, err)
	}
	// A follower cannot commit a checkpoint: its copy is refused unless
	// its file already ends at one, and then it is as good as the
	// leader's.
	buf.Reset()
	finfo, err := logs[1].Backup(ctx, &buf)
	switch {
	case errors.Is(err, errFollower):
	case err != nil:
		t.Fatalf("a follower's backup: %v", err)
	default:
		if _, err := InstallBackup(ctx, bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "events.db"), vkey, finfo); err != nil {
			t.Fatalf("install a follower's copy: %v", err)
		}
	}
}

// TestRestoredBackupStartsNewRaftHistory: a replica's backup, installed
// into every member of a new group whose Raft history starts again from
// entry 1, takes that group's changes. Kept, the copied record of the
// last entry applied would make every member skip them as replays, and
// lose what their leader acknowledged.
func TestRestoredBackupStartsNewRaftHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, logs := newGroup(t, 2)
	for _, l := range logs {
		if err := l.Unlock(ctx, testKey(1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		if _, err := logs[0].Append(ctx, ev("test.event", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	info, err := logs[0].Backup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	vkey := vkeyOf(t, logs[0])

	g := &group{}
	dir := t.TempDir()
	for i := range 2 {
		path := filepath.Join(dir, fmt.Sprint(i), "events.db")
		if _, err := InstallBackup(ctx, bytes.NewReader(buf.Bytes()), path, vkey, info); err != nil {
			t.Fatal(err)
		}
		l, err := Open(ctx, path, Options{ID: groupID, Replicator: member{g, i}, IndexTypes: []string{"custody.x"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if err := l.Unlock(ctx, testKey(1)); err != nil {
			t.Fatal(err)
		}
		g.members = append(g.members, l)
	}
	for i := range 5 {
		recs, err := g.members[0].Append(ctx, ev("test.event", fmt.Sprint("after ", i)))
		if err != nil {
			t.Fatalf("append %d to the restored group: %v", i, err)
		}
		if len(recs) != 1 || recs[0].Seq <= info.Size {
			t.Fatalf("append %d to the restored group: %+v, but the copy ends at %d", i, recs, info.Size)
		}
	}
	for i, l := range g.members {
		if l.Size() < info.Size+5 {
			t.Errorf("member %d ends at %d events: the group's appends after the copy's %d were skipped", i, l.Size(), info.Size)
		}
	}
	sameFiles(t, g.members)
}
