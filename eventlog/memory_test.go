package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The memory test measures a fresh child process, so that nothing else the
// test binary did (other tests, the parent's own allocations) counts.
const (
	memoryChildEnv = "SPIKE_EVENTLOG_MEMORY_CHILD" // log path

	memoryEvents     = 1_000_000
	memoryGoroutines = 64
	memoryPayload    = 256
	memoryLimitKiB   = 200 << 10 // 200 MiB
)

// memoryProcStatus returns the value in kB of a field of /proc/self/status,
// such as VmHWM (peak resident set size).
func memoryProcStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc/self/status: malformed %s line %q", field, line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc/self/status: no %s field", field)
}

// TestMemoryChild is the child process of TestMillionAppendsStayUnder200MB.
func TestMemoryChild(t *testing.T) {
	path := os.Getenv(memoryChildEnv)
	if path == "" {
		t.Skip("helper process for TestMillionAppendsStayUnder200MB; runs only when " + memoryChildEnv + " is set")
	}
	ctx := context.Background()
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}

	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range memoryGoroutines {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > memoryEvents || failed.Load() {
					return
				}
				payload := make([]byte, memoryPayload)
				binary.BigEndian.PutUint64(payload, uint64(i))
				hs, err := l.Append(ctx, Event{Type: "memory.test", Schema: 1, Payload: payload})
				if err != nil {
					failed.Store(true)
					t.Errorf("append %d: %v", i, err)
					return
				}
				if len(hs) != 1 || hs[0].Seq == 0 {
					failed.Store(true)
					t.Errorf("append %d: headers %+v", i, hs)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if t.Failed() {
		return
	}
	hwm, err := memoryProcStatus("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	rss, _ := memoryProcStatus("VmRSS")
	anon, _ := memoryProcStatus("RssAnon")
	file, _ := memoryProcStatus("RssFile")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("events %d\n", l.Size())
	fmt.Printf("elapsed_ns %d\n", elapsed.Nanoseconds())
	fmt.Printf("vmhwm_kib %d\n", hwm)
	fmt.Printf("vmrss_kib %d\n", rss)
	fmt.Printf("rssanon_kib %d\n", anon)
	fmt.Printf("rssfile_kib %d\n", file)
	fmt.Printf("go_sys_kib %d\n", ms.Sys>>10)
	if fi, err := os.Stat(path); err == nil {
		fmt.Printf("file_kib %d\n", fi.Size()>>10)
	}

	if l.Size() != memoryEvents {
		t.Fatalf("log size %d after %d appends", l.Size(), memoryEvents)
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx, vkey, VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Size != memoryEvents {
		t.Fatalf("verified %d events, want %d", rep.Size, memoryEvents)
	}
	fmt.Printf("verified %d %d\n", rep.Size, rep.Checkpoints)
}

func TestMillionAppendsStayUnder200MB(t *testing.T) {
	if testing.Short() {
		t.Skip("appends a million durable events; skipped with -short")
	}
	if _, err := memoryProcStatus("VmHWM"); err != nil {
		t.Skipf("peak RSS not measurable here: %v", err)
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "-test.run=^TestMemoryChild$", "-test.count=1", "-test.timeout=9m")
	cmd.Env = append(os.Environ(), memoryChildEnv+"="+filepath.Join(t.TempDir(), "data", "events.db"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	got := map[string]int64{}
	var verified string
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "verified" {
			verified = f[1] + " events, " + f[2] + " checkpoints"
			continue
		}
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			got[f[0]] = n
		}
	}
	for _, k := range []string{"events", "elapsed_ns", "vmhwm_kib"} {
		if _, ok := got[k]; !ok {
			t.Fatalf("child did not report %s (%v); stdout:\n%s\nstderr:\n%s", k, runErr, stdout.String(), stderr.String())
		}
	}
	elapsed := time.Duration(got["elapsed_ns"])
	hwm := got["vmhwm_kib"]
	t.Logf("%d appends (%d-byte payloads, %d goroutines) in %v: %.0f events/s",
		got["events"], memoryPayload, memoryGoroutines, elapsed.Round(time.Millisecond), float64(got["events"])/elapsed.Seconds())
	mib := func(k string) float64 { return float64(got[k]) / 1024 }
	t.Logf("peak RSS (VmHWM) %.1f MiB; at the end RSS %.1f MiB = anonymous %.1f MiB + file-backed %.1f MiB; Go runtime Sys %.1f MiB; log file %.1f MiB",
		mib("vmhwm_kib"), mib("vmrss_kib"), mib("rssanon_kib"), mib("rssfile_kib"), mib("go_sys_kib"), mib("file_kib"))
	if hwm >= memoryLimitKiB {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB (at the end %.1f MiB of RSS was file-backed: pages of the log file mapped by bbolt)",
			float64(hwm)/1024, memoryLimitKiB>>10, mib("rssfile_kib"))
	}
	if runErr != nil || verified == "" {
		t.Fatalf("child failed after appending (%v); stdout:\n%s\nstderr:\n%s", runErr, stdout.String(), stderr.String())
	}
	t.Logf("child Verify: %s", verified)
}
