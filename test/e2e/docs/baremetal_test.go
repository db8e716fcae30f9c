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

// bareMetalGuide is the guide that installs deploy/systemd.
const bareMetalGuide = "docs/install-bare-metal.md"

// unitAccount matches a unit's User= or Group= line.
var unitAccount = regexp.MustCompile(`(?m)^(User|Group)=(\S+)$`)

// madeAccount matches a useradd or groupadd line of the guide's shell
// blocks, and the account it makes: the last word, with a loop's $n.
var madeAccount = regexp.MustCompile(`(?m)\b(useradd|groupadd)\b[^;#\n]*\s(\S+?)(?:;|\s*$)`)

// unitAccounts returns the users and groups the units run as, keeper
// instances 1 to 3 for the template's %i.
func unitAccounts(units map[string]string) []string {
	var out []string
	for _, text := range units {
		for _, m := range unitAccount.FindAllStringSubmatch(text, -1) {
			name := m[2]
			if strings.Contains(name, "%i") {
				for _, n := range []string{"1", "2", "3"} {
					out = append(out, strings.ReplaceAll(name, "%i", n))
				}
				continue
			}
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// forLoop matches a shell loop over numbers: for n in 1 2 3; do.
var forLoop = regexp.MustCompile(`\bfor n in ([0-9 ]+); do\b`)

// guideAccounts returns the accounts the guide's useradd and groupadd
// lines make (a user's own group comes with it), with a loop's $n taken
// from the values its line loops over.
func guideAccounts(guide string) []string {
	var out []string
	for line := range strings.SplitSeq(guide, "\n") {
		var ns []string
		if m := forLoop.FindStringSubmatch(line); m != nil {
			ns = strings.Fields(m[1])
		}
		for _, m := range madeAccount.FindAllStringSubmatch(line, -1) {
			name := m[2]
			if !strings.Contains(name, "$n") {
				out = append(out, name)
				continue
			}
			for _, n := range ns {
				out = append(out, strings.ReplaceAll(name, "$n", n))
			}
		}
	}
	return out
}

// missingAccounts returns the accounts the units need that the guide
// does not make.
func missingAccounts(units map[string]string, guide string) []string {
	made := guideAccounts(guide)
	var out []string
	for _, a := range unitAccounts(units) {
		if !slices.Contains(made, a) {
			out = append(out, a)
		}
	}
	return out
}

// TestGuideMakesTheUnitsUsers: the bare-metal guide makes every user
// and group the units of deploy/systemd run as, so a reader who follows
// it can start them.
func TestGuideMakesTheUnitsUsers(t *testing.T) {
	t.Parallel()
	root, err := system.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "deploy", "systemd", "*.service"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no units in deploy/systemd (%v)", err)
	}
	units := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		units[filepath.Base(f)] = string(b)
	}
	guide, err := os.ReadFile(filepath.Join(root, bareMetalGuide))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(unitAccounts(units)); n < 4 {
		t.Fatalf("the units name %d accounts: the pattern reads none", n)
	}
	for _, a := range missingAccounts(units, string(guide)) {
		t.Errorf("%s makes no account %s, which a unit runs as", bareMetalGuide, a)
	}
}

// TestMissingAccounts is the negative control of the check above.
func TestMissingAccounts(t *testing.T) {
	t.Parallel()
	units := map[string]string{
		"a.service":  "[Service]\nUser=alpha\nGroup=alpha\n",
		"k@.service": "[Service]\nUser=k-%i\nGroup=ks\n",
	}
	tests := []struct {
		name, guide string
		want        []string
	}{
		{"all made", "useradd --system alpha\ngroupadd --system ks\nfor n in 1 2 3; do useradd --gid ks k-$n; done\n", nil},
		{"a keeper missing", "useradd alpha\ngroupadd ks\nfor n in 1 2; do useradd k-$n; done\n", []string{"k-3"}},
		{"a loop's $n outside a loop", "useradd alpha\ngroupadd ks\nuseradd k-$n\n", []string{"k-1", "k-2", "k-3"}},
		{"no group", "useradd alpha\nfor n in 1 2 3; do useradd --gid ks k-$n; done\n", []string{"ks"}},
		{"nothing", "", []string{"alpha", "k-1", "k-2", "k-3", "ks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := missingAccounts(units, tt.guide); !slices.Equal(got, tt.want) {
				t.Errorf("missing = %q, want %q", got, tt.want)
			}
		})
	}
}
