package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// digestFile is what orderedDigest writes through: a Sink it can also read
// back (an *os.File).
type digestFile interface {
	Sink
	io.ReaderAt
}

// holdLimit bounds the bytes an orderedDigest copies while they wait for
// the hash to reach them: the engine's writes in flight fit many times
// over. (A variable so that tests can make it small.)
var holdLimit int64 = 32 << 20

// orderedDigest is a Sink that passes writes on to a file and computes the
// SHA-256 of the file's bytes while they are written, so the digest is of
// exactly what was written. Writes come at offsets from several goroutines
// in any order: a write at the hashed end is hashed at once, together with
// the held writes it makes contiguous; a write further on is copied and
// held until then. The engine merges chunks in order with a bounded
// number in flight, so what is held stays small when the file is written
// front to back, as GGUF files and 16-bit safetensors shards are. A file
// laid out in another order than it is produced (the scales of a packed
// integer layout, which safetensors' dtype order puts after every packed
// weight of the shard) would hold without bound, so past holdLimit a write
// is only noted, and its bytes are read back from the file when the hash
// reaches them: memory stays bounded, and only those bytes are read twice.
// Every byte of the file must be written exactly once.
type orderedDigest struct {
	w digestFile

	mu     sync.Mutex
	h      hash.Hash
	next   int64 // bytes [0, next) are hashed
	busy   bool  // a writer is hashing outside the lock
	held   map[int64][]byte
	holds  int64 // bytes in held, at most limit
	limit  int64
	onDisk map[int64]int64 // writes not held: offset → length
	err    error
	buf    []byte // read-back buffer of the hashing writer
}

func newOrderedDigest(w digestFile) *orderedDigest {
	return &orderedDigest{w: w, h: sha256.New(), held: map[int64][]byte{}, onDisk: map[int64]int64{}, limit: holdLimit}
}

func (d *orderedDigest) Truncate(size int64) error { return d.w.Truncate(size) }

func (d *orderedDigest) WriteAt(p []byte, off int64) (int, error) {
	n, err := d.w.WriteAt(p, off)
	if err != nil {
		return n, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, dup := d.held[off]
	_, dupDisk := d.onDisk[off]
	switch {
	case off < d.next || dup || dupDisk:
		d.fail(fmt.Errorf("convert: internal error: bytes at offset %d written twice", off))
		return n, nil
	case off != d.next || d.busy:
		if d.holds+int64(len(p)) <= d.limit {
			d.held[off] = bytes.Clone(p)
			d.holds += int64(len(p))
		} else {
			d.onDisk[off] = int64(len(p))
		}
		return n, nil
	}
	// Hash outside the lock so other writers only wait to hold their bytes.
	d.busy = true
	at, size := off, int64(len(p))
	for {
		d.mu.Unlock()
		var err error
		if p != nil {
			d.h.Write(p)
		} else {
			err = d.readBack(at, size)
		}
		d.mu.Lock()
		if err != nil {
			d.fail(err)
		}
		d.next += size
		at = d.next
		if q, ok := d.held[at]; ok {
			delete(d.held, at)
			d.holds -= int64(len(q))
			p, size = q, int64(len(q))
			continue
		}
		if s, ok := d.onDisk[at]; ok {
			delete(d.onDisk, at)
			p, size = nil, s
			continue
		}
		break
	}
	d.busy = false
	return n, nil
}

// readBack hashes size bytes of the file from off.
func (d *orderedDigest) readBack(off, size int64) error {
	if d.buf == nil {
		d.buf = make([]byte, 1<<20)
	}
	for size > 0 {
		b := d.buf[:min(size, int64(len(d.buf)))]
		if _, err := d.w.ReadAt(b, off); err != nil {
			return fmt.Errorf("hashing the output: %w", err)
		}
		d.h.Write(b)
		off += int64(len(b))
		size -= int64(len(b))
	}
	return nil
}

func (d *orderedDigest) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Sum returns the hex SHA-256 of a file of size bytes once every byte has
// been written.
func (d *orderedDigest) Sum(size int64) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return "", d.err
	}
	if d.next != size || len(d.held) > 0 || len(d.onDisk) > 0 {
		return "", fmt.Errorf("convert: internal error: %d of %d bytes written in order (%d writes held)", d.next, size, len(d.held)+len(d.onDisk))
	}
	return hex.EncodeToString(d.h.Sum(nil)), nil
}
