package pilot

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spikeledger/spike/sdk"
)

// The lines delete, undelete and destroy print: what changed, and which
// version is current afterwards, since deleting the current version
// makes an older one current and undeleting may make a version current
// again. Nexus reports the versions changed and the current version
// after; SPIKE v0.8 reports neither, and then the line is "OK".
//
// Whether the current version moved follows from the two: a delete
// changes only versions that were readable, so if one of them is above
// the current version after, the current version was deleted and an
// older one took its place; an undelete makes versions readable, so the
// current version moved exactly when it is one of them.

func deletedText(path string, named []int, ch *sdk.VersionChange) string {
	if len(ch.Versions) == 0 {
		return unchangedText(path, named, "deleted already", ch.CurrentVersion)
	}
	msg := fmt.Sprintf("Deleted %s of %s", versionsText(ch.Versions), oneLine(path))
	if ch.CurrentVersion == nil {
		return msg + "."
	}
	switch cur := *ch.CurrentVersion; {
	case cur == 0:
		return fmt.Sprintf("%s; no readable version is left (spike secret undelete %s --versions %s brings %s back).",
			msg, oneLine(path), strings.ReplaceAll(joinInts(ch.Versions), " ", ""), pronoun(ch.Versions))
	case slices.Max(ch.Versions) > cur:
		return fmt.Sprintf("%s; version %d is now current.", msg, cur)
	default:
		return fmt.Sprintf("%s; version %d is still current.", msg, cur)
	}
}

func undeletedText(path string, named []int, ch *sdk.VersionChange) string {
	if len(ch.Versions) == 0 {
		return unchangedText(path, named, "not deleted", ch.CurrentVersion)
	}
	msg := fmt.Sprintf("Undeleted %s of %s", versionsText(ch.Versions), oneLine(path))
	if ch.CurrentVersion == nil {
		return msg + "."
	}
	switch cur := *ch.CurrentVersion; {
	case slices.Contains(ch.Versions, cur):
		return fmt.Sprintf("%s; version %d is now current.", msg, cur)
	default:
		return fmt.Sprintf("%s; version %d is still current.", msg, cur)
	}
}

func destroyedText(path string, named []int, ch *sdk.VersionChange) string {
	if len(ch.Versions) == 0 {
		return unchangedText(path, named, "destroyed already", ch.CurrentVersion)
	}
	msg := fmt.Sprintf("Destroyed %s of %s for good", versionsText(ch.Versions), oneLine(path))
	if ch.CurrentVersion == nil {
		return msg + "."
	}
	if cur := *ch.CurrentVersion; cur > 0 {
		return fmt.Sprintf("%s; version %d is current.", msg, cur)
	}
	return fmt.Sprintf("%s; no readable version is left (spike secret metadata get %s shows what undelete can bring back).", msg, oneLine(path))
}

// unchangedText is the line of a command that changed nothing, every
// version named being as asked already; "OK" when Nexus does not say
// what it changed (SPIKE v0.8).
func unchangedText(path string, named []int, state string, current *int) string {
	if current == nil {
		return "OK"
	}
	named = slices.DeleteFunc(slices.Clone(named), func(v int) bool { return v < 1 })
	msg := "Nothing changed at " + oneLine(path)
	if len(named) > 0 {
		msg = fmt.Sprintf("Nothing changed: %s of %s %s %s", versionsText(named), oneLine(path), isAre(named), state)
	}
	if *current == 0 {
		return msg + "; no version is readable."
	}
	return fmt.Sprintf("%s; version %d is current.", msg, *current)
}

// versionsText is "version 3" or "versions 1, 2".
func versionsText(vs []int) string {
	return fmt.Sprintf("version%s %s", plural(len(vs)), joinInts(vs))
}

func isAre(vs []int) string {
	if len(vs) == 1 {
		return "is"
	}
	return "are"
}

func pronoun(vs []int) string {
	if len(vs) == 1 {
		return "it"
	}
	return "them"
}
