package pilot

import (
	"strings"
	"testing"
	"time"
)

// A delayed notice stopped before its time says nothing, and a notifier
// without a terminal never does.
func TestNotifier(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	n := &notifier{w: &b, enabled: true}
	n.after(time.Hour, "late")()
	n.say("now %d", 1)
	off := &notifier{w: &b}
	off.say("never")
	off.after(0, "never")()
	if b.String() != "now 1\n" {
		t.Errorf("notices %q, want only %q", b.String(), "now 1\n")
	}
}

// What a command waits for its SVID: said at once when the files are not
// there, with the flag and variable that choose the directory.
func TestWaitForSVID(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	dir := t.TempDir()
	e := &env{g: &globals{}, notices: &notifier{w: &b, enabled: true}}
	e.g.SVIDDir, e.g.SourceTimeout = dir, 5*time.Second
	e.waitForSVID()()
	if want := "waiting up to 5s for an SVID in " + dir + " (--svid-dir, SPIKE_SVID_DIR): is spiffe-helper writing there?\n"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
	b.Reset()
	e.g.SVIDDir, e.g.Socket = "", "unix://"+dir+"/no-agent.sock"
	e.waitForSVID()()
	if !strings.HasPrefix(b.String(), "waiting up to 5s for an SVID from the SPIRE agent at unix://"+dir+"/no-agent.sock (--spiffe-endpoint-socket, SPIFFE_ENDPOINT_SOCKET; or --svid-dir)") {
		t.Errorf("%q", b.String())
	}
}
