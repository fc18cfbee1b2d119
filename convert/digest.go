package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// orderedDigest is a Sink that passes writes on to a file and computes the
// SHA-256 of the file's bytes while they are written, so the digest is of
// exactly what was written, without reading the file back. Writes come at
// offsets from several goroutines in any order: a write at the hashed end
// is hashed at once, together with the held writes it makes contiguous;
// a write further on is copied and held until then. The engine merges
// chunks in order with a bounded number in flight, which bounds what is
// held. Every byte of the file must be written exactly once.
type orderedDigest struct {
	w Sink

	mu   sync.Mutex
	h    hash.Hash
	next int64 // bytes [0, next) are hashed
	busy bool  // a writer is hashing outside the lock
	held map[int64][]byte
	err  error
}

func newOrderedDigest(w Sink) *orderedDigest {
	return &orderedDigest{w: w, h: sha256.New(), held: map[int64][]byte{}}
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
	switch {
	case off < d.next || dup:
		if d.err == nil {
			d.err = fmt.Errorf("convert: internal error: bytes at offset %d written twice", off)
		}
		return n, nil
	case off != d.next || d.busy:
		d.held[off] = bytes.Clone(p)
		return n, nil
	}
	// Hash outside the lock so other writers only wait to hold their bytes.
	d.busy = true
	for {
		d.mu.Unlock()
		d.h.Write(p)
		d.mu.Lock()
		d.next += int64(len(p))
		q, ok := d.held[d.next]
		if !ok {
			break
		}
		delete(d.held, d.next)
		p = q
	}
	d.busy = false
	return n, nil
}

// Sum returns the hex SHA-256 of a file of size bytes once every byte has
// been written.
func (d *orderedDigest) Sum(size int64) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return "", d.err
	}
	if d.next != size || len(d.held) > 0 {
		return "", fmt.Errorf("convert: internal error: %d of %d bytes written in order (%d writes held)", d.next, size, len(d.held))
	}
	return hex.EncodeToString(d.h.Sum(nil)), nil
}
