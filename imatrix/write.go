package imatrix

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
)

// layout plans llama-imatrix's GGUF file for m: general.type, the
// datasets, chunk count and chunk size (then mxq's list of filled experts,
// if any), and per entry in name order <name>.in_sum2 F32 [n_per_row,
// n_mat] and <name>.counts F32 [1, n_mat], with trailing 1s dropped from
// the dims as ggml's writer drops them.
func (m *Matrix) layout() (*gguf.Layout, error) {
	if m.Legacy {
		return nil, errors.New("imatrix: a matrix read from a legacy .dat file has no per-expert counts; it can only be written as .dat")
	}
	if err := m.check("output"); err != nil {
		return nil, err
	}
	if len(m.Entries) == 0 {
		return nil, errors.New("imatrix: no entries to write")
	}
	datasets := m.Datasets
	if datasets == nil {
		datasets = []string{}
	}
	kv := []gguf.KV{
		{Key: "general.type", Value: gguf.String("imatrix")},
		{Key: KeyDatasets, Value: gguf.Array(gguf.TypeString, datasets)},
		{Key: KeyChunkCount, Value: gguf.Uint32(uint32(m.ChunkCount))},
		{Key: KeyChunkSize, Value: gguf.Uint32(uint32(m.ChunkSize))},
	}
	if len(m.Filled) > 0 {
		refs := make([]string, len(m.Filled))
		for i, r := range m.Filled {
			refs[i] = r.String()
		}
		kv = append(kv, gguf.KV{Key: KeyFilled, Value: gguf.Array(gguf.TypeString, refs)})
	}
	var tensors []gguf.TensorInfo
	for _, e := range m.Entries {
		tensors = append(tensors,
			gguf.TensorInfo{Name: e.Name + suffixSums, Dims: ggmlDims(e.NPerRow, e.NMat), Type: ggml.F32},
			gguf.TensorInfo{Name: e.Name + suffixCounts, Dims: ggmlDims(1, e.NMat), Type: ggml.F32})
	}
	return gguf.NewLayout(kv, tensors, gguf.DefaultAlignment)
}

// ggmlDims are the dims ggml stores for a [ne0, ne1] tensor.
func ggmlDims(ne0, ne1 int) []uint64 {
	if ne1 == 1 {
		return []uint64{uint64(ne0)}
	}
	return []uint64{uint64(ne0), uint64(ne1)}
}

// EncodeGGUF writes m in llama-imatrix's GGUF format to w.
func (m *Matrix) EncodeGGUF(w io.Writer) error {
	l, err := m.layout()
	if err != nil {
		return err
	}
	return m.encodeGGUF(w, l)
}

func (m *Matrix) encodeGGUF(w io.Writer, l *gguf.Layout) error {
	bw := bufio.NewWriter(w)
	bw.Write(l.Header())
	at := l.DataOffset()
	for i, t := range l.Tensors() {
		if pad := l.TensorOffset(i) - at; pad > 0 {
			bw.Write(make([]byte, pad))
		}
		e := &m.Entries[i/2]
		v := e.InSum2
		if i%2 == 1 {
			v = e.Counts
		}
		if err := writeF32(bw, v); err != nil {
			return err
		}
		at = l.TensorOffset(i) + int64(t.Size())
	}
	if pad := l.Size() - at; pad > 0 {
		bw.Write(make([]byte, pad))
	}
	return bw.Flush()
}

// WriteGGUF writes m in llama-imatrix's GGUF format to the new file path;
// it never replaces an existing file.
func (m *Matrix) WriteGGUF(path string) error {
	l, err := m.layout()
	if err != nil {
		return err
	}
	return writeNew(path, func(w io.Writer) error { return m.encodeGGUF(w, l) })
}

func writeF32(w io.Writer, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	_, err := w.Write(b)
	return err
}

// EncodeDat writes m in llama-imatrix's legacy .dat format, as its
// --output-format dat does: entries no token reached at all are left out;
// each other entry stores ncall = ceil(max count / chunk size) and, per
// value, in_sum2/count × ncall in float32 (1 × ncall for a matrix with
// count 0); then the chunk count and the last dataset's name. A matrix read
// from a .dat file is written back as it was read (in name order).
func (m *Matrix) EncodeDat(w io.Writer) error {
	if err := m.check("output"); err != nil {
		return err
	}
	if !m.Legacy && m.ChunkSize <= 0 {
		return errors.New("imatrix: the chunk size is unknown, so the .dat ncall cannot be computed")
	}
	type stored struct {
		e     *Entry
		ncall int32
	}
	var keep []stored
	for i := range m.Entries {
		e := &m.Entries[i]
		if m.Legacy {
			keep = append(keep, stored{e, int32(e.Counts[0])})
			continue
		}
		top := slices.Max(e.Counts)
		if top == 0 {
			continue
		}
		// ceil(count / chunk size), exact for llama-imatrix's whole counts.
		ncall := math.Ceil(float64(top) / float64(m.ChunkSize))
		if ncall > math.MaxInt32 {
			return fmt.Errorf("imatrix: entry %q: count %v is too large for the .dat format", e.Name, top)
		}
		keep = append(keep, stored{e, int32(ncall)})
	}
	if len(keep) == 0 {
		return errors.New("imatrix: no entry has any token, so the .dat file would be empty")
	}
	bw := bufio.NewWriter(w)
	le := func(v int32) { binary.Write(bw, binary.LittleEndian, v) }
	le(int32(len(keep)))
	for _, s := range keep {
		e := s.e
		le(int32(len(e.Name)))
		bw.WriteString(e.Name)
		le(s.ncall)
		le(int32(len(e.InSum2)))
		vals := e.InSum2
		if !m.Legacy {
			vals = make([]float32, len(e.InSum2))
			for i, v := range e.InSum2 {
				count := e.Counts[i/e.NPerRow]
				if count == 0 {
					v, count = 1, 1
				}
				vals[i] = v / count * float32(s.ncall)
			}
			if i, bad := firstBad(vals); bad {
				return fmt.Errorf("imatrix: entry %q: value %d is too large for the .dat format (%v × ncall %d)", e.Name, i, e.InSum2[i], s.ncall)
			}
		}
		if err := writeF32(bw, vals); err != nil {
			return err
		}
	}
	le(int32(m.ChunkCount))
	var dataset string
	if len(m.Datasets) > 0 {
		dataset = m.Datasets[len(m.Datasets)-1]
	}
	le(int32(len(dataset)))
	bw.WriteString(dataset)
	return bw.Flush()
}

// WriteDat writes EncodeDat's bytes to the new file path; it never
// replaces an existing file.
func (m *Matrix) WriteDat(path string) error { return writeNew(path, m.EncodeDat) }

// writeNew creates path, which must not exist, and fills it with encode;
// on error the file is removed.
func writeNew(path string, encode func(io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	return encode(f)
}
