package nexus

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/transport"
)

// takeBackup streams a backup from n as who and returns the file.
func (c *keeperSet) takeBackup(t *testing.T, n *nexusProc, who string) ([]byte, error) {
	t.Helper()
	op := api.OpOperatorBackup
	body, err := c.Client(who, c.Roles.IsNexus).Open(context.Background(), transport.Call{BaseURL: n.api, Path: op.Path(), Action: string(op.Action()), Request: api.BackupRequest{}})
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

// TestBackupAndRestore is the backup's acceptance, in process: a backup
// taken through the API restores into a new data directory, and a Nexus
// started there recovers the root key from the same keepers and serves
// every version written before the backup.
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	for i := range 5 {
		if err := c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "db/creds", Values: map[string]string{"pw": fmt.Sprint("v", i+1)}}, nil); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := c.takeBackup(t, n, "/workload/app"); status4xx(err) != http.StatusUnauthorized {
		t.Fatalf("backup by a workload: %v, want 401", err)
	}
	file, err := c.takeBackup(t, n, superuser)
	if err != nil {
		t.Fatal(err)
	}
	br, err := api.NewBackupReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	h := br.Header()
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("the backup does not read back: %v", err)
	}
	var audit api.AuditListResponse
	if err := c.call(t, n, superuser, api.OpAuditList, api.AuditListRequest{Types: []string{"system.backed_up", "access.denied"}}, &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Events) != 2 || audit.Events[0].Type != "access.denied" || audit.Events[1].Type != "system.backed_up" ||
		!strings.HasSuffix(audit.Events[1].Actor, superuser) || audit.Events[1].Seq > h.Events {
		t.Fatalf("backup events recorded: %+v (the copy, which must hold its own record, ends at %d)", audit.Events, h.Events)
	}
	var cp api.AuditCheckpointResponse
	if err := c.call(t, n, superuser, api.OpAuditCheckpoint, api.AuditCheckpointRequest{}, &cp); err != nil {
		t.Fatal(err)
	}
	n.stop()

	// A data directory that holds a log is refused and left alone.
	from := filepath.Join(t.TempDir(), "nexus.backup")
	if err := os.WriteFile(from, file, 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if _, err := RestoreBackup(ctx, RestoreBackupConfig{From: from, DataDir: c.Dir}, logger); err == nil || !strings.Contains(err.Error(), "already holds a log") {
		t.Fatalf("restore over a log: %v", err)
	}

	// A new data directory, with a stale projection and an empty log.
	restored := *c.Cluster
	restored.Dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(restored.Dir, "projections.db"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty, err := eventlog.Open(ctx, filepath.Join(restored.Dir, "events.db"), eventlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	empty.Close()
	res, err := RestoreBackup(ctx, RestoreBackupConfig{From: from, DataDir: restored.Dir, Key: cp.VerifierKey}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pinned || res.Header != h || len(res.Removed) < 2 {
		t.Fatalf("restore: %+v", res)
	}
	rep, err := eventlog.VerifyFile(ctx, filepath.Join(restored.Dir, "events.db"), cp.VerifierKey, eventlog.VerifyOptions{})
	if err != nil || rep.Size != h.Events {
		t.Fatalf("restored log: %+v, %v", rep, err)
	}
	c2 := &keeperSet{&restored}
	n2 := c2.startNexus(2)
	waitReady(t, n2, true)
	for v := 1; v <= 5; v++ {
		var got api.SecretGetResponse
		if err := c2.call(t, n2, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds", Version: v}, &got); err != nil || got.Data["pw"] != fmt.Sprint("v", v) {
			t.Fatalf("restored version %d: %v, %v", v, got.Data, err)
		}
	}
}

// TestRestoreBackupRefuses: a bad file, key or directory changes
// nothing.
func TestRestoreBackupRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	l, err := eventlog.Open(ctx, filepath.Join(dir, "src", "events.db"), eventlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unlock(ctx, bytes.Repeat([]byte{7}, eventlog.RootKeySize)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := l.Append(ctx, eventlog.Event{Type: "test.event", Schema: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	bc, err := l.StartBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	info := bc.Info()
	var file bytes.Buffer
	h := api.BackupHeader{Events: info.Size, Checkpoint: string(info.Checkpoint), Bytes: info.Bytes, VerifierKey: bc.VerifierKey(), Created: time.Now().UTC(), NexusVersion: "test"}
	if err := api.WriteBackupHeader(&file, h); err != nil {
		t.Fatal(err)
	}
	info, err = bc.WriteTo(ctx, &file)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.WriteBackupFooter(&file, info.SHA256); err != nil {
		t.Fatal(err)
	}
	good := file.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)-200] ^= 1
	_, otherKey, err := note.GenerateKey(rand.Reader, "spike-log/other")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, key string
		file      []byte
		setup     func(dir string)
		want      string
	}{
		{"truncated", "", good[:len(good)-100], nil, "truncated"},
		{"damaged", "", flipped, nil, "checksum mismatch"},
		{"trailing data", "", append(bytes.Clone(good), '\n'), nil, "trailing data"},
		{"not a backup", "", []byte("SQLite format 3\x00"), nil, "does not start"},
		{"other key", otherKey, good, nil, "not the one --key gives"},
		{"key not a key", "nonsense", good, nil, "not a note verifier key"},
		{"journal without log", "", good, func(dir string) { os.WriteFile(filepath.Join(dir, "events.db.journal"), nil, 0o600) }, "without its log"},
		{"cluster state", "", good, func(dir string) { os.Mkdir(filepath.Join(dir, "raft"), 0o700) }, "Raft state"},
		{"empty log, damaged file", "", flipped, func(dir string) {
			if l, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), eventlog.Options{Logger: logger}); err == nil {
				l.Close()
			}
		}, "checksum mismatch"},
		{"log with events", "", good, func(dir string) {
			if l, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), eventlog.Options{Logger: logger}); err == nil {
				l.Unlock(ctx, bytes.Repeat([]byte{7}, eventlog.RootKeySize))
				l.Close()
			}
		}, "already holds a log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			from := filepath.Join(t.TempDir(), "b")
			if err := os.WriteFile(from, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(dir)
			}
			before, _ := os.ReadDir(dir)
			_, err := RestoreBackup(ctx, RestoreBackupConfig{From: from, DataDir: dir, Key: tc.key}, logger)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if after, _ := os.ReadDir(dir); !slices.Equal(names(after), names(before)) {
				t.Fatalf("the directory changed: %v, was %v (err %v)", names(after), names(before), err)
			}
		})
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestForeignBackupNeverUnseals: a backup of another deployment, whose
// checkpoints another key signed, restores (it is whole, and verifies
// against the key it names) but never unseals with these keepers: the
// root key they give opens neither its sharing nor its key check.
func TestForeignBackupNeverUnseals(t *testing.T) {
	t.Parallel()
	ours, theirs := newCluster(t, 3), newCluster(t, 3)
	mine := ours.startNexus(2)
	ours.bootstrap(mine, 2)
	waitReady(t, mine, true)
	mine.stop()
	n := theirs.startNexus(2)
	theirs.bootstrap(n, 2)
	waitReady(t, n, true)
	file, err := theirs.takeBackup(t, n, superuser)
	if err != nil {
		t.Fatal(err)
	}
	n.stop()
	from := filepath.Join(t.TempDir(), "theirs.backup")
	if err := os.WriteFile(from, file, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := *ours.Cluster
	restored.Dir = t.TempDir()
	if _, err := RestoreBackup(context.Background(), RestoreBackupConfig{From: from, DataDir: restored.Dir}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c := &keeperSet{&restored}
	n2 := c.startNexus(2)
	// The keepers' shards match none of the sharings the foreign log
	// records, so no key is even tried; a log that recorded ours would
	// still fail the key check (eventlog's Unlock).
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := readyz(n2)
		if code == http.StatusOK {
			t.Fatalf("a foreign backup unsealed with these keepers: %q", body)
		}
		if strings.HasPrefix(body, "sealed:") && strings.Contains(body, "wrong shard") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never said the keepers' shards are wrong for this log; last: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterBackupThroughFollower: a backup asked of a follower is the
// leader's copy, streamed back through the follower, and installs.
func TestClusterBackupThroughFollower(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	rs := newReplicaSet(t, c, 3)
	c.bootstrap(rs.procs[rs.leader(t, false)], 2)
	for _, n := range rs.procs {
		waitReady(t, n, true)
	}
	l := rs.leader(t, true)
	if err := retry(t, func() error {
		return c.call(t, rs.procs[l], superuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/x", Values: map[string]string{"v": "1"}}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	var file []byte
	if err := retry(t, func() error {
		var err error
		file, err = c.takeBackup(t, rs.procs[(l+1)%3], superuser)
		return err
	}); err != nil {
		t.Fatalf("backup through a follower: %v\n%s", err, grepLines(c.Logs.String(), "backup"))
	}
	br, err := api.NewBackupReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	h := br.Header()
	rep, err := eventlog.InstallBackup(context.Background(), br, filepath.Join(t.TempDir(), "events.db"), h.VerifierKey,
		eventlog.BackupInfo{Size: h.Events, Checkpoint: []byte(h.Checkpoint), Bytes: h.Bytes})
	if err != nil || rep.Size != h.Events {
		t.Fatalf("the follower's backup: %+v, %v", rep, err)
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// TestParseRestoreBackupKey: --key takes a verifier key or @FILE holding
// one, and refuses anything else as a command-line mistake.
func TestParseRestoreBackupKey(t *testing.T) {
	t.Parallel()
	_, vkey, err := note.GenerateKey(rand.Reader, "spike-log/test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	from := filepath.Join(dir, "b")
	keyFile := filepath.Join(dir, "vkey.txt")
	for name, body := range map[string]string{"b": "x", "vkey.txt": vkey + "\n", "empty.txt": "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, key, want, err string
	}{
		{"none", "", "", ""},
		{"inline", vkey, vkey, ""},
		{"file", "@" + keyFile, vkey, ""},
		{"not a key", "spike-log/test+zz", "", "not a note verifier key"},
		{"missing file", "@" + filepath.Join(dir, "nope"), "", "no such file"},
		{"empty file", "@" + filepath.Join(dir, "empty.txt"), "", "empty"},
	} {
		args := []string{"--from", from, "--data-dir", dir}
		if tc.key != "" {
			args = append(args, "--key", tc.key)
		}
		o, err := ParseRestoreBackup(args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || o.Restore.Key != tc.want || o.Restore.From != from || o.Restore.DataDir != dir {
			t.Errorf("%s: %+v, %v", tc.name, o.Restore, err)
		}
	}
}

// TestClusterRestoresFromBackup: a cluster's backup, restored into a new
// data directory for each of three replicas, forms a new cluster that
// serves what the backup holds and keeps what it acknowledges after:
// every replica's log takes the new writes (the copied record of the
// old Raft history must not make them skip them).
func TestClusterRestoresFromBackup(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	rs := newReplicaSet(t, c, 3)
	c.bootstrap(rs.procs[rs.leader(t, false)], 2)
	for _, n := range rs.procs {
		waitReady(t, n, true)
	}
	l := rs.leader(t, true)
	put := func(rs *replicaSet, i int, v string) {
		t.Helper()
		if err := retry(t, func() error {
			return c.call(t, rs.procs[i], superuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/x", Values: map[string]string{"v": v}}, nil)
		}); err != nil {
			t.Fatalf("put %s: %v", v, err)
		}
	}
	for v := 1; v <= 3; v++ {
		put(rs, l, fmt.Sprint(v))
	}
	var file []byte
	if err := retry(t, func() error {
		var err error
		file, err = c.takeBackup(t, rs.procs[l], superuser)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range rs.procs {
		n.stop()
	}
	from := filepath.Join(t.TempDir(), "cluster.backup")
	if err := os.WriteFile(from, file, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	if _, err := RestoreBackup(ctx, RestoreBackupConfig{From: from, DataDir: rs.dirs[0]}, logger); err == nil || !strings.Contains(err.Error(), "every replica") {
		t.Fatalf("restore over a replica's state: %v", err)
	}

	rs2 := &replicaSet{c: c, procs: make([]*nexusProc, 3)}
	for i := range 3 {
		rs2.peers = append(rs2.peers, cluster.Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: freePort(t), APIAddr: freePort(t)})
		rs2.dirs = append(rs2.dirs, t.TempDir())
		if _, err := RestoreBackup(ctx, RestoreBackupConfig{From: from, DataDir: rs2.dirs[i]}, logger); err != nil {
			t.Fatalf("restore replica %d: %v", i+1, err)
		}
	}
	for i := range 3 {
		rs2.start(i)
	}
	for _, n := range rs2.procs {
		waitReady(t, n, true)
	}
	l2 := rs2.leader(t, true)
	for v := 4; v <= 6; v++ {
		put(rs2, (l2+v)%3, fmt.Sprint(v))
	}
	for v := 1; v <= 6; v++ {
		var got api.SecretGetResponse
		if err := retry(t, func() error {
			return c.call(t, rs2.procs[(l2+1)%3], superuser, api.OpSecretGet, api.SecretGetRequest{Path: "app/x", Version: v}, &got)
		}); err != nil || got.Data["v"] != fmt.Sprint(v) {
			t.Fatalf("version %d after the restore: %v, %v", v, got.Data, err)
		}
	}
	var cp api.AuditCheckpointResponse
	if err := retry(t, func() error {
		return c.call(t, rs2.procs[l2], superuser, api.OpAuditCheckpoint, api.AuditCheckpointRequest{}, &cp)
	}); err != nil {
		t.Fatal(err)
	}
	br, err := api.NewBackupReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	// Every replica's log, stopped, verifies and holds the three writes
	// after the copy (and their reads) beyond it. (Stopped one by one,
	// the last two may still commit a checkpoint the first lacks.)
	for _, n := range rs2.procs {
		n.stop()
	}
	for i := range rs2.procs {
		rep, err := eventlog.VerifyFile(ctx, filepath.Join(rs2.dirs[i], "events.db"), cp.VerifierKey, eventlog.VerifyOptions{})
		if err != nil {
			t.Fatalf("replica %d's log: %v", i+1, err)
		}
		if rep.Size < br.Header().Events+3 {
			t.Fatalf("replica %d's log ends at %d events; the copy ended at %d, and three writes came after", i+1, rep.Size, br.Header().Events)
		}
	}
}
