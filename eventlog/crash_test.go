package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that appends to a
// log until it is killed with SIGKILL. The child prints one line per event
// after Append returns, so every line the parent reads is an acknowledged,
// supposedly durable append.
const (
	crashChildEnv = "SPIKE_EVENTLOG_CRASH_CHILD" // log path
	crashRunEnv   = "SPIKE_EVENTLOG_CRASH_RUN"   // round number, for unique payloads
	crashSeedEnv  = "SPIKE_EVENTLOG_CRASH_SEED"  // child's random seed

	crashRounds     = 25
	crashMaxAcked   = 3000
	crashGoroutines = 8
	crashEventType  = "crash.test"
)

// crashPayload is what one child event carries, encoded as
// name[|vk=<id>:<hex sealed value>][|d=<id>]... with no spaces or newlines.
// The name is child<run>-g<goroutine>-<append>-<j>/<n>: event j of an
// atomic append of n events.
// The sealed value is "value:"+name sealed under the value key with name
// as associated data.
type crashPayload struct {
	name    string
	vk      ValueKeyID
	hasVK   bool
	sealed  []byte
	destroy []ValueKeyID
}

func (p crashPayload) encode() string {
	var b strings.Builder
	b.WriteString(p.name)
	if p.hasVK {
		fmt.Fprintf(&b, "|vk=%s:%s", p.vk, hex.EncodeToString(p.sealed))
	}
	for _, id := range p.destroy {
		fmt.Fprintf(&b, "|d=%s", id)
	}
	return b.String()
}

func parseCrashPayload(s string) (crashPayload, error) {
	fields := strings.Split(s, "|")
	p := crashPayload{name: fields[0]}
	if p.name == "" {
		return p, fmt.Errorf("payload %q: empty name", s)
	}
	for _, f := range fields[1:] {
		switch {
		case strings.HasPrefix(f, "vk="):
			id, sealed, ok := strings.Cut(f[3:], ":")
			if !ok || p.hasVK {
				return p, fmt.Errorf("payload %q: bad value key field", s)
			}
			var err error
			if p.vk, err = parseValueKeyID(id); err != nil {
				return p, fmt.Errorf("payload %q: %w", s, err)
			}
			if p.sealed, err = hex.DecodeString(sealed); err != nil {
				return p, fmt.Errorf("payload %q: %w", s, err)
			}
			p.hasVK = true
		case strings.HasPrefix(f, "d="):
			id, err := parseValueKeyID(f[2:])
			if err != nil {
				return p, fmt.Errorf("payload %q: %w", s, err)
			}
			p.destroy = append(p.destroy, id)
		default:
			return p, fmt.Errorf("payload %q: unknown field %q", s, f)
		}
	}
	return p, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

func parseValueKeyID(s string) (ValueKeyID, error) {
	var id ValueKeyID
	err := id.UnmarshalText([]byte(s))
	return id, err
}

// TestCrashChild is the child process of TestCrashLosesNoAcknowledgedAppend.
// It never returns: it appends until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process for TestCrashLosesNoAcknowledgedAppend; runs only when " + crashChildEnv + " is set")
	}
	run, _ := strconv.Atoi(os.Getenv(crashRunEnv))
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	l, err := Open(ctx, path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		die("open: %v", err)
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		die("unlock: %v", err)
	}

	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for g := range crashGoroutines {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			var live []ValueKeyID // this goroutine's acknowledged, undestroyed value keys
			for i := 0; ; i++ {
				n := 1
				switch g % 4 {
				case 1: // atomic appends of 2-3 events
					n = 2 + rng.IntN(2)
				case 3: // anything
					n = 1 + rng.IntN(3)
				}
				evs := make([]Event, n)
				payloads := make([]string, n)
				var created []ValueKeyID
				destroying := map[ValueKeyID]bool{}
				for j := range evs {
					p := crashPayload{name: fmt.Sprintf("child%d-g%d-%d-%d/%d", run, g, i, j, n)}
					e := Event{Type: crashEventType, Schema: 1}
					if g%4 == 2 || (g%4 == 3 && rng.IntN(3) == 0) {
						k := NewValueKey()
						sealed, err := k.Seal([]byte("value:"+p.name), []byte(p.name))
						if err != nil {
							die("seal value: %v", err)
						}
						p.vk, p.hasVK, p.sealed = k.ID(), true, sealed
						e.NewValueKeys = []*ValueKey{k}
						created = append(created, k.ID())
					}
					if len(live) > 0 && rng.IntN(4) == 0 {
						idx := rng.IntN(len(live))
						if id := live[idx]; !destroying[id] {
							destroying[id] = true
							p.destroy = append(p.destroy, id)
							e.DestroyValueKeys = []ValueKeyID{id}
						}
					}
					payloads[j] = p.encode()
					e.Payload = []byte(payloads[j])
					evs[j] = e
				}
				hs, err := l.Append(ctx, evs...)
				if err != nil {
					die("append: %v", err)
				}
				if len(hs) != n {
					die("append returned %d headers for %d events", len(hs), n)
				}
				for j, h := range hs {
					if h.Seq != hs[0].Seq+uint64(j) {
						die("atomic append got seqs %d and %d at positions 0 and %d", hs[0].Seq, h.Seq, j)
					}
				}
				mu.Lock()
				for j, h := range hs {
					fmt.Fprintf(out, "ack %d %s\n", h.Seq, payloads[j])
					if err := out.Flush(); err != nil {
						die("write stdout: %v", err)
					}
				}
				mu.Unlock()
				kept := live[:0]
				for _, id := range live {
					if !destroying[id] {
						kept = append(kept, id)
					}
				}
				live = append(kept, created...)
			}
		}()
	}
	select {} // until SIGKILL
}

// crashState is what the parent knows across rounds.
type crashState struct {
	path      string
	acked     map[uint64]string // every acknowledged (seq, payload)
	ackedMax  uint64
	destroyed map[ValueKeyID]bool // value keys destroyed by any committed event
	checked   uint64              // events whose value keys were checked
	vkey      string
	trusted   [][]byte // latest checkpoint of each round
}

func TestCrashLosesNoAcknowledgedAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary many times; skipped with -short")
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	st := &crashState{
		path:      filepath.Join(t.TempDir(), "data", "events.db"),
		acked:     map[uint64]string{},
		destroyed: map[ValueKeyID]bool{},
	}
	start := time.Now()
	totalAcked := 0
	for round := range crashRounds {
		var (
			killAfter int
			delay     time.Duration
		)
		if rng.IntN(4) == 0 {
			delay = time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
		} else {
			killAfter = 1 + rng.IntN(crashMaxAcked)
		}
		how := fmt.Sprintf("killed after %d acks", killAfter)
		if killAfter == 0 {
			how = fmt.Sprintf("killed after %v", delay.Round(time.Millisecond))
		}
		before := len(st.acked)
		n := runCrashChild(t, exe, st, round, rng.Uint64(), killAfter, delay)
		totalAcked += n
		summary := checkCrashedLog(t, st, round)
		if t.Failed() {
			t.Fatalf("round %d (%s): %d acknowledged this round, %d before", round, how, n, before)
		}
		t.Logf("round %d: %s: %d acknowledged; %s", round, how, n, summary)
	}
	t.Logf("%d rounds killed with SIGKILL, %d events acknowledged, highest acknowledged seq %d, in %v",
		crashRounds, totalAcked, st.ackedMax, time.Since(start).Round(time.Millisecond))
}

// runCrashChild runs one child on st.path, kills it after it acknowledged
// killAfter events (or after delay if killAfter is 0), and records every
// acknowledged event it printed. It returns how many it printed.
func runCrashChild(t *testing.T, exe string, st *crashState, round int, seed uint64, killAfter int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"="+st.path,
		crashRunEnv+"="+strconv.Itoa(round),
		crashSeedEnv+"="+strconv.FormatUint(seed, 10),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killed, stalled atomic.Bool
	kill := func() {
		if !killed.Swap(true) {
			cmd.Process.Kill()
		}
	}
	var timer *time.Timer
	if killAfter == 0 {
		timer = time.AfterFunc(delay, kill)
	}
	// A guard against a child that stops acknowledging appends.
	guard := time.AfterFunc(60*time.Second, func() {
		stalled.Store(true)
		kill()
	})

	r := bufio.NewReader(stdout)
	n := 0
	var parseErr error
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err != io.EOF {
				t.Errorf("round %d: read child stdout: %v", round, err)
			} else if line != "" {
				// Pipe writes of a line are atomic, so this cannot happen.
				t.Errorf("round %d: child printed a partial line %q", round, line)
			}
			break
		}
		rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ack ")
		if !ok {
			t.Logf("round %d: child said: %s", round, strings.TrimSpace(line))
			continue
		}
		seqStr, payload, ok := strings.Cut(rest, " ")
		seq, err := strconv.ParseUint(seqStr, 10, 64)
		if !ok || err != nil || seq == 0 {
			if parseErr == nil {
				parseErr = fmt.Errorf("unparseable ack line %q", line)
			}
			continue
		}
		if prev, dup := st.acked[seq]; dup {
			t.Errorf("round %d: seq %d acknowledged twice: %q and %q", round, seq, prev, payload)
		}
		st.acked[seq] = payload
		st.ackedMax = max(st.ackedMax, seq)
		n++
		if killAfter > 0 && n >= killAfter {
			kill()
		}
	}
	if timer != nil {
		timer.Stop()
	}
	guard.Stop()
	kill() // no-op if already killed; the child must not outlive its round
	werr := cmd.Wait()
	if parseErr != nil {
		t.Errorf("round %d: %v", round, parseErr)
	}
	if stalled.Load() {
		t.Fatalf("round %d: child acknowledged only %d of %d appends in 60s; stderr:\n%s", round, n, killAfter, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) {
		t.Fatalf("round %d: child: %v; stderr:\n%s", round, werr, stderr.String())
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !killed.Load() || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended by itself (%v) after %d acks; stderr:\n%s", round, werr, n, stderr.String())
	}
	return n
}

// checkCrashedLog reopens the log after a kill and checks that nothing
// acknowledged was lost and that the file is sound.
func checkCrashedLog(t *testing.T, st *crashState, round int) (summary string) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(ctx, st.path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatalf("round %d: unlock after kill: %v", round, err)
	}
	size := l.Size()
	if size < st.ackedMax {
		t.Errorf("round %d: size %d after kill, but seq %d was acknowledged", round, size, st.ackedMax)
	}

	// Every committed event, dense from 1; payloads unique.
	committed := make(map[uint64]string, size)
	names := make(map[string]uint64, size)
	var records []Record // events not yet checked for value keys
	next := uint64(1)
	err = l.Scan(ctx, 1, 0, func(r Record) error {
		if r.Seq != next {
			return fmt.Errorf("scan: got seq %d, want %d", r.Seq, next)
		}
		next++
		p := string(r.Payload)
		committed[r.Seq] = p
		name, _, _ := strings.Cut(p, "|")
		if prev, dup := names[name]; dup {
			return fmt.Errorf("payload %q stored twice, at %d and %d", name, prev, r.Seq)
		}
		names[name] = r.Seq
		if r.Seq > st.checked {
			records = append(records, r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if next-1 != size {
		t.Errorf("round %d: scan saw %d events, size is %d", round, next-1, size)
	}

	// Nothing acknowledged is lost or altered.
	lost := 0
	for seq, want := range st.acked {
		got, ok := committed[seq]
		if !ok || got != want {
			if lost < 10 {
				t.Errorf("round %d: acknowledged seq %d = %q, log has %q (present %v)", round, seq, want, got, ok)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("round %d: %d of %d acknowledged events lost or altered", round, lost, len(st.acked))
	}

	// Value keys committed with their events, destroyed with theirs. A
	// child destroys only keys it created itself, so the destroys that
	// concern new events are all among the new events.
	var parsed []crashPayload
	for _, r := range records {
		p, err := parseCrashPayload(string(r.Payload))
		if err != nil {
			t.Fatalf("round %d: seq %d: %v", round, r.Seq, err)
		}
		for _, id := range p.destroy {
			st.destroyed[id] = true
		}
		parsed = append(parsed, p)
	}
	// Atomic appends are all there or not at all, at consecutive seqs.
	type group struct {
		first    uint64
		n, count int
	}
	groups := map[string]*group{}
	for i, p := range parsed {
		seq := records[i].Seq
		prefix, jn, ok1 := cutLast(p.name, "-")
		js, ns, ok2 := strings.Cut(jn, "/")
		j, err1 := strconv.Atoi(js)
		n, err2 := strconv.Atoi(ns)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || j < 0 || j >= n {
			t.Fatalf("round %d: seq %d: bad event name %q", round, seq, p.name)
		}
		g := groups[prefix]
		if g == nil {
			g = &group{first: seq, n: n}
			groups[prefix] = g
		}
		if g.n != n || j != g.count || seq != g.first+uint64(j) {
			t.Errorf("round %d: seq %d: %q breaks its atomic append (first at %d, %d of %d seen)", round, seq, p.name, g.first, g.count, g.n)
		}
		g.count++
	}
	for prefix, g := range groups {
		if g.count != g.n {
			t.Errorf("round %d: atomic append %s at seq %d: %d of its %d events committed", round, prefix, g.first, g.count, g.n)
		}
	}

	vks := 0
	for i, p := range parsed {
		if !p.hasVK {
			continue
		}
		vks++
		seq := records[i].Seq
		got, err := l.OpenValue(ctx, p.vk, p.sealed, []byte(p.name))
		switch {
		case st.destroyed[p.vk]:
			if !errors.Is(err, ErrValueDestroyed) {
				t.Errorf("round %d: seq %d: value key %s was destroyed, OpenValue = %q, %v", round, seq, p.vk, got, err)
			}
		case err != nil:
			t.Errorf("round %d: seq %d (acknowledged %v): OpenValue(%s): %v", round, seq, st.acked[seq] != "", p.vk, err)
		case string(got) != "value:"+p.name:
			t.Errorf("round %d: seq %d: OpenValue = %q, want %q", round, seq, got, "value:"+p.name)
		}
	}
	st.checked = size

	// The file verifies, and extends every checkpoint seen before.
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatalf("round %d: verifier key: %v", round, err)
	}
	if st.vkey == "" {
		st.vkey = vkey
	} else if vkey != st.vkey {
		t.Errorf("round %d: verifier key changed from %q to %q", round, st.vkey, vkey)
	}
	rep, err := l.Verify(ctx, st.vkey, VerifyOptions{Trusted: st.trusted})
	if err != nil {
		t.Errorf("round %d: verify after kill: %v", round, err)
	} else if rep.Size != size {
		t.Errorf("round %d: verified %d events, size %d", round, rep.Size, size)
	}
	closed = true
	if err := l.Close(); err != nil {
		t.Fatalf("round %d: close: %v", round, err)
	}
	// Close wrote a final checkpoint; the file as a whole, page structure
	// included, verifies read-only, and that checkpoint is trusted from now on.
	rep, err = VerifyFile(ctx, st.path, st.vkey, VerifyOptions{Trusted: st.trusted})
	if err != nil {
		t.Errorf("round %d: VerifyFile after close: %v", round, err)
		return ""
	}
	if size > 0 && rep.Latest.Size != size {
		t.Errorf("round %d: latest checkpoint covers %d of %d events after close", round, rep.Latest.Size, size)
	}
	if rep.Latest.Note != nil {
		st.trusted = append(st.trusted, rep.Latest.Note)
	}
	return fmt.Sprintf("log size %d, %d new events (%d with value keys), %d checkpoints",
		size, len(records), vks, rep.Checkpoints)
}
