package projections

import (
	"sync"

	"github.com/spikeledger/spike/events"
)

// currentCache remembers, per path, the current version's row as stored —
// the value still sealed under the projection key — so that the hot read
// (a workload fetching its secret) skips two SQLite queries. It holds
// nothing a copy of the database file would not.
//
// Correctness rests on a generation number: Apply bumps it and empties the
// cache after committing anything that may change a secret, and a reader
// stores what it read only if the generation is the one it saw before
// reading, so a row read before a commit can never outlive it.
type currentCache struct {
	mu    sync.Mutex
	gen   uint64
	rows  map[string]cachedRow
	bytes int
}

type cachedRow struct {
	version int
	created int64
	sealed  []byte
}

// Bounds of the cache; past either it starts over.
const (
	maxCachedRows  = 10_000
	maxCachedBytes = 32 << 20
)

func (c *currentCache) get(path string) (cachedRow, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[path]
	return r, c.gen, ok
}

func (c *currentCache) put(gen uint64, path string, r cachedRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.rows == nil || len(c.rows) >= maxCachedRows || c.bytes+len(r.sealed) > maxCachedBytes {
		c.rows, c.bytes = make(map[string]cachedRow), 0
	}
	c.rows[path] = r
	c.bytes += len(r.sealed)
}

// invalidate empties the cache and starts a new generation.
func (c *currentCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.rows, c.bytes = nil, 0
}

// recordsOnly reports whether applying recs changed no secret: they only
// record reads, refusals and cipher uses.
func recordsOnly(recs []prepared) bool {
	for _, r := range recs {
		if !RecordOnly(r.rec.Type) {
			return false
		}
	}
	return true
}

// RecordOnly reports whether an event of type typ only records: a read,
// a denial, a cipher use or a refused request. Applying one adds a row
// to the access history and changes no secret, policy or metadata, so
// nothing a command builds depends on it.
func RecordOnly(typ string) bool {
	switch typ {
	case recordTypes[0], recordTypes[1], recordTypes[2], recordTypes[3]:
		return true
	}
	return false
}

var recordTypes = [...]string{
	(*events.SecretRead)(nil).Type(),
	(*events.AccessDenied)(nil).Type(),
	(*events.CipherUsed)(nil).Type(),
	(*events.RequestRefused)(nil).Type(),
}
