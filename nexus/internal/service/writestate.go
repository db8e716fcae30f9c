package service

import (
	"context"
	"slices"

	"github.com/spikeledger/spike/projections"
)

// writeState is what building a put needs to know of a path — whether it
// exists, its settings, its versions and their value keys — kept in
// memory by the command loop so that a put does not read the path's
// metadata back from SQLite. Reading it back was the largest single
// cost of a put.
//
// Only the loop goroutine touches it. A put updates its path's entry once
// its events are durable and applied; every other command that writes
// drops its key's entry, and anything that changes the projection from
// outside the loop (a catch-up) or a failed flush drops them all: an
// entry is either exactly what the projection holds or absent.
type writeState struct {
	paths map[string]*pathState
}

// pathState is a path as a put sees it.
type pathState struct {
	casRequired bool
	maxVersions int
	current     int
	versions    []versionState // ascending, every version the path holds
}

type versionState struct {
	version   int
	valueKey  string // "" when not known: ask the projection
	destroyed bool
}

// maxWriteStates bounds the paths remembered; past it the map starts over.
const maxWriteStates = 100_000

// load returns path's state, reading it from the projection when it is
// not remembered; ok is false for a path that does not exist.
func (w *writeState) load(ctx context.Context, proj *projections.Projection, path string) (st *pathState, ok bool, err error) {
	if st, ok := w.paths[path]; ok {
		return st, true, nil
	}
	meta, err := proj.Metadata(ctx, path)
	if err != nil {
		return nil, false, err
	}
	st = &pathState{casRequired: meta.CASRequired, maxVersions: meta.MaxVersions, current: meta.CurrentVersion, versions: versionStates(meta.Versions)}
	w.remember(path, st)
	return st, true, nil
}

func (w *writeState) remember(path string, st *pathState) {
	if w.paths == nil || len(w.paths) >= maxWriteStates {
		w.paths = make(map[string]*pathState)
	}
	w.paths[path] = st
}

func (w *writeState) forget(path string) { delete(w.paths, path) }

func (w *writeState) forgetAll() { w.paths = nil }

// written records a durable put: version with its value key, the pruned
// versions gone, and (for a new path) the settings it was created with.
func (w *writeState) written(path string, prev *pathState, version int, valueKey string, pruned []int, maxVersions int) {
	st := &pathState{maxVersions: maxVersions, current: version}
	if prev != nil {
		st.casRequired = prev.casRequired
		for _, v := range prev.versions {
			if !slices.Contains(pruned, v.version) {
				st.versions = append(st.versions, v)
			}
		}
	}
	st.versions = append(st.versions, versionState{version: version, valueKey: valueKey})
	w.remember(path, st)
}

// versionStates turns the projection's versions into a put's view, value
// keys not yet known.
func versionStates(infos []projections.VersionInfo) []versionState {
	out := make([]versionState, len(infos))
	for i, v := range infos {
		out[i] = versionState{version: v.Version, destroyed: v.Destroyed}
	}
	return out
}
