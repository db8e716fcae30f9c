//go:build linux

package system

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
)

// roleEnv makes the test binary, re-executed by the tests, play a child.
const roleEnv = "SPIKE_E2E_SYSTEM_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(child(role))
	}
	os.Exit(m.Run())
}

// child plays a role:
//   - "echo CODE": copies stdin to stdout, writes "to stderr" to stderr
//     and exits with CODE;
//   - "pwd": prints its working directory;
//   - "sleep": says "up" and waits to be signalled;
//   - "stubborn": ignores SIGTERM, says "up", and waits for SIGKILL.
func child(role string) int {
	switch role {
	case "echo":
		if len(os.Args) != 2 {
			return 100
		}
		code, err := strconv.Atoi(os.Args[1])
		if err != nil {
			return 100
		}
		io.Copy(os.Stdout, os.Stdin)
		fmt.Fprint(os.Stderr, "to stderr")
		return code
	case "pwd":
		dir, err := os.Getwd()
		if err != nil {
			return 100
		}
		fmt.Print(dir)
		return 0
	case "sleep":
		fmt.Println("up")
		select {}
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("up")
		select {}
	}
	return 101
}

// self returns the running test binary and the environment that makes it
// play role.
func self(t *testing.T, role string) (string, []string) {
	t.Helper()
	bin, err := testBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin, append(BaseEnv(), roleEnv+"="+role)
}
