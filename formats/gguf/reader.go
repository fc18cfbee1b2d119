package gguf

import (
	"fmt"
	"io"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/safeio"
)

// File is a decoded GGUF header. KV and Tensors are in file order. Tensor
// data stays in the file; Section reads it. A File is safe for concurrent
// use once opened, as long as its fields are not modified.
type File struct {
	Name       string // as given to NewFile or Open, for messages
	Version    uint32
	KV         []KV
	Tensors    []TensorInfo
	Alignment  uint64
	DataOffset int64 // absolute offset of the data section (may equal or pass Size if there are no tensors)
	Size       int64 // file size

	r       io.ReaderAt
	closer  io.Closer
	keys    map[string]int
	tensors map[string]int
}

// Smallest encodings, used to bound counts before allocating: a KV is a key
// length, a type and a one-byte value; a tensor info is a name length,
// n_dims, a type and an offset.
const (
	minKVSize         = 8 + 4 + 1
	minTensorInfoSize = 8 + 4 + 4 + 8
	maxPrealloc       = 1 << 16
)

// Memory charged to the metadata budget for each entry before its strings
// and arrays: the KV or TensorInfo itself, its offset, its slots in the
// lookup maps and in validate's, with the maps' overhead.
const (
	kvEntryCost     = 192
	tensorEntryCost = 256
)

// Open opens and decodes the GGUF file at path. Close releases it.
func Open(path string) (*File, error) {
	fh, st, err := safeio.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := NewFile(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Close closes the underlying file if the File came from Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// NewFile decodes the GGUF header held by r, which is size bytes long; name
// is used in error messages. Errors are *FormatError wrapping ErrFormat or
// ErrUnsupported, except I/O errors from r, which are wrapped as they are.
//
// The memory spent on the header's tables is bounded by
// safeio.MetadataBudget whatever the counts and lengths the file claims:
// a header that needs more is refused before it is allocated.
func NewFile(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < 0 {
		return nil, &FormatError{File: name, Offset: -1, Msg: fmt.Sprintf("negative file size %d", size)}
	}
	d := newDecoder(r, size, name, safeio.NewBudget(safeio.MetadataBudget))
	version, err := readPreamble(d)
	if err != nil {
		return nil, err
	}

	countsOff := d.off
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	left := d.remaining()
	if nTensors > left/minTensorInfoSize || nKV > left/minKVSize ||
		nTensors*minTensorInfoSize+nKV*minKVSize > left {
		return nil, d.errAt(countsOff, "%d tensors and %d metadata pairs cannot fit in the %d bytes left in the file", nTensors, nKV, left)
	}
	limit := uint64(d.budget.Limit())
	if nKV > limit/kvEntryCost || nTensors > limit/tensorEntryCost ||
		!d.budget.Spend(int64(nKV*kvEntryCost+nTensors*tensorEntryCost)) {
		return nil, d.errAt(countsOff, "%d tensors and %d metadata pairs: %s", nTensors, nKV, d.budget.Exceeded())
	}

	kvs := make([]KV, 0, min(nKV, maxPrealloc))
	kvOff := make([]int64, 0, min(nKV, maxPrealloc))
	keys := make(map[string]int, min(nKV, maxPrealloc))
	for i := range int(nKV) {
		off := d.off
		kv, err := readKV(d)
		if err != nil {
			return nil, err
		}
		// Checked as they are read, so that a file of empty or repeated
		// keys is refused at the first one.
		if kv.Key == "" {
			return nil, d.errAt(off, "key %d is empty", i)
		}
		if _, dup := keys[kv.Key]; dup {
			return nil, &FormatError{File: name, Offset: off, Key: kv.Key, Msg: "duplicate key"}
		}
		keys[kv.Key] = i
		kvOff = append(kvOff, off)
		kvs = append(kvs, kv)
	}
	d.key = ""

	infos := make([]TensorInfo, 0, min(nTensors, maxPrealloc))
	infoOff := make([]int64, 0, min(nTensors, maxPrealloc))
	names := make(map[string]int, min(nTensors, maxPrealloc))
	for i := range int(nTensors) {
		off := d.off
		t, err := readTensorInfo(d)
		if err != nil {
			return nil, err
		}
		if _, dup := names[t.Name]; dup {
			return nil, &FormatError{File: name, Offset: off, Tensor: t.Name, Msg: "duplicate tensor name"}
		}
		names[t.Name] = i
		infoOff = append(infoOff, off)
		infos = append(infos, t)
	}
	d.tensor = ""
	infoEnd := d.off

	h, bad := validate(kvs, infos, false)
	if bad != nil {
		e := &FormatError{File: name, Offset: -1, Msg: bad.msg}
		if bad.kv >= 0 {
			e.Offset, e.Key = kvOff[bad.kv], kvs[bad.kv].Key
		}
		if bad.tensor >= 0 {
			e.Offset, e.Tensor = infoOff[bad.tensor], infos[bad.tensor].Name
		}
		return nil, e
	}

	f := &File{
		Name:       name,
		Version:    version,
		KV:         kvs,
		Tensors:    infos,
		Alignment:  h.alignment,
		DataOffset: int64(pad(uint64(infoEnd), h.alignment)),
		Size:       size,
		r:          r,
		keys:       keys,
		tensors:    names,
	}
	// A file without tensors needs no data section, so its header padding
	// may be missing, as ggml allows.
	if len(infos) > 0 && f.DataOffset > size {
		return nil, &FormatError{File: name, Offset: infoEnd,
			Msg: fmt.Sprintf("data section would start at byte %d, past the end of the %d-byte file", f.DataOffset, size)}
	}
	for i := range infos {
		t := &infos[i]
		// Offsets are contiguous and bounded by validate, so no overflow.
		end := uint64(f.DataOffset) + t.Offset + h.sizes[i]
		if end > uint64(size) {
			return nil, &FormatError{File: name, Offset: infoOff[i], Tensor: t.Name,
				Msg: fmt.Sprintf("data [%d, %d) extends past the end of the %d-byte file", uint64(f.DataOffset)+t.Offset, end, size)}
		}
	}
	return f, nil
}

// readPreamble checks the magic and version.
func readPreamble(d *decoder) (uint32, error) {
	magic, err := d.fixed(4, "magic")
	if err != nil {
		return 0, err
	}
	switch m := string(magic); m {
	case Magic:
	case bigEndianMagic:
		return 0, &FormatError{File: d.file, Offset: 0, Err: ErrUnsupported, Msg: "big-endian GGUF file"}
	case "lmgg", "fmgg", "tjgg":
		return 0, &FormatError{File: d.file, Offset: 0, Err: ErrUnsupported, Msg: fmt.Sprintf("legacy pre-GGUF ggml file (magic %q)", m)}
	default:
		return 0, d.errAt(0, "bad magic %q, want %q", m, Magic)
	}
	v, err := d.u32("version")
	if err != nil {
		return 0, err
	}
	switch {
	case v == 0:
		return 0, d.errAt(4, "bad version 0")
	case v&0xFFFF == 0:
		// A version that reads as huge is a small one stored big-endian.
		return 0, &FormatError{File: d.file, Offset: 4, Err: ErrUnsupported,
			Msg: fmt.Sprintf("version %d (%#x): the file is big-endian", v, v)}
	case v < minVersion || v > Version:
		return 0, &FormatError{File: d.file, Offset: 4, Err: ErrUnsupported,
			Msg: fmt.Sprintf("GGUF version %d, only versions %d and %d are read", v, minVersion, Version)}
	}
	return v, nil
}

func readKV(d *decoder) (KV, error) {
	d.key = ""
	key, err := d.str("key")
	if err != nil {
		return KV{}, err
	}
	d.key = key
	typeOff := d.off
	t, err := d.u32("value type")
	if err != nil {
		return KV{}, err
	}
	v, err := d.value(ValueType(t), typeOff)
	return KV{Key: key, Value: v}, err
}

func readTensorInfo(d *decoder) (TensorInfo, error) {
	d.tensor = ""
	name, err := d.str("tensor name")
	if err != nil {
		return TensorInfo{}, err
	}
	d.tensor = name
	ndOff := d.off
	nd, err := d.u32("dimension count")
	if err != nil {
		return TensorInfo{}, err
	}
	if msg := checkNDims(uint64(nd)); msg != "" {
		return TensorInfo{}, d.errAt(ndOff, "%s", msg)
	}
	t := TensorInfo{Name: name, Dims: make([]uint64, nd)}
	for i := range t.Dims {
		if t.Dims[i], err = d.u64("dimension"); err != nil {
			return TensorInfo{}, err
		}
	}
	typ, err := d.u32("tensor type")
	if err != nil {
		return TensorInfo{}, err
	}
	t.Type = ggml.Type(typ)
	if t.Offset, err = d.u64("tensor offset"); err != nil {
		return TensorInfo{}, err
	}
	return t, nil
}

// Lookup returns the value stored under key.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.keys[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Section returns a reader for t's data (without padding). Each call
// returns a fresh reader, so tensors can be read concurrently.
func (f *File) Section(t *TensorInfo) *io.SectionReader {
	return io.NewSectionReader(f.r, f.DataOffset+int64(t.Offset), int64(t.Size()))
}

// String returns the STRING value under key.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Lookup(key)
	return v.AsString()
}

// Strings returns the array of STRING under key.
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Lookup(key)
	return v.AsStrings()
}

// Uint returns a non-negative integer value under key (see Value.AsUint).
func (f *File) Uint(key string) (uint64, bool) {
	v, _ := f.Lookup(key)
	return v.AsUint()
}

// Int returns an integer value under key (see Value.AsInt).
func (f *File) Int(key string) (int64, bool) {
	v, _ := f.Lookup(key)
	return v.AsInt()
}

// Float returns a numeric value under key (see Value.AsFloat).
func (f *File) Float(key string) (float64, bool) {
	v, _ := f.Lookup(key)
	return v.AsFloat()
}

// Bool returns the BOOL value under key.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Lookup(key)
	return v.AsBool()
}
