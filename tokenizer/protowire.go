package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Protocol buffer wire types (the low three bits of a field key).
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireStart   = 3 // group start, deprecated
	wireEnd     = 4 // group end, deprecated
	wireFixed32 = 5
)

// wireReader walks one protobuf message held in buf. base is the offset of
// buf[0] in the file so errors point at absolute byte positions. Every read
// is bounds-checked; nothing is allocated from a length before that length
// has been checked against the bytes that remain.
type wireReader struct {
	file string
	buf  []byte
	pos  int
	base int64
}

// field is one decoded key/value. For wireBytes, data aliases the input.
type field struct {
	num    uint64
	wire   int
	u      uint64 // varint, fixed32 and fixed64 payloads
	data   []byte // length-delimited payload
	offset int64  // absolute offset of the key
	dataAt int64  // absolute offset of data[0] (wireBytes only)
}

func (r *wireReader) errf(at int64, format string, args ...any) error {
	return &FormatError{File: r.file, Offset: at, Msg: fmt.Sprintf(format, args...)}
}

func (r *wireReader) done() bool { return r.pos >= len(r.buf) }

// varint decodes a base-128 varint whose value fits in 64 bits (so at most
// 10 bytes, the tenth being 0 or 1).
func (r *wireReader) varint() (uint64, error) {
	start := r.pos
	var v uint64
	for i := 0; ; i++ {
		if r.pos >= len(r.buf) {
			return 0, r.errf(r.base+int64(start), "truncated varint")
		}
		b := r.buf[r.pos]
		r.pos++
		if i == 9 && b > 1 {
			return 0, r.errf(r.base+int64(start), "varint overflows 64 bits")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
}

// next reads the next field. Group wire types are rejected: SentencePiece
// models never contain them and skipping them correctly needs unbounded
// nesting.
func (r *wireReader) next() (field, error) {
	at := r.base + int64(r.pos)
	key, err := r.varint()
	if err != nil {
		return field{}, err
	}
	f := field{num: key >> 3, wire: int(key & 7), offset: at}
	if f.num == 0 || f.num > math.MaxInt32>>2 {
		return field{}, r.errf(at, "invalid field number %d", f.num)
	}
	switch f.wire {
	case wireVarint:
		f.u, err = r.varint()
		if err != nil {
			return field{}, err
		}
	case wireFixed64:
		if len(r.buf)-r.pos < 8 {
			return field{}, r.errf(r.base+int64(r.pos), "field %d: truncated fixed64", f.num)
		}
		f.u = binary.LittleEndian.Uint64(r.buf[r.pos:])
		r.pos += 8
	case wireFixed32:
		if len(r.buf)-r.pos < 4 {
			return field{}, r.errf(r.base+int64(r.pos), "field %d: truncated fixed32", f.num)
		}
		f.u = uint64(binary.LittleEndian.Uint32(r.buf[r.pos:]))
		r.pos += 4
	case wireBytes:
		lenAt := r.base + int64(r.pos)
		n, err := r.varint()
		if err != nil {
			return field{}, err
		}
		if n > uint64(len(r.buf)-r.pos) {
			return field{}, r.errf(lenAt, "field %d: length %d exceeds the %d bytes left", f.num, n, len(r.buf)-r.pos)
		}
		f.dataAt = r.base + int64(r.pos)
		f.data = r.buf[r.pos : r.pos+int(n)]
		r.pos += int(n)
	default:
		return field{}, r.errf(at, "field %d: unsupported wire type %d", f.num, f.wire)
	}
	return f, nil
}

// sub returns a reader over a length-delimited field's payload.
func (r *wireReader) sub(f field) *wireReader {
	return &wireReader{file: r.file, buf: f.data, base: f.dataAt}
}

// want checks a field's wire type against the schema.
func (r *wireReader) want(f field, wire int, name string) error {
	if f.wire != wire {
		return r.errf(f.offset, "%s (field %d): wire type %d, want %d", name, f.num, f.wire, wire)
	}
	return nil
}

// int32Value interprets a varint as a proto int32 (negative values are
// sign-extended to 64 bits on the wire).
func int32Value(u uint64) (int32, bool) {
	v := int64(u)
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

// wireWriter builds a protobuf message; used to write tokenizer.model.
type wireWriter struct{ buf []byte }

func (w *wireWriter) key(num, wire int) {
	w.buf = binary.AppendUvarint(w.buf, uint64(num)<<3|uint64(wire))
}

func (w *wireWriter) varint(num int, v uint64) {
	w.key(num, wireVarint)
	w.buf = binary.AppendUvarint(w.buf, v)
}

func (w *wireWriter) int32(num int, v int32) { w.varint(num, uint64(int64(v))) }

func (w *wireWriter) bool(num int, v bool) {
	var u uint64
	if v {
		u = 1
	}
	w.varint(num, u)
}

func (w *wireWriter) float(num int, v float32) {
	w.key(num, wireFixed32)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
}

func (w *wireWriter) bytes(num int, b []byte) {
	w.key(num, wireBytes)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(b)))
	w.buf = append(w.buf, b...)
}

func (w *wireWriter) string(num int, s string) { w.bytes(num, []byte(s)) }
