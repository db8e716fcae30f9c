package eventlog

import "encoding/binary"

// The bbolt file holds these buckets. Keys of the append-only buckets are
// big-endian integers, so bbolt's fast path (appending at the right edge
// of the B+tree) applies and FillPercent can be 1.
var (
	bucketMeta        = []byte("meta")        // string keys below
	bucketEvents      = []byte("events")      // seq → envelope
	bucketHashes      = []byte("hashes")      // tlog stored-hash index → 32-byte hash
	bucketCheckpoints = []byte("checkpoints") // tree size → signed note
	bucketDataKeys    = []byte("datakeys")    // key id → data key record
	bucketValueKeys   = []byte("valuekeys")   // value key id → wrapped key, or a one-byte tombstone once destroyed
	bucketTypeIndex   = []byte("typeindex")   // seq → type, for events of the indexed types (metaIndexed)
)

var allBuckets = [][]byte{bucketMeta, bucketEvents, bucketHashes, bucketCheckpoints, bucketDataKeys, bucketValueKeys, bucketTypeIndex}

// Keys in bucketMeta.
var (
	metaFormat     = []byte("format")      // uint32: file format version
	metaID         = []byte("id")          // 16 random bytes: the log's identity
	metaKeyCheck   = []byte("keycheck")    // sealed under the KEK: proves the root key
	metaCurrentKey = []byte("current-key") // uint32: id of the data key sealing new events
	metaSigner     = []byte("signer")      // checkpoint signing seed, wrapped by the KEK
	metaVerifier   = []byte("verifier")    // note verifier key (public), in clear
	metaIndexed    = []byte("indexed")     // the types bucketTypeIndex holds, sorted, newline-separated
	metaRaftIndex  = []byte("raft-index")  // uint64: the last Raft entry a replicated log applied
)

// formatVersion is the version of the file layout this code writes. Open
// refuses a file with a newer version rather than misreading it.
const formatVersion = 1

func u64key(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func u32key(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
