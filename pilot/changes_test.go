package pilot

import (
	"testing"

	"github.com/spikeledger/spike/sdk"
)

// The lines for answers the dev cluster never gives: a SPIKE v0.8 Nexus,
// which says neither what changed nor what is current, and changes to
// nothing.
func TestChangeTexts(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		name  string
		text  func(string, []int, *sdk.VersionChange) string
		named []int
		ch    sdk.VersionChange
		want  string
	}{
		{"delete, v0.8", deletedText, nil, sdk.VersionChange{Versions: []int{}}, "OK"},
		{"undelete, v0.8", undeletedText, []int{2}, sdk.VersionChange{Versions: []int{}}, "OK"},
		{"destroy, v0.8", destroyedText, []int{2}, sdk.VersionChange{Versions: []int{}}, "OK"},
		{"delete, versions but no current", deletedText, nil, sdk.VersionChange{Versions: []int{3}}, "Deleted version 3 of a/b."},
		{"delete, nothing", deletedText, []int{1, 2}, sdk.VersionChange{Versions: []int{}, CurrentVersion: n(3)},
			"Nothing changed: versions 1, 2 of a/b are deleted already; version 3 is current."},
		{"delete the current, nothing", deletedText, []int{0}, sdk.VersionChange{Versions: []int{}, CurrentVersion: n(0)},
			"Nothing changed at a/b; no version is readable."},
		{"undelete, nothing", undeletedText, []int{2}, sdk.VersionChange{Versions: []int{}, CurrentVersion: n(2)},
			"Nothing changed: version 2 of a/b is not deleted; version 2 is current."},
		{"destroy, nothing", destroyedText, []int{1}, sdk.VersionChange{Versions: []int{}, CurrentVersion: n(2)},
			"Nothing changed: version 1 of a/b is destroyed already; version 2 is current."},
		{"delete one of several", deletedText, []int{1}, sdk.VersionChange{Versions: []int{1}, CurrentVersion: n(4)},
			"Deleted version 1 of a/b; version 4 is still current."},
		{"delete the last", deletedText, nil, sdk.VersionChange{Versions: []int{1}, CurrentVersion: n(0)},
			"Deleted version 1 of a/b; no readable version is left (spike secret undelete a/b --versions 1 brings it back)."},
	} {
		if got := tc.text("a/b", tc.named, &tc.ch); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A path is shown as one line, whatever it holds.
	if got := deletedText("a\x1b/b", nil, &sdk.VersionChange{Versions: []int{1}, CurrentVersion: n(2)}); got != `Deleted version 1 of a\x1b/b; version 2 is still current.` {
		t.Errorf("escaped path: %q", got)
	}
}
