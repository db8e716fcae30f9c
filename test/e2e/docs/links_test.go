package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// mdLink matches a Markdown link's target: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// heading matches a Markdown heading line.
var heading = regexp.MustCompile(`(?m)^#{1,6} +(.+?)\s*$`)

// withoutFences returns text with its fenced blocks blanked, so that a
// shell comment is not read as a heading nor an array index as a link.
func withoutFences(text string) string {
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			b.WriteString("\n")
			continue
		}
		if !in {
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// anchor is the fragment GitHub gives a heading: lower case, spaces as
// hyphens, every other character but letters, digits, '-' and '_'
// dropped.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the fragments of a document's headings.
func anchors(text string) []string {
	var out []string
	for _, m := range heading.FindAllStringSubmatch(withoutFences(text), -1) {
		out = append(out, anchor(m[1]))
	}
	return out
}

// linkProblems returns the links of doc (at path, relative to the module
// root) that point at no file, or at no heading of a Markdown file;
// read returns a file's text, or false if there is none.
func linkProblems(path, doc string, read func(path string) (string, bool)) []string {
	var out []string
	for _, m := range mdLink.FindAllStringSubmatch(withoutFences(doc), -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, frag, _ := strings.Cut(target, "#")
		resolved := path
		if file != "" {
			resolved = filepath.ToSlash(filepath.Join(filepath.Dir(path), file))
		}
		text, ok := read(resolved)
		if !ok {
			out = append(out, path+": "+target+": no file "+resolved)
			continue
		}
		if frag != "" && strings.HasSuffix(resolved, ".md") && !slices.Contains(anchors(text), frag) {
			out = append(out, path+": "+target+": no heading #"+frag+" in "+resolved)
		}
	}
	return out
}

// TestLinksResolve: every relative link of README.md and docs/*.md
// points at a file of the tree, and every #fragment at a heading there,
// so a renamed section or a guide not yet written is caught.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	root, err := system.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			// A directory is a fine target (deploy/systemd).
			fi, serr := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
			return "", serr == nil && fi.IsDir()
		}
		return string(b), true
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, d := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		rel, _ := filepath.Rel(root, d)
		rel = filepath.ToSlash(rel)
		text, _ := read(rel)
		links += len(mdLink.FindAllString(withoutFences(text), -1))
		for _, p := range linkProblems(rel, text, read) {
			t.Error(p)
		}
	}
	if links < 50 {
		t.Errorf("only %d links found in the guides: the pattern reads none", links)
	}
}

// TestLinkProblems is the negative control of TestLinksResolve.
func TestLinkProblems(t *testing.T) {
	t.Parallel()
	const ownDoc = "# Own\n\n## Monitoring\n\n[m](#monitoring) [n](#nope)"
	files := map[string]string{
		"docs/a.md":      "# A\n\n## The 3 a.m. call: `spike status`\n\n```sh\n# not a heading\n```\n",
		"deploy/x.yml":   "x: 1\n",
		"docs/b.md":      "",
		"README.md":      "# spike\n\n## Monitoring\n",
		"deploy/systemd": "",
		"docs/own.md":    ownDoc,
	}
	read := func(p string) (string, bool) { s, ok := files[p]; return s, ok }
	tests := []struct {
		name, path, doc string
		want            []string
	}{
		{"good links", "docs/b.md",
			"[a](a.md) [h](a.md#the-3-am-call-spike-status) [y](../deploy/x.yml) [r](../README.md#monitoring) [d](../deploy/systemd) [w](https://x.org/y#z)", nil},
		{"missing file", "docs/b.md", "[c](c.md)", []string{"docs/b.md: c.md: no file docs/c.md"}},
		{"missing heading", "docs/b.md", "[a](a.md#nope)", []string{"docs/b.md: a.md#nope: no heading #nope in docs/a.md"}},
		{"a comment in a fence is no heading", "docs/b.md", "[a](a.md#not-a-heading)",
			[]string{"docs/b.md: a.md#not-a-heading: no heading #not-a-heading in docs/a.md"}},
		{"own heading", "docs/own.md", ownDoc,
			[]string{"docs/own.md: #nope: no heading #nope in docs/own.md"}},
		{"links in fences are not links", "docs/b.md", "```\n[c](c.md)\n```\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := linkProblems(tt.path, tt.doc, read); !slices.Equal(got, tt.want) {
				t.Errorf("problems = %q, want %q", got, tt.want)
			}
		})
	}
}
