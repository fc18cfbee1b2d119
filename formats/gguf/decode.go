package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// decoder reads little-endian GGUF primitives through a buffer, tracking
// the file offset so every error can say where it happened. Every length
// from the file is checked against the bytes left before it sizes anything.
type decoder struct {
	br      *bufio.Reader
	off     int64 // offset of the next unread byte
	size    int64
	file    string
	key     string // context for errors
	tensor  string
	budget  *safeio.Budget // memory left for the decoded header
	scratch [4096]byte
}

func newDecoder(r io.ReaderAt, size int64, file string, budget *safeio.Budget) *decoder {
	return &decoder{
		br:     bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10),
		size:   size,
		file:   file,
		budget: budget,
	}
}

// spend charges n bytes of memory for what, which starts at off, before
// they are allocated.
func (d *decoder) spend(n uint64, off int64, what string) error {
	if n > uint64(d.budget.Limit()) || !d.budget.Spend(int64(n)) {
		return d.errAt(off, "%s: %s", what, d.budget.Exceeded())
	}
	return nil
}

func (d *decoder) remaining() uint64 { return uint64(d.size - d.off) }

// errAt builds a FormatError at off in the current key/tensor context.
func (d *decoder) errAt(off int64, format string, args ...any) *FormatError {
	return &FormatError{File: d.file, Offset: off, Key: d.key, Tensor: d.tensor, Msg: fmt.Sprintf(format, args...)}
}

// need fails unless n more bytes remain in the file.
func (d *decoder) need(n uint64, what string) error {
	if n > d.remaining() {
		return d.errAt(d.off, "truncated: %s needs %d bytes, %d left in the file", what, n, d.remaining())
	}
	return nil
}

// read fills p, which the caller has checked with need.
func (d *decoder) read(p []byte, what string) error {
	start := d.off
	n, err := io.ReadFull(d.br, p)
	d.off += int64(n)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The reader holds fewer bytes than the size it was opened with.
		return d.errAt(d.off, "truncated: %s ends at byte %d, past the readable data", what, start+int64(len(p)))
	}
	return fmt.Errorf("gguf: %s: read %s at byte %d: %w", d.file, what, start, err)
}

func (d *decoder) fixed(n int, what string) ([]byte, error) {
	if err := d.need(uint64(n), what); err != nil {
		return nil, err
	}
	b := d.scratch[:n]
	return b, d.read(b, what)
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.fixed(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.fixed(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a gguf_string: u64 length, then the bytes.
func (d *decoder) str(what string) (string, error) {
	start := d.off
	if d.remaining() < 8 {
		return "", d.errAt(start, "truncated: %s length needs 8 bytes, %d left in the file", what, d.remaining())
	}
	lb := d.scratch[:8]
	if err := d.read(lb, what); err != nil {
		return "", err
	}
	n := binary.LittleEndian.Uint64(lb)
	if n > d.remaining() {
		return "", d.errAt(start, "%s length %d exceeds the %d bytes left in the file", what, n, d.remaining())
	}
	if msg := checkStringLen(n); msg != "" {
		return "", d.errAt(start, "%s: %s", what, msg)
	}
	if err := d.spend(n, start, what); err != nil {
		return "", err
	}
	if n <= uint64(len(d.scratch)) {
		b := d.scratch[:n]
		if err := d.read(b, what); err != nil {
			return "", err
		}
		return string(b), nil
	}
	// Long strings (chat templates) are built in place to avoid a second copy.
	var sb strings.Builder
	sb.Grow(int(n))
	for left := int(n); left > 0; {
		b := d.scratch[:min(left, len(d.scratch))]
		if err := d.read(b, what); err != nil {
			return "", err
		}
		sb.Write(b)
		left -= len(b)
	}
	return sb.String(), nil
}

// value reads a value of type t (already read) and, for arrays, its element
// type and count.
func (d *decoder) value(t ValueType, typeOff int64) (Value, error) {
	if t != TypeArray {
		if msg := checkValueType(t, 0); msg != "" {
			return Value{}, d.errAt(typeOff, "%s", msg)
		}
		x, err := d.scalar(t)
		return Value{Type: t, V: x}, err
	}
	elemOff := d.off
	e, err := d.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(e)
	if msg := checkValueType(t, elem); msg != "" {
		return Value{}, d.errAt(elemOff, "%s", msg)
	}
	countOff := d.off
	n, err := d.u64("array length")
	if err != nil {
		return Value{}, err
	}
	// Strings take at least their 8-byte length prefix each.
	if n > d.remaining()/uint64(elem.size()) {
		return Value{}, d.errAt(countOff, "array of %d %s needs at least %d bytes, %d left in the file", n, elem, n*uint64(elem.size()), d.remaining())
	}
	if msg := checkArrayLen(n); msg != "" {
		return Value{}, d.errAt(countOff, "%s", msg)
	}
	if err := d.spend(n*elem.memSize(), countOff, fmt.Sprintf("array of %d %s", n, elem)); err != nil {
		return Value{}, err
	}
	x, err := d.array(elem, int(n))
	return Value{Type: TypeArray, ArrayType: elem, V: x}, err
}

func (d *decoder) scalar(t ValueType) (any, error) {
	if t == TypeString {
		return d.str("string value")
	}
	off := d.off
	if uint64(t.size()) > d.remaining() {
		return nil, d.errAt(off, "truncated: %s value needs %d bytes, %d left in the file", t, t.size(), d.remaining())
	}
	b := d.scratch[:t.size()]
	if err := d.read(b, "value"); err != nil {
		return nil, err
	}
	x := decodeScalar(t, b)
	if t == TypeBool && b[0] > 1 {
		return nil, d.errAt(off, "bool value is %d, not 0 or 1", b[0])
	}
	return x, nil
}

// decodeScalar converts the little-endian encoding b of one fixed-size
// value of type t.
func decodeScalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeBool:
		return b[0] == 1
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("gguf: decodeScalar of " + t.String())
}

// array reads n elements of type elem into the matching typed slice; the
// caller has checked that the file can hold them.
func (d *decoder) array(elem ValueType, n int) (any, error) {
	le := binary.LittleEndian
	switch elem {
	case TypeUint8:
		return readFixed(d, n, 1, func(b []byte) uint8 { return b[0] })
	case TypeInt8:
		return readFixed(d, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case TypeUint16:
		return readFixed(d, n, 2, le.Uint16)
	case TypeInt16:
		return readFixed(d, n, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case TypeUint32:
		return readFixed(d, n, 4, le.Uint32)
	case TypeInt32:
		return readFixed(d, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case TypeFloat32:
		return readFixed(d, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case TypeUint64:
		return readFixed(d, n, 8, le.Uint64)
	case TypeInt64:
		return readFixed(d, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case TypeFloat64:
		return readFixed(d, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	case TypeBool:
		start := d.off
		raw, err := readFixed(d, n, 1, func(b []byte) uint8 { return b[0] })
		if err != nil {
			return nil, err
		}
		out := make([]bool, n)
		for i, c := range raw {
			if c > 1 {
				return nil, d.errAt(start+int64(i), "bool element %d is %d, not 0 or 1", i, c)
			}
			out[i] = c == 1
		}
		return out, nil
	case TypeString:
		out := make([]string, n)
		for i := range out {
			s, err := d.str("string element")
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	panic("gguf: array of " + elem.String())
}

// readFixed decodes n elements of size bytes each, a buffer at a time.
func readFixed[T any](d *decoder, n, size int, get func([]byte) T) ([]T, error) {
	out := make([]T, n)
	per := len(d.scratch) / size
	for i := 0; i < n; {
		k := min(n-i, per)
		b := d.scratch[:k*size]
		if err := d.read(b, "array elements"); err != nil {
			return nil, err
		}
		for j := range k {
			out[i+j] = get(b[j*size:])
		}
		i += k
	}
	return out, nil
}
