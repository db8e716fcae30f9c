package pilot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// isTerminal reports whether v is an *os.File open on a character device
// other than the null device: a terminal, for the purposes of a prompt or
// a progress bar. Pipes, files, in-memory readers and the /dev/null that
// scripts and containers get as standard input are not.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

// errDeclined is a confirmation the user answered with anything but yes.
var errDeclined = errors.New("cancelled: nothing was changed")

// confirm asks before a destructive step. --yes skips the question. On a
// terminal the question goes to stderr and one line of stdin answers it
// ("y" or "yes"); without a terminal to ask on, the command refuses
// (a usage error) rather than guessing.
func (e *env) confirm(question string, yes bool) error {
	if yes {
		return nil
	}
	if !e.terminal(e.in) {
		return usagef("this needs confirmation and standard input is not a terminal to ask on: pass --yes")
	}
	fmt.Fprintf(e.errOut, "%s [y/N] ", question)
	line, err := bufio.NewReader(io.LimitReader(e.in, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read answer: %w", err)
	}
	if !strings.HasSuffix(line, "\n") {
		fmt.Fprintln(e.errOut) // end the prompt's line: no answer ended it
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errDeclined
}

// withTerminal replaces terminal detection, for tests that play a
// terminal.
func withTerminal(f func(any) bool) Option {
	return func(o *runOptions) { o.terminal = f }
}
