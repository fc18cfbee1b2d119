package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Layout is a complete plan of a GGUF v3 file: the header bytes and where
// every tensor's data goes. It is computed before any tensor data exists, so
// data can be written at fixed offsets in any order:
//
//	f.Truncate(l.Size())              // zero-filled, so padding is done
//	f.WriteAt(l.Header(), 0)
//	f.WriteAt(blob_i, l.TensorOffset(i)) // concurrently, len(blob_i) == Tensors()[i].Size()
//
// which gives the same bytes as WriteFile. A Layout is immutable and safe
// for concurrent use.
type Layout struct {
	kv         []KV
	tensors    []TensorInfo
	alignment  uint64
	header     []byte // through the padding before the data section
	infoEnd    int64  // end of the tensor infos, where the padding starts
	dataOffset int64
	size       int64
}

// NewLayout validates kv and tensors with the rules the reader applies and
// lays them out in the order given. It adds no metadata: an alignment other
// than DefaultAlignment must also be stated by a general.alignment UINT32
// in kv, and a general.alignment in kv must equal alignment. Tensor offsets
// in tensors are ignored and recomputed: contiguous, each blob padded to
// the alignment, the last one included. Errors are *FormatError wrapping
// ErrFormat, naming the key or tensor.
func NewLayout(kv []KV, tensors []TensorInfo, alignment uint32) (*Layout, error) {
	kv = slices.Clone(kv)
	tensors = slices.Clone(tensors)
	for i := range tensors {
		tensors[i].Dims = slices.Clone(tensors[i].Dims)
	}
	h, bad := validate(kv, tensors, true)
	if bad != nil {
		e := &FormatError{Offset: -1, Msg: bad.msg}
		if bad.kv >= 0 {
			e.Key = kv[bad.kv].Key
		}
		if bad.tensor >= 0 {
			e.Tensor = tensors[bad.tensor].Name
		}
		return nil, e
	}
	if h.alignment != uint64(alignment) {
		msg := fmt.Sprintf("alignment %d needs a %s uint32 KV of the same value", alignment, KeyAlignment)
		if hasKey(kv, KeyAlignment) {
			msg = fmt.Sprintf("alignment %d differs from %s = %d", alignment, KeyAlignment, h.alignment)
		}
		return nil, &FormatError{Offset: -1, Key: KeyAlignment, Msg: msg}
	}

	var e encoder
	e.bytes([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kv)))
	for _, p := range kv {
		e.str(p.Key)
		e.value(p.Value)
	}
	for _, t := range tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	infoEnd := len(e.b)
	dataOffset := pad(uint64(infoEnd), h.alignment)
	if h.dataSize > math.MaxInt64-dataOffset {
		return nil, &FormatError{Offset: -1, Msg: "file size exceeds 2^63 bytes"}
	}
	e.b = append(e.b, make([]byte, dataOffset-uint64(infoEnd))...)
	return &Layout{
		kv:         kv,
		tensors:    tensors,
		alignment:  h.alignment,
		header:     e.b,
		infoEnd:    int64(infoEnd),
		dataOffset: int64(dataOffset),
		size:       int64(dataOffset + h.dataSize),
	}, nil
}

func hasKey(kv []KV, key string) bool {
	return slices.ContainsFunc(kv, func(p KV) bool { return p.Key == key })
}

// Header returns a copy of the bytes from the start of the file to the data
// section, padding included.
func (l *Layout) Header() []byte { return slices.Clone(l.header) }

// Tensors returns the tensor infos with their offsets (relative to the data
// section).
func (l *Layout) Tensors() []TensorInfo {
	out := slices.Clone(l.tensors)
	for i := range out {
		out[i].Dims = slices.Clone(out[i].Dims)
	}
	return out
}

// KV returns the metadata in file order. The values are shared with the
// Layout and must not be modified.
func (l *Layout) KV() []KV { return slices.Clone(l.kv) }

// Alignment is the data alignment in bytes.
func (l *Layout) Alignment() uint64 { return l.alignment }

// DataOffset is the absolute offset of the data section.
func (l *Layout) DataOffset() int64 { return l.dataOffset }

// TensorOffset is the absolute file offset of tensor i's data.
func (l *Layout) TensorOffset(i int) int64 { return l.dataOffset + int64(l.tensors[i].Offset) }

// Size is the size of the whole file, including the padding after the last
// tensor.
func (l *Layout) Size() int64 { return l.size }

// encoder appends little-endian GGUF primitives to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) bytes(p []byte) { e.b = append(e.b, p...) }
func (e *encoder) u8(v uint8)     { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16)   { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.b = append(e.b, s...)
}

// value writes a validated value: its type id, then the payload.
func (e *encoder) value(v Value) {
	e.u32(uint32(v.Type))
	if v.Type != TypeArray {
		e.scalar(v.V)
		return
	}
	e.u32(uint32(v.ArrayType))
	e.u64(uint64(arrayLen(v.V)))
	switch s := v.V.(type) {
	case []uint8:
		e.bytes(s)
	case []int8:
		for _, x := range s {
			e.u8(uint8(x))
		}
	case []uint16:
		for _, x := range s {
			e.u16(x)
		}
	case []int16:
		for _, x := range s {
			e.u16(uint16(x))
		}
	case []uint32:
		for _, x := range s {
			e.u32(x)
		}
	case []int32:
		for _, x := range s {
			e.u32(uint32(x))
		}
	case []float32:
		for _, x := range s {
			e.u32(math.Float32bits(x))
		}
	case []bool:
		for _, x := range s {
			e.bool(x)
		}
	case []string:
		for _, x := range s {
			e.str(x)
		}
	case []uint64:
		for _, x := range s {
			e.u64(x)
		}
	case []int64:
		for _, x := range s {
			e.u64(uint64(x))
		}
	case []float64:
		for _, x := range s {
			e.u64(math.Float64bits(x))
		}
	}
}

func (e *encoder) bool(x bool) {
	if x {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) scalar(x any) {
	switch x := x.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		e.bool(x)
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	default:
		panic(fmt.Sprintf("gguf: encode %T", x))
	}
}
