package imatrix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
)

// Read reads an importance matrix file, llama-imatrix's GGUF or legacy
// .dat format, told apart by the first four bytes.
func Read(path string) (*Matrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	return Decode(f, st.Size(), path)
}

// Decode reads an importance matrix of size bytes from r; name labels
// errors. Every allocation is bounded by size, whatever the file claims.
func Decode(r io.ReaderAt, size int64, name string) (*Matrix, error) {
	magic := make([]byte, 4)
	if size >= 4 {
		if _, err := r.ReadAt(magic, 0); err != nil {
			return nil, fmt.Errorf("imatrix: %s: %w", name, err)
		}
	}
	var m *Matrix
	var err error
	if string(magic) == gguf.Magic {
		m, err = decodeGGUF(r, size, name)
	} else {
		m, err = decodeDat(r, size, name)
	}
	if err != nil {
		return nil, err
	}
	if err := m.check(name); err != nil {
		return nil, err
	}
	return m, nil
}

const (
	suffixSums   = ".in_sum2"
	suffixCounts = ".counts"
)

// decodeGGUF reads llama-imatrix's GGUF format: <name>.in_sum2 F32
// [n_per_row, n_mat] and <name>.counts F32 [1, n_mat] per entry, with the
// metadata llama-quantize requires. Other tensors (such as the .in_sum of
// newer files) are ignored, as llama-quantize ignores them.
func decodeGGUF(r io.ReaderAt, size int64, name string) (*Matrix, error) {
	f, err := gguf.NewFile(r, size, name)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	fail := func(format string, args ...any) (*Matrix, error) {
		return nil, fmt.Errorf("imatrix: %s: "+format, append([]any{name}, args...)...)
	}
	if v, ok := f.Lookup("general.type"); ok {
		if s, _ := v.AsString(); s != "imatrix" {
			return fail("general.type is %v, not \"imatrix\": not an importance matrix", v)
		}
	}
	m := &Matrix{}
	v, ok := f.Lookup(KeyDatasets)
	if m.Datasets, _ = v.AsStrings(); !ok || m.Datasets == nil {
		return fail("metadata %s (an array of strings) is missing", KeyDatasets)
	}
	for _, k := range []struct {
		key string
		dst *int
	}{{KeyChunkCount, &m.ChunkCount}, {KeyChunkSize, &m.ChunkSize}} {
		v, ok := f.Lookup(k.key)
		if !ok || v.Type != gguf.TypeUint32 {
			return fail("metadata %s (a uint32) is missing", k.key)
		}
		*k.dst = int(v.V.(uint32))
	}
	if v, ok := f.Lookup(KeyFilled); ok {
		refs, ok := v.AsStrings()
		if !ok {
			return fail("metadata %s is not an array of strings", KeyFilled)
		}
		for _, s := range refs {
			ref, ok := parseExpertRef(s)
			if !ok {
				return fail("metadata %s: %q is not name:expert", KeyFilled, s)
			}
			m.Filled = append(m.Filled, ref)
		}
	}

	type pair struct{ sums, counts *gguf.TensorInfo }
	byName := map[string]*pair{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		base, isSums := strings.CutSuffix(t.Name, suffixSums)
		if !isSums {
			var isCounts bool
			if base, isCounts = strings.CutSuffix(t.Name, suffixCounts); !isCounts {
				continue
			}
		}
		p := byName[base]
		if p == nil {
			p = &pair{}
			byName[base] = p
		}
		if isSums {
			p.sums = t
		} else {
			p.counts = t
		}
	}
	if len(byName) == 0 {
		return fail("no entries (no <tensor>%s and <tensor>%s pairs)", suffixSums, suffixCounts)
	}
	for _, base := range slices.Sorted(maps.Keys(byName)) {
		p := byName[base]
		if p.sums == nil || p.counts == nil {
			return fail("entry %q lacks its %s or %s tensor", base, suffixSums, suffixCounts)
		}
		e := Entry{Name: base}
		if e.NPerRow, e.NMat, ok = matrixDims(p.sums.Dims); !ok {
			return fail("tensor %q has dims %v, want [n_per_row, n_mat]", p.sums.Name, p.sums.Dims)
		}
		if one, n, ok := matrixDims(p.counts.Dims); !ok || one != 1 || n != e.NMat {
			return fail("tensor %q has dims %v, want [1, %d]", p.counts.Name, p.counts.Dims, e.NMat)
		}
		for _, t := range []*gguf.TensorInfo{p.sums, p.counts} {
			if t.Type != ggml.F32 {
				return fail("tensor %q is %s, want F32", t.Name, t.Type)
			}
		}
		if e.InSum2, err = readF32(f, p.sums); err != nil {
			return nil, err
		}
		if e.Counts, err = readF32(f, p.counts); err != nil {
			return nil, err
		}
		m.Entries = append(m.Entries, e)
	}
	return m, nil
}

// matrixDims reads ggml dims [ne0, ne1, 1, 1] (trailing 1s optional).
func matrixDims(d []uint64) (ne0, ne1 int, ok bool) {
	if len(d) == 0 || len(d) > 4 {
		return 0, 0, false
	}
	for _, x := range d[min(len(d), 2):] {
		if x != 1 {
			return 0, 0, false
		}
	}
	n1 := uint64(1)
	if len(d) > 1 {
		n1 = d[1]
	}
	// The reader has checked the data fits the file, so these are small.
	if d[0] == 0 || n1 == 0 || d[0] > math.MaxInt32 || n1 > math.MaxInt32 {
		return 0, 0, false
	}
	return int(d[0]), int(n1), true
}

// readF32 reads an F32 tensor's data (already checked to lie in the file).
func readF32(f *gguf.File, t *gguf.TensorInfo) ([]float32, error) {
	raw := make([]byte, t.Size())
	if _, err := io.ReadFull(f.Section(t), raw); err != nil {
		return nil, fmt.Errorf("imatrix: %s: tensor %q: %w", f.Name, t.Name, err)
	}
	return floats(raw), nil
}

func floats(raw []byte) []float32 {
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v
}

func parseExpertRef(s string) (ExpertRef, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return ExpertRef{}, false
	}
	var e int
	if _, err := fmt.Sscanf(s[i+1:], "%d", &e); err != nil || e < 0 || fmt.Sprint(e) != s[i+1:] {
		return ExpertRef{}, false
	}
	return ExpertRef{Name: s[:i], Expert: e}, true
}

// datReader reads the little-endian fields of a legacy file in order.
type datReader struct {
	r         io.ReaderAt
	off, size int64
	name      string
}

func (d *datReader) left() int64 { return d.size - d.off }

func (d *datReader) errorf(format string, args ...any) error {
	return fmt.Errorf("imatrix: %s: byte %d: "+format, append([]any{d.name, d.off}, args...)...)
}

func (d *datReader) bytes(n int64, what string) ([]byte, error) {
	if n < 0 || n > d.left() {
		return nil, d.errorf("%s needs %d bytes, %d are left (truncated file)", what, n, d.left())
	}
	b := make([]byte, n)
	if _, err := d.r.ReadAt(b, d.off); err != nil && !(err == io.EOF && int64(len(b)) == n) {
		return nil, fmt.Errorf("imatrix: %s: %w", d.name, err)
	}
	d.off += n
	return b, nil
}

func (d *datReader) i32(what string) (int32, error) {
	b, err := d.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b)), nil
}

// minDatEntry is the smallest legacy entry: name length, a 1-byte name,
// ncall, nval and one value.
const minDatEntry = 4 + 1 + 4 + 4 + 4

// decodeDat reads the legacy format: int32 entry count; per entry int32
// name length, the name, int32 ncall, int32 nval and nval float32; then
// optionally int32 chunk count, int32 dataset name length and the name.
func decodeDat(r io.ReaderAt, size int64, name string) (*Matrix, error) {
	d := &datReader{r: r, size: size, name: name}
	n, err := d.i32("entry count")
	if err != nil {
		return nil, fmt.Errorf("imatrix: %s: neither GGUF nor a legacy .dat file: %w", name, err)
	}
	if n < 1 || int64(n) > d.left()/minDatEntry {
		return nil, fmt.Errorf("imatrix: %s: neither GGUF nor a legacy .dat file: it would hold %d entries in %d bytes", name, n, size)
	}
	m := &Matrix{Legacy: true}
	for i := range int(n) {
		entryOff := d.off
		nameLen, err := d.i32("name length")
		if err != nil {
			return nil, err
		}
		if nameLen < 1 {
			return nil, d.errorf("entry %d: name length %d", i+1, nameLen)
		}
		raw, err := d.bytes(int64(nameLen), "name")
		if err != nil {
			return nil, err
		}
		if bytes.IndexByte(raw, 0) >= 0 {
			return nil, fmt.Errorf("imatrix: %s: byte %d: entry %d: name %q holds a NUL byte", name, entryOff, i+1, raw)
		}
		e := Entry{Name: string(raw), NMat: 1}
		ncall, err := d.i32("ncall")
		if err != nil {
			return nil, err
		}
		if ncall < 0 {
			return nil, d.errorf("entry %q: negative ncall %d", e.Name, ncall)
		}
		nval, err := d.i32("value count")
		if err != nil {
			return nil, err
		}
		if nval < 1 {
			return nil, d.errorf("entry %q: value count %d", e.Name, nval)
		}
		vals, err := d.bytes(4*int64(nval), fmt.Sprintf("entry %q's %d values", e.Name, nval))
		if err != nil {
			return nil, err
		}
		e.NPerRow, e.InSum2, e.Counts = int(nval), floats(vals), []float32{float32(ncall)}
		m.Entries = append(m.Entries, e)
	}
	if d.left() > 0 {
		chunks, err := d.i32("chunk count")
		if err != nil {
			return nil, err
		}
		if chunks < 0 {
			return nil, d.errorf("negative chunk count %d", chunks)
		}
		m.ChunkCount = int(chunks)
		dlen, err := d.i32("dataset name length")
		if err != nil {
			return nil, err
		}
		ds, err := d.bytes(int64(dlen), "dataset name")
		if err != nil {
			return nil, err
		}
		m.Datasets = []string{string(ds)}
		if d.left() != 0 {
			return nil, d.errorf("%d bytes after the dataset name", d.left())
		}
	}
	// Older llama-imatrix versions wrote entries in hash order.
	slices.SortStableFunc(m.Entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(m.Entries); i++ {
		if m.Entries[i].Name == m.Entries[i-1].Name {
			return nil, fmt.Errorf("imatrix: %s: entry %q appears twice", name, m.Entries[i].Name)
		}
	}
	return m, nil
}
