package imatrix

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
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

// WriteGGUF writes m in llama-imatrix's GGUF format to path, through a
// temporary file renamed over path only when complete.
func (m *Matrix) WriteGGUF(path string) error {
	l, err := m.layout()
	if err != nil {
		return err
	}
	return gguf.WriteFile(path, l, func(i int, _ gguf.TensorInfo, w io.Writer) error {
		e := &m.Entries[i/2]
		if i%2 == 0 {
			return writeF32(w, e.InSum2)
		}
		return writeF32(w, e.Counts)
	})
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

// WriteDat writes EncodeDat's bytes to path through a temporary file
// renamed over path only when complete.
func (m *Matrix) WriteDat(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = m.EncodeDat(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
