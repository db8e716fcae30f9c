package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed sql/*.sql
var files embed.FS

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns every migration, in order. Numbers start at 1 and have no
// gaps; a build with a gap does not start (see TestMigrationsNumbered).
func All() ([]Migration, error) {
	ents, err := fs.ReadDir(files, "sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []Migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migrations: file %s is not named NNNN_name.sql", e.Name())
		}
		b, err := files.ReadFile("sql/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: expected version %d, found %s", i+1, m.Name)
		}
	}
	return out, nil
}

// Rederive is the oldest schema version whose rows this build derives
// from events as it derives them now. A projection database upgraded
// from an older version holds rows an older build derived — history rows
// naming only the first of several versions, restores without their
// paths — that no migration can fill in from the database alone: it must
// be rebuilt from the log, not caught up. Raise it with any migration
// that changes what applying an event writes.
const Rederive = 6

// Latest is the schema version this build creates.
func Latest() int {
	all, err := All()
	if err != nil {
		return 0
	}
	return len(all)
}

// Apply brings db to the latest schema, each migration in its own
// transaction together with the new user_version, so a crash leaves the
// database at a whole version. It refuses a database whose version is
// newer than this build knows. It returns the version found and the
// version now.
func Apply(ctx context.Context, db *sql.DB) (from, to int, err error) {
	return ApplyUpTo(ctx, db, -1)
}

// ApplyUpTo is Apply stopping at version target (-1 for the latest); tests
// use it to build databases as earlier releases left them.
func ApplyUpTo(ctx context.Context, db *sql.DB, target int) (from, to int, err error) {
	all, err := All()
	if err != nil {
		return 0, 0, err
	}
	if target < 0 || target > len(all) {
		target = len(all)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	if from > len(all) {
		return from, from, fmt.Errorf("projection database has schema version %d, newer than this build's %d: upgrade spike, or delete the projection database to rebuild it from the log", from, len(all))
	}
	if target <= from {
		return from, from, nil // already there (or past it): nothing to undo
	}
	for _, m := range all[from:target] {
		if err := applyOne(ctx, db, m); err != nil {
			return from, m.Version - 1, err
		}
	}
	return from, max(from, target), nil
}

func applyOne(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	// PRAGMA takes no bound parameters; the version is an int we control.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		return fmt.Errorf("migration %s: set version: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return nil
}
