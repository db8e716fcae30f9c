package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/spikeledger/spike/events"
)

// Digest is a SHA-256 over the projection's canonical content: every row
// of every table in key order, with sealed values and policy details
// hashed in clear (their ciphertexts differ run to run because of random
// nonces; their content must not). Live applies, a full rebuild and a
// rebuild after a crash all give the same digest for the same log.
func (p *Projection) Digest(ctx context.Context) ([32]byte, error) {
	h := sha256.New()
	pos := p.position()
	writeField(h, fmt.Appendf(nil, "position %d %x", pos.seq, pos.leaf))
	for _, t := range digestTables {
		writeField(h, []byte(t.name))
		if err := p.digestTable(ctx, h, t); err != nil {
			return [32]byte{}, fmt.Errorf("digest %s: %w", t.name, err)
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

type digestTable struct {
	name  string
	query string
	// open, if set, turns the row's sealed column (the last one) into its
	// clear content.
	open func(p *Projection, row []any) ([]byte, error)
}

var digestTables = []digestTable{
	{name: "secrets",
		query: "SELECT path, version, created_time, deleted_time, destroyed, seq, value FROM secrets ORDER BY path, version",
		open: func(p *Projection, row []any) ([]byte, error) {
			if row[6] == nil {
				return []byte("<none>"), nil
			}
			return p.key.Open(nil, row[6].([]byte), events.ValueAAD(row[0].(string), int(row[1].(int64))))
		}},
	{name: "secret_metadata",
		query: `SELECT path, current_version, oldest_version, max_versions, created_time, updated_time,
			cas_required, delete_version_after, custom_metadata FROM secret_metadata ORDER BY path`},
	{name: "policies",
		query: "SELECT name, created_time, updated_time, seq, details FROM policies ORDER BY name",
		open: func(p *Projection, row []any) ([]byte, error) {
			return p.key.Open(nil, row[4].([]byte), policyAAD(row[0].(string)))
		}},
	{name: "access_history",
		query: historySelect + " ORDER BY h.seq"},
	{name: "access_history_paths",
		query: "SELECT x.seq, tg.name, x.version, x.versions, x.detail FROM access_history_paths x JOIN names tg ON tg.id = x.target ORDER BY x.seq, tg.name"},
	{name: "removed_paths",
		query: "SELECT path, last_version FROM removed_paths ORDER BY path"},
}

func (p *Projection) digestTable(ctx context.Context, h hash.Hash, t digestTable) error {
	rows, err := p.db.QueryContext(ctx, t.query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	row := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range row {
		ptrs[i] = &row[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		last := len(row)
		if t.open != nil {
			last--
		}
		for _, v := range row[:last] {
			writeField(h, fmt.Appendf(nil, "%T:%v", v, v))
		}
		if t.open != nil {
			plain, err := t.open(p, row)
			if err != nil {
				return ErrCorrupt
			}
			writeField(h, plain)
		}
	}
	return rows.Err()
}

// writeField writes one length-prefixed field, so that no two different
// rows can hash alike by shifting bytes between fields.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
