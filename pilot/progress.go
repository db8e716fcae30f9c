package pilot

import (
	"fmt"
	"io"
	"strings"
)

// progress draws a one-line progress bar on a terminal, redrawn in place
// with a carriage return. A progress for a writer that is not a terminal
// draws nothing, so piped output carries no control characters.
type progress struct {
	w     io.Writer // nil: disabled
	label string
	last  int // the last percentage drawn, -1 before the first
}

const progressWidth = 30

func newProgress(w io.Writer, enabled bool, label string) *progress {
	if !enabled {
		w = nil
	}
	return &progress{w: w, label: label, last: -1}
}

// update draws done out of total, when the percentage has changed.
func (p *progress) update(done, total uint64) {
	if p.w == nil {
		return
	}
	pct := 100
	if total > 0 {
		pct = int(min(done, total) * 100 / total)
	}
	if pct == p.last {
		return
	}
	p.last = pct
	full := pct * progressWidth / 100
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d", p.label,
		strings.Repeat("=", full), strings.Repeat(" ", progressWidth-full), pct, done, total)
}

// done ends the bar's line, if one was drawn.
func (p *progress) done() {
	if p.w != nil && p.last >= 0 {
		fmt.Fprintln(p.w)
	}
}
