package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The journal is where an append becomes durable. bbolt makes a commit
// durable with two fdatasyncs (pages, then meta) plus the page writes of
// a copy-on-write B+tree; the journal makes a batch durable with one
// write into a preallocated file and one fdatasync, which on this kind of
// machine is the whole cost of an append. The flusher then moves what
// the journal holds into bbolt, many batches per bbolt commit, and bbolt
// stays the log's file format: once flushed, the journal's copy is
// obsolete, and the journal is only read at Open, to redo what a crash
// kept out of bbolt.
//
// Layout: a header block (magic, format, the log's identity) and then
// records, each
//
//	length uint32  bytes after the checksum
//	crc    uint32  CRC-32C of those bytes
//	first  uint64  seq of its first event
//	count  uint32  events in it
//	count × { envelope, new value keys (id, wrapped key), destroyed ids }
//
// with every variable-length field preceded by its uint32 length. The
// writer fills the file from just past the header to its end, then, once
// everything written is in bbolt, starts again from the top. The file is
// filled with zeros when created, so an fdatasync never has to allocate
// blocks, and reading stops at the first record that is zero, torn or
// does not checksum.

const (
	journalMagic     = "spike-journal\x00\x00\x01"
	journalHeaderLen = 4096
	recordPrefix     = 4 + 4 + 8 + 4
	// DefaultJournalSize is the journal file's size unless Options say
	// otherwise: room for tens of thousands of events between restarts
	// from the top.
	DefaultJournalSize = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journal is the open journal file. Only the writer goroutine writes it.
type journal struct {
	f      *os.File
	size   int64 // file size; records live in [journalHeaderLen, size)
	off    int64 // where the next record goes
	sync   func(*os.File) error
	broken error // set by a failed write or sync: no further appends
	buf    []byte
}

// journalPath is where the journal of the log at path lives.
func journalPath(path string) string { return path + ".journal" }

// openJournal opens the journal at path, creating and preallocating it
// if it does not exist. A journal of another log, or of another size, is
// refused: it would mean a file was copied in from elsewhere.
func openJournal(path string, logID []byte, size int64, sync func(*os.File) error) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return createJournal(path, logID, size, sync)
	}
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &journal{f: f, sync: sync}
	if err := j.readHeader(logID); err != nil {
		f.Close()
		return nil, err
	}
	if fi, err := f.Stat(); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	} else {
		j.size = fi.Size()
	}
	j.off = journalHeaderLen
	return j, nil
}

func createJournal(path string, logID []byte, size int64, sync func(*os.File) error) (*journal, error) {
	// Written under a temporary name and renamed, so a crash while
	// preallocating leaves no half-made journal behind.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	hdr := make([]byte, journalHeaderLen)
	copy(hdr, journalMagic)
	copy(hdr[len(journalMagic):], logID)
	zeros := make([]byte, 1<<20)
	err = writeFull(f, hdr)
	for n := int64(journalHeaderLen); err == nil && n < size; n += int64(len(zeros)) {
		err = writeFull(f, zeros[:min(int64(len(zeros)), size-n)])
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("create journal: %w", err)
	}
	return &journal{f: f, size: size, off: journalHeaderLen, sync: sync}, nil
}

func writeFull(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

func (j *journal) readHeader(logID []byte) error {
	hdr := make([]byte, len(journalMagic)+len(logID))
	if _, err := j.f.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("journal header: %w", err)
	}
	if string(hdr[:len(journalMagic)]) != journalMagic {
		return fmt.Errorf("journal %s is not a spike journal of this version: %w", j.f.Name(), ErrMalformed)
	}
	if !bytes.Equal(hdr[len(journalMagic):], logID) {
		return fmt.Errorf("journal %s belongs to another event log; move it away if events.db is the file to keep: %w", j.f.Name(), ErrTampered)
	}
	return nil
}

// journalEvent is what the journal keeps of one event: enough to redo
// its bbolt writes without any key.
type journalEvent struct {
	env       []byte
	newKeys   []keyPut // wrapped value keys
	destroyed []ValueKeyID
}

type keyPut struct {
	id      ValueKeyID
	wrapped []byte
}

// encodeRecord appends the record of events first.. to dst.
func encodeRecord(dst []byte, first uint64, evs []journalEvent) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...) // length and checksum, filled below
	dst = binary.BigEndian.AppendUint64(dst, first)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(evs)))
	for _, e := range evs {
		dst = appendBytes(dst, e.env)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.newKeys)))
		for _, k := range e.newKeys {
			dst = append(dst, k.id[:]...)
			dst = appendBytes(dst, k.wrapped)
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.destroyed)))
		for _, id := range e.destroyed {
			dst = append(dst, id[:]...)
		}
	}
	body := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// errEndOfJournal marks where the valid records end: zeros, a torn
// write, or a checksum that does not match.
var errEndOfJournal = errors.New("end of journal")

// decodeRecord reads the record at the start of b. It returns the record,
// its length in b, or errEndOfJournal if b does not start with a whole,
// checksummed record.
func decodeJournalRecord(b []byte) (first uint64, evs []journalEvent, n int, err error) {
	if len(b) < recordPrefix {
		return 0, nil, 0, errEndOfJournal
	}
	length := binary.BigEndian.Uint32(b)
	if length < recordPrefix-8 || uint64(length) > uint64(len(b)-8) {
		return 0, nil, 0, errEndOfJournal
	}
	body := b[8 : 8+length]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return 0, nil, 0, errEndOfJournal
	}
	// From here on the bytes are what the writer wrote, so a record that
	// does not parse was not torn: it was made or altered by something
	// else.
	d := decoder{b: body}
	first = d.u64()
	count := d.u32()
	if first == 0 || count == 0 || uint64(count) > uint64(len(body))/4 {
		return 0, nil, 0, fmt.Errorf("journal record: bad header: %w", ErrTampered)
	}
	evs = make([]journalEvent, 0, count)
	for range count {
		var e journalEvent
		e.env = d.bytes()
		for range d.count(len(ValueKeyID{}) + 4) {
			var k keyPut
			k.id = d.id()
			k.wrapped = d.bytes()
			e.newKeys = append(e.newKeys, k)
		}
		for range d.count(len(ValueKeyID{})) {
			e.destroyed = append(e.destroyed, d.id())
		}
		evs = append(evs, e)
	}
	if d.err != nil || len(d.b) != 0 {
		return 0, nil, 0, fmt.Errorf("journal record at seq %d does not parse: %w", first, ErrTampered)
	}
	return first, evs, int(8 + length), nil
}

// decoder reads big-endian fields, remembering the first overrun.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.err = ErrMalformed
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) bytes() []byte { return d.take(int(d.u32())) }

// count reads an element count, refusing one whose elements (each at
// least min bytes) could not fit in what is left.
func (d *decoder) count(min int) int {
	n := d.u32()
	if uint64(n)*uint64(min) > uint64(len(d.b)) {
		d.err = ErrMalformed
		return 0
	}
	return int(n)
}

func (d *decoder) id() (id ValueKeyID) {
	copy(id[:], d.take(len(id)))
	return id
}

// fits reports whether a record of n bytes fits after what is written.
func (j *journal) fits(n int) bool { return j.off+int64(n) <= j.size }

// capacity is the largest record the journal can hold at all.
func (j *journal) capacity() int { return int(j.size - journalHeaderLen) }

// rewind starts writing from the top again. The caller guarantees that
// every record written so far is in bbolt.
func (j *journal) rewind() { j.off = journalHeaderLen }

// write makes rec durable at the current position. Any failure breaks
// the journal for good: after a failed fdatasync the kernel may have
// dropped the dirty pages and reported the error once, so whether the
// bytes are on disk cannot be known, and the only safe answer to every
// later append is an error (the process must restart and replay).
func (j *journal) write(rec []byte) error {
	if j.broken != nil {
		return j.broken
	}
	if _, err := j.f.WriteAt(rec, j.off); err != nil {
		j.broken = fmt.Errorf("journal write: %w (restart Nexus to recover)", err)
		return j.broken
	}
	if err := j.sync(j.f); err != nil {
		j.broken = fmt.Errorf("journal sync: %w (restart Nexus to recover)", err)
		return j.broken
	}
	j.off += int64(len(rec))
	return nil
}

// records reads every valid record from the top, in file order, calling
// fn for each. It stops at the end of the valid records.
func (j *journal) records(fn func(first uint64, evs []journalEvent) error) error {
	data := make([]byte, j.size-journalHeaderLen)
	if _, err := j.f.ReadAt(data, journalHeaderLen); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read journal: %w", err)
	}
	for len(data) > 0 {
		first, evs, n, err := decodeJournalRecord(data)
		if errors.Is(err, errEndOfJournal) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(first, evs); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// syncDir makes a rename in path's directory durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
