package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// File is one parsed safetensors file. The header is read once by NewFile
// or Open; tensor data is read on demand through section readers, which are
// safe to use concurrently as long as the underlying io.ReaderAt is.
type File struct {
	Name       string            // as given to NewFile or Open, used in errors
	Metadata   map[string]string // __metadata__, nil if absent
	Tensors    []TensorInfo      // in data-offset order
	HeaderSize int64             // N, the JSON header length
	DataOffset int64             // 8 + N: where the data section starts
	Size       int64             // file size: DataOffset + end of last tensor

	r      io.ReaderAt
	closer io.Closer
	index  map[string]int
}

// firstRead is how much NewFile reads up front, so that a typical header
// (a few KiB per shard; Mixtral-8x7B's are about 7 KiB) costs one ReadAt
// instead of two. It stays below the runtime's large-object size.
const firstRead = 16 << 10

// NewFile parses and validates the header of the safetensors file of the
// given size held in r. name identifies the file in errors. The returned
// File reads tensor data from r, which must stay valid while it is used;
// its Close does nothing.
//
// The memory spent on the header and its tables is bounded by
// safeio.MetadataBudget whatever the header claims.
func NewFile(r io.ReaderAt, size int64, name string) (*File, error) {
	return newFile(r, size, name, safeio.NewBudget(safeio.MetadataBudget))
}

// newFile is NewFile charging the header's memory to budget: the header
// bytes while they are parsed, the tables for as long as the File lives.
func newFile(r io.ReaderAt, size int64, name string, budget *safeio.Budget) (*File, error) {
	if size < 8 {
		return nil, formatErr(name, 0, "", fmt.Sprintf("file is %d bytes, too short for the 8-byte header length", size))
	}
	buf := make([]byte, min(size, firstRead))
	if err := readFull(r, buf, 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: read header: %w", name, err)
	}
	n64 := binary.LittleEndian.Uint64(buf)
	if n64 > MaxHeaderSize {
		return nil, formatErr(name, 0, "", fmt.Sprintf("header length %d exceeds the %d-byte limit", n64, MaxHeaderSize))
	}
	n := int64(n64)
	if 8+n > size {
		return nil, formatErr(name, 0, "", fmt.Sprintf("header length %d runs past the end of the %d-byte file", n, size))
	}
	if !budget.Spend(n) {
		return nil, formatErr(name, 0, "", fmt.Sprintf("header of %d bytes: %s", n, budget.Exceeded()))
	}
	defer budget.Refund(n)
	var hdr []byte
	if 8+n <= int64(len(buf)) {
		hdr = buf[8 : 8+n]
	} else {
		// n is now known to fit in the file, so this allocation is bounded.
		hdr = make([]byte, n)
		if err := readFull(r, hdr, 8); err != nil {
			return nil, fmt.Errorf("safetensors: %s: read header: %w", name, err)
		}
	}
	meta, entries, err := parseHeader(name, hdr, budget)
	if err != nil {
		return nil, err
	}
	tensors, err := layoutTensors(name, entries, 8+n, size)
	if err != nil {
		return nil, err
	}
	f := &File{
		Name:       name,
		Metadata:   meta,
		Tensors:    tensors,
		HeaderSize: n,
		DataOffset: 8 + n,
		Size:       size,
		r:          r,
	}
	f.index = make(map[string]int, len(f.Tensors))
	for i := range f.Tensors {
		f.index[f.Tensors[i].Name] = i
	}
	return f, nil
}

// readFull reads len(buf) bytes at off. A short read means the reader holds
// less than the size it was given: io.ErrUnexpectedEOF, not a format error.
func readFull(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Open opens and parses the safetensors file at path. Only the header is
// read; Close releases the file.
func Open(path string) (*File, error) {
	return openFile(path, safeio.NewBudget(safeio.MetadataBudget))
}

func openFile(path string, budget *safeio.Budget) (*File, error) {
	osf, st, err := safeio.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := newFile(osf, st.Size(), path, budget)
	if err != nil {
		osf.Close()
		return nil, err
	}
	f.closer = osf
	return f, nil
}

// Close closes the file if it was opened by Open.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}

// Lookup returns the named tensor's info.
func (f *File) Lookup(name string) (*TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Section returns a fresh reader over the data of t, a tensor of f.
func (f *File) Section(t *TensorInfo) *io.SectionReader {
	return io.NewSectionReader(f.r, f.DataOffset+t.Begin, t.End-t.Begin)
}

// DataSize returns the number of tensor data bytes in the file.
func (f *File) DataSize() int64 { return f.Size - f.DataOffset }
