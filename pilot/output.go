package pilot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// format is how a command prints what it returns.
type format string

// The formats. SPIKE's short spellings (h, plain, p, j, y) are accepted
// too; see parseFormat.
const (
	formatHuman format = "human"
	formatJSON  format = "json"
	formatYAML  format = "yaml"
)

// formatEnum lists every spelling --format accepts, for kong.
const formatEnum = "human,h,plain,p,json,j,yaml,y"

func parseFormat(s string) format {
	switch s {
	case "json", "j":
		return formatJSON
	case "yaml", "y":
		return formatYAML
	}
	return formatHuman
}

// render returns v in the machine-readable format f, or what human
// writes. Nothing reaches the terminal until the whole document is ready,
// so a failure half-way prints no partial document.
func render(f format, v any, human func(w io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	switch f {
	case formatJSON:
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("encode JSON: %w", err)
		}
	case formatYAML:
		y, err := marshalYAML(v)
		if err != nil {
			return nil, fmt.Errorf("encode YAML: %w", err)
		}
		b.Write(y)
	default:
		if err := human(&b); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// tableWriter writes aligned columns (cells end with a tab, rows with a
// newline) and drops the padding an empty last cell leaves behind.
type tableWriter struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
	w   io.Writer
}

func table(w io.Writer) *tableWriter {
	t := &tableWriter{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *tableWriter) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the table.
func (t *tableWriter) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(t.buf.String(), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l[:len(l)-1], " ") + "\n"
		}
	}
	_, err := io.WriteString(t.w, strings.Join(lines, ""))
	return err
}

// humanTime is how human output shows an instant: UTC, to the second.
func humanTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// oneLine makes s safe to print as one line of a table or message:
// newlines, tabs and every other control character (ESC included, so
// nothing in s can drive the terminal), and bytes that are not UTF-8,
// are shown escaped (\n, \t, \x1b, \u2028), never raw. Printable text,
// backslashes included, is left as it is.
func oneLine(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// needsEscape reports whether s holds anything oneLine escapes.
func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// showValue is how human output shows a secret value: as it is, unless it
// holds a control character (a newline, a tab, ESC…) or bytes that are
// not UTF-8, or starts with a double quote; then as a double-quoted
// string with Go's (and JSON's) escapes. So a raw value never starts
// with '"' and a quoted one always does: the two cannot be confused, and
// no value reaches the terminal raw if it could act on it.
func showValue(s string) string {
	if !needsEscape(s) && !strings.HasPrefix(s, `"`) {
		return s
	}
	return strconv.Quote(s)
}

// okLine is what a command that changes something prints in human form.
func okLine(msg string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := fmt.Fprintln(w, msg)
		return err
	}
}
