package pilot_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/spikeledger/spike/devcluster"
)

// docFiles are the guides a newcomer follows, relative to this package.
var docFiles = []string{"../README.md", "../docs/operator.md", "../docs/auditor.md"}

// Every relative link in the guides reaches a file that exists, and an
// anchor a heading of it.
func TestDocsLinksExist(t *testing.T) {
	t.Parallel()
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range docFiles {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s: %v", doc, target, err)
				continue
			}
			if anchor != "" && !hasHeading(t, path, anchor) {
				t.Errorf("%s links %s: no heading %q there", doc, target, anchor)
			}
		}
	}
}

// The README's command list is what spike --help lists: every command,
// in order, with its help text (compared word for word, so the width
// the help was wrapped at does not matter).
func TestReadmeListsEveryCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "## The CLI\n\n```\n")
	if !ok {
		t.Fatal("README.md has no command list under \"## The CLI\"")
	}
	block, _, _ = strings.Cut(block, "```")
	r := runCLI(t, "", "--help")
	r.check(t, 0, "")
	_, help, ok := strings.Cut(r.stdout, "\nCommands:\n")
	if !ok {
		t.Fatalf("spike --help lists no commands:\n%s", r.stdout)
	}
	help, _, _ = strings.Cut(help, "\n\n")
	got, want := commandList(block), commandList(help)
	if !slices.Equal(got, want) {
		t.Errorf("README.md lists\n\t%s\nspike --help lists\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// commandList reads a help text's command list into one line per
// command, "name: help", whatever the wrapping.
func commandList(text string) []string {
	entry := regexp.MustCompile(`^  (\S+(?: \S+)*)\s{2,}(.*)$`)
	var out []string
	for _, line := range strings.Split(text, "\n") {
		switch m := entry.FindStringSubmatch(line); {
		case strings.TrimSpace(line) == "":
		case m != nil:
			out = append(out, m[1]+": "+strings.TrimSpace(m[2]))
		case len(out) > 0:
			out[len(out)-1] += " " + strings.TrimSpace(line)
		}
	}
	return out
}

// hasHeading reports whether the Markdown file has a heading whose
// GitHub anchor is anchor.
func hasHeading(t *testing.T, path, anchor string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			if strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-") == anchor {
				return true
			}
		}
	}
	return false
}

// The operator guide's restore example runs as written against a dev
// cluster, as the shell the banner sets up runs it (SPIKE_NEXUS_URL and
// SPIKE_SVID_DIR for the superuser, a terminal to answer the question),
// with SEQ the sequence number of the write of "right".
func TestOperatorGuideRestoreExample(t *testing.T) {
	t.Parallel()
	lines := shellBlock(t, "../docs/operator.md", "spike restore apply")
	dir := svidDir(t, devcluster.SVIDSuperuser)
	var last result
	for _, line := range lines {
		args := strings.Fields(line)
		if len(args) == 0 || args[0] != "spike" {
			t.Fatalf("not a spike command: %q", line)
		}
		args = args[1:]
		for i, a := range args {
			if a == "SEQ" {
				args[i] = writeOfRight(t)
			}
		}
		full := append([]string{"--nexus-url", nexusURL(t), "--svid-dir", dir}, args...)
		last = onTerminal(t, "y\n", full...)
		if last.code != 0 {
			t.Fatalf("%q: exit %d\nstdout: %s\nstderr: %s", line, last.code, last.stdout, last.stderr)
		}
	}
	if last.stdout != "right\n" {
		t.Errorf("after the example the password is %q, want \"right\"", last.stdout)
	}
}

// shellBlock returns the command lines, without comments, of the first
// sh block of doc that holds marker.
func shellBlock(t *testing.T, doc, marker string) []string {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh":
			in, block = true, nil
		case line == "```" && in:
			in = false
			for _, l := range block {
				if strings.Contains(l, marker) {
					return block
				}
			}
		case in:
			if cmd, _, _ := strings.Cut(line, "#"); strings.TrimSpace(cmd) != "" {
				block = append(block, strings.TrimSpace(cmd))
			}
		}
	}
	t.Fatalf("%s has no sh block with %q", doc, marker)
	return nil
}

// writeOfRight is the sequence number of the latest write of "right" in
// the example: the write before the last one.
func writeOfRight(t *testing.T) string {
	t.Helper()
	r := super(t, "", "-f", "json", "secret", "history", "tenants/web/db")
	r.check(t, 0, "")
	var doc struct {
		Events []struct {
			Seq  uint64
			Type string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	var writes []uint64
	for _, e := range doc.Events {
		if e.Type == "secret.version.written" {
			writes = append(writes, e.Seq)
		}
	}
	if len(writes) < 2 {
		t.Fatalf("history of tenants/web/db: %d writes", len(writes))
	}
	return strconv.FormatUint(writes[len(writes)-2], 10)
}

// The auditor guide gets the verifier key file from audit checkpoint's
// YAML with sed: the line it matches is there, and holds the key.
func TestAuditorGuideVerifierKey(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/auditor.md")
	if err != nil {
		t.Fatal(err)
	}
	const sed = `sed -n 's/^verifierKey: "\(.*\)"$/\1/p' > vkey.txt`
	if !strings.Contains(string(b), sed) {
		t.Fatalf("docs/auditor.md no longer says %s", sed)
	}
	checkpoint(t) // waits for the first one
	r := super(t, "", "-f", "yaml", "audit", "checkpoint")
	r.check(t, 0, "")
	m := regexp.MustCompile(`(?m)^verifierKey: "(.*)"$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no verifierKey line for sed to find:\n%s", r.stdout)
	}
	if _, err := note.NewVerifier(m[1]); err != nil {
		t.Errorf("the line holds %q, not a verifier key: %v", m[1], err)
	}
}
