package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Layout is the complete plan of a safetensors file: the encoded header and
// where each tensor's data goes. It is computed before any data is written,
// so tensors can be written in order (WriteFile) or concurrently at their
// offsets (for example through io.NewOffsetWriter on an *os.File, after
// writing Header at offset 0). A Layout is immutable and safe to share.
type Layout struct {
	header  []byte
	tensors []TensorInfo
	byName  map[string]int
}

// NewLayout validates tensors and places them as the reference serializer
// (safetensors' prepare) does: sorted by dtype in descending enum order
// (U64, I64, F64, F32, U32, I32, BF16, F16, U16, I16, F8_E4M3, F8_E5M2, I8,
// U8, BOOL; that is, descending alignment), then by name, packed
// contiguously from offset 0. Begin and End of the input are ignored.
//
// The header is compact JSON with "__metadata__" first (its keys sorted;
// omitted when metadata is nil, written as {} when empty but non-nil),
// then the tensors in data order, each as
// {"dtype":...,"shape":[...],"data_offsets":[b,e]}, padded with spaces to a
// multiple of 8 bytes so every tensor is naturally aligned. For the same
// tensors this is byte-identical to what the safetensors library writes.
func NewLayout(metadata map[string]string, tensors []TensorInfo) (*Layout, error) {
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("safetensors: metadata %q: not valid UTF-8", k)
		}
	}
	l := &Layout{
		tensors: make([]TensorInfo, len(tensors)),
		byName:  make(map[string]int, len(tensors)),
	}
	for i, t := range tensors {
		switch {
		case t.Name == "" || t.Name == "__metadata__":
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("safetensors: tensor %q: name is not valid UTF-8", t.Name)
		case !t.DType.Known():
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if _, dup := l.byName[t.Name]; dup {
			return nil, fmt.Errorf("safetensors: tensor %q: duplicate name", t.Name)
		}
		l.byName[t.Name] = i
		if _, ok := byteSize(t.DType, t.Shape); !ok {
			return nil, fmt.Errorf("safetensors: tensor %q: invalid shape %v for %s (negative or overflowing)", t.Name, t.Shape, t.DType)
		}
		t.Shape = slices.Clone(t.Shape)
		if t.Shape == nil {
			t.Shape = []int64{}
		}
		l.tensors[i] = t
	}
	slices.SortFunc(l.tensors, func(a, b TensorInfo) int {
		if ra, rb := a.DType.rank(), b.DType.rank(); ra != rb {
			return rb - ra
		}
		return strings.Compare(a.Name, b.Name)
	})
	var off int64
	for i := range l.tensors {
		t := &l.tensors[i]
		size, _ := byteSize(t.DType, t.Shape)
		if off > math.MaxInt64-size {
			return nil, fmt.Errorf("safetensors: tensor %q: data section exceeds 2^63 bytes", t.Name)
		}
		t.Begin, t.End = off, off+size
		off += size
		l.byName[t.Name] = i
	}
	l.header = encodeHeader(metadata, l.tensors)
	if n := len(l.header) - 8; n > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header is %d bytes, readers accept at most %d", n, MaxHeaderSize)
	}
	if off > math.MaxInt64-int64(len(l.header)) {
		return nil, fmt.Errorf("safetensors: file size exceeds 2^63 bytes")
	}
	return l, nil
}

// encodeHeader writes the length field and the padded JSON.
func encodeHeader(metadata map[string]string, tensors []TensorInfo) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 8)) // length, filled in below
	b.WriteByte('{')
	first := true
	if metadata != nil {
		b.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
		first = false
	}
	var num []byte
	for i := range tensors {
		t := &tensors[i]
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			num = strconv.AppendInt(num[:0], d, 10)
			b.Write(num)
		}
		b.WriteString(`],"data_offsets":[`)
		num = strconv.AppendInt(num[:0], t.Begin, 10)
		num = append(num, ',')
		num = strconv.AppendInt(num, t.End, 10)
		b.Write(num)
		b.WriteString("]}")
	}
	b.WriteByte('}')
	for (b.Len()-8)%8 != 0 {
		b.WriteByte(' ')
	}
	out := b.Bytes()
	binary.LittleEndian.PutUint64(out, uint64(len(out)-8))
	return out
}

// writeJSONString escapes s as serde_json does: only '"', '\\' and control
// characters, with \u00xx for controls that have no short form.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// Header returns the bytes that start the file: the 8-byte little-endian
// length followed by the padded JSON header. The slice is a copy.
func (l *Layout) Header() []byte { return slices.Clone(l.header) }

// Tensors returns the placed tensors in data order, as a deep copy.
func (l *Layout) Tensors() []TensorInfo {
	out := slices.Clone(l.tensors)
	for i := range out {
		out[i].Shape = slices.Clone(out[i].Shape)
	}
	return out
}

// DataOffset returns the absolute offset of the data section.
func (l *Layout) DataOffset() int64 { return int64(len(l.header)) }

// Size returns the total file size.
func (l *Layout) Size() int64 {
	if len(l.tensors) == 0 {
		return l.DataOffset()
	}
	return l.DataOffset() + l.tensors[len(l.tensors)-1].End
}

// Offset returns the absolute file offset of the named tensor's data.
func (l *Layout) Offset(name string) (int64, bool) {
	i, ok := l.byName[name]
	if !ok {
		return 0, false
	}
	return l.DataOffset() + l.tensors[i].Begin, true
}

// Lookup returns the placed tensor with the given name.
func (l *Layout) Lookup(name string) (TensorInfo, bool) {
	i, ok := l.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := l.tensors[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}
