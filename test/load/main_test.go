package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the child that startChild runs, as
// the load binary is its own.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestProcCPU(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	d, err := procCPU(os.Getpid())
	if err != nil || d < 0 {
		t.Fatalf("procCPU = %v, %v", d, err)
	}
	if _, err := procCPU(0); err == nil {
		t.Fatal("pid 0 accepted")
	}
}

// procsCPU sums its processes: the CPU of this process counted twice is
// at least twice what it was when first read alone, and a missing
// process or none fails the sum rather than dropping out of it.
func TestProcsCPU(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Spin until this process has used some CPU, so that a sum that
	// dropped a process would show.
	var one time.Duration
	for deadline := time.Now().Add(30 * time.Second); one < 50*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("this process's CPU stayed at %v", one)
		}
		var err error
		if one, err = procCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	two, err := procsCPU([]int{os.Getpid(), os.Getpid()})
	if err != nil || two < 2*one {
		t.Fatalf("procsCPU(self, self) = %v, %v; want at least 2×%v", two, err, one)
	}
	for _, pids := range [][]int{nil, {os.Getpid(), 0}} {
		if d, err := procsCPU(pids); err == nil {
			t.Errorf("procsCPU(%v) = %v, want an error", pids, d)
		}
	}
}

func TestServerNote(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	self := os.Getpid()
	for _, tc := range []struct {
		pids []int
		want string // contained in the note; "" for none
	}{
		{pids: nil, want: ""},
		{pids: []int{self}, want: "x: server peak RSS "},
		{pids: []int{self, self}, want: fmt.Sprintf("x: server CPU is the sum of 2 processes (pids %d+%d); their peak RSS ", self, self)},
	} {
		got := serverNote("x", tc.pids)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("serverNote(x, %v) = %q, want one with %q", tc.pids, got, tc.want)
		}
	}
}

// Interrupted, the child is asked to stop rather than killed: it closes
// its cluster and removes its directory, which holds the development
// CA's key and the recovery files.
func TestChildCleansUpWhenInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c, err := startChild(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.loadDir != loadDir(c.svidDir) || !strings.HasPrefix(c.url, "https://127.0.0.1:") {
		t.Errorf("READY line gave %q, %q, %q", c.url, c.svidDir, c.loadDir)
	}
	data := filepath.Dir(filepath.Dir(c.svidDir))
	for _, dir := range []string{c.svidDir, c.loadDir, filepath.Join(data, "recover")} {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("the child's %s: %v", dir, err)
		}
	}
	cancel()
	c.cmd.Wait() // the error is the context's: only what the child left matters
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the child left %s behind: %v", data, err)
	}
	if !c.cmd.ProcessState.Success() {
		t.Errorf("the child did not stop cleanly: %v", c.cmd.ProcessState)
	}
}

// The child serves until its standard input closes or its context ends,
// and removes its directory either way.
func TestServeUntil(t *testing.T) {
	t.Parallel()
	for _, viaContext := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		stdin, closeStdin := io.Pipe()
		ready, readyW := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- serveUntil(ctx, "", stdin, readyW) }()
		line, err := bufio.NewReader(ready).ReadString('\n')
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if err != nil || len(f) != 4 || f[0] != "READY" || f[3] != loadDir(f[2]) {
			t.Fatalf("READY line %q, %v", line, err)
		}
		if viaContext {
			cancel()
		} else {
			closeStdin.Close()
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Dir(filepath.Dir(f[2]))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("directory left behind: %v", err)
		}
		cancel()
		closeStdin.Close()
	}
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	for su, want := range map[string]string{
		"/tmp/d/svid/superuser":  "/tmp/d/svid/load",
		"/tmp/d/svid/superuser/": "/tmp/d/svid/load",
		"svid/superuser":         "svid/load",
	} {
		if got := loadDir(su); got != want {
			t.Errorf("loadDir(%q) = %q, want %q", su, got, want)
		}
	}
}
