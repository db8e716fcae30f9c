package projections

import (
	"context"
	"database/sql"
	"fmt"
)

// keyCheckAAD binds the key check to its purpose: a projection opened
// with a different key (the root key changed) fails it and rebuilds.
const keyCheckAAD = "spike/projections/keycheck/v1"

type state struct {
	origin   string
	seq      uint64
	leaf     [32]byte
	keyCheck []byte
}

func readState(ctx context.Context, db *sql.DB) (state, error) {
	var st state
	var leaf []byte
	err := db.QueryRowContext(ctx, "SELECT log_origin, last_seq, last_leaf, key_check FROM projection_state WHERE id = 1").
		Scan(&st.origin, &st.seq, &leaf, &st.keyCheck)
	if err != nil {
		return st, err
	}
	if len(leaf) != len(st.leaf) {
		return st, fmt.Errorf("last leaf hash is %d bytes", len(leaf))
	}
	copy(st.leaf[:], leaf)
	return st, nil
}

// initState writes the state row of an empty projection.
func (p *Projection) initState(ctx context.Context) error {
	return initStateDB(ctx, p.db, p)
}

func initStateDB(ctx context.Context, db *sql.DB, p *Projection) error {
	check := p.key.Seal(nil, []byte("spike projection"), []byte(keyCheckAAD))
	_, err := db.ExecContext(ctx,
		"INSERT INTO projection_state (id, log_origin, last_seq, last_leaf, key_check) VALUES (1, ?, 0, ?, ?)",
		p.log.Origin(), make([]byte, 32), check)
	if err != nil {
		return fmt.Errorf("projection state: %w", err)
	}
	return nil
}

// positionUpdate records the position of the last event applied.
const positionUpdate = "UPDATE projection_state SET last_seq = ?, last_leaf = ? WHERE id = 1"
