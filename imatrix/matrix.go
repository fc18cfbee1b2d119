package imatrix

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/formats/gguf"
)

// Entry holds the statistics of one weight matrix, named as the model's
// GGUF tensor (blk.0.attn_q.weight, blk.0.ffn_gate_exps.weight).
type Entry struct {
	Name string
	// NPerRow is the length of a weight row (the matrix's input width);
	// NMat the number of matrices, the experts of a merged expert tensor
	// and 1 otherwise.
	NPerRow, NMat int
	// InSum2 [NMat*NPerRow] is, per matrix and input column, the sum of
	// the squared inputs; Counts [NMat] the tokens summed. An entry read
	// from a legacy .dat file holds the stored values and Counts holds
	// the single ncall instead (see Matrix.Legacy).
	InSum2 []float32
	Counts []float32
}

// Matrix is an importance matrix: its entries in name order and what it
// was computed from.
type Matrix struct {
	Entries  []Entry
	Datasets []string
	// ChunkCount is the number of chunks (llama-imatrix's chunk_count, the
	// legacy files' trailing call count); ChunkSize their length in tokens
	// (0 when unknown, as for a legacy file).
	ChunkCount, ChunkSize int
	// Legacy marks a matrix read from a .dat file: each entry holds the
	// mean squared inputs scaled by ncall, with NMat 1 and Counts [ncall].
	Legacy bool
	// Filled lists the experts whose statistics FillUnrouted supplied,
	// written as the imatrix.mxq.filled_unrouted metadata.
	Filled []ExpertRef
}

// ExpertRef names one expert of a merged expert tensor's entry.
type ExpertRef struct {
	Name   string `json:"name"`
	Expert int    `json:"expert"`
}

func (r ExpertRef) String() string { return r.Name + ":" + strconv.Itoa(r.Expert) }

// Lookup returns the entry for a tensor name.
func (m *Matrix) Lookup(name string) (*Entry, bool) {
	i, ok := slices.BinarySearchFunc(m.Entries, name, func(e Entry, n string) int { return strings.Compare(e.Name, n) })
	if !ok {
		return nil, false
	}
	return &m.Entries[i], true
}

// Weights returns the importance weights llama-quantize passes to the
// quantizer for the tensor name, whose rows hold nPerRow values, in nMat
// matrices (experts; 1 for a 2-D tensor): nMat*nPerRow values, matrix e's
// at [e*nPerRow:(e+1)*nPerRow]. They are in_sum2/count per matrix, and 1
// for every column of a matrix no token reached (count 0); from a legacy
// file, value/ncall. ok is false when the matrix has no entry for name:
// llama-quantize then quantizes that tensor without weights. An entry of
// another size is an error, as in llama-quantize (only the total is
// compared, so a legacy entry, which does not record its experts, fits).
func (m *Matrix) Weights(name string, nPerRow, nMat int) (w []float32, ok bool, err error) {
	e, ok := m.Lookup(name)
	if !ok {
		return nil, false, nil
	}
	if nPerRow <= 0 || nMat <= 0 || len(e.InSum2) != nPerRow*nMat {
		return nil, true, fmt.Errorf("imatrix: entry %q has %d values (%d × %d), the tensor needs %d × %d",
			name, len(e.InSum2), e.NMat, e.NPerRow, nMat, nPerRow)
	}
	return e.weights(m.Legacy), true, nil
}

// ExpertWeights is matrix expert's part of Weights: nPerRow values.
func (m *Matrix) ExpertWeights(name string, expert, nPerRow, nMat int) (w []float32, ok bool, err error) {
	if expert < 0 || expert >= nMat {
		return nil, false, fmt.Errorf("imatrix: entry %q: expert %d out of range [0,%d)", name, expert, nMat)
	}
	w, ok, err = m.Weights(name, nPerRow, nMat)
	if !ok || err != nil {
		return nil, ok, err
	}
	return w[expert*nPerRow : (expert+1)*nPerRow], true, nil
}

// TensorShape describes a model weight as the quantizer sees it: its GGUF
// name, row length and number of matrices (experts; 1 for a 2-D tensor).
type TensorShape struct {
	Name          string
	NPerRow, NMat int
}

// CheckModel verifies that m was computed for a model with these weights:
// every entry must name one of them and have its size. Weights without an
// entry are allowed (llama-quantize quantizes them without importance
// weights), and so is an entry for the output head, which llama-imatrix
// collects on request.
func (m *Matrix) CheckModel(tensors []TensorShape) error {
	byName := make(map[string]TensorShape, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t
	}
	for _, e := range m.Entries {
		t, ok := byName[e.Name]
		if !ok {
			return fmt.Errorf("imatrix: entry %q names no weight of the model (an importance matrix of another model?)", e.Name)
		}
		if len(e.InSum2) != t.NPerRow*t.NMat {
			return fmt.Errorf("imatrix: entry %q has %d values (%d × %d), the model's weight needs %d × %d",
				e.Name, len(e.InSum2), e.NMat, e.NPerRow, t.NMat, t.NPerRow)
		}
	}
	return nil
}

// weights derives the entry's weights with llama-quantize's float32
// arithmetic.
func (e *Entry) weights(legacy bool) []float32 {
	w := make([]float32, len(e.InSum2))
	if legacy {
		ncall := e.Counts[0]
		for i, v := range e.InSum2 {
			if ncall > 0 {
				v /= ncall
			}
			w[i] = v
		}
		return w
	}
	for j, count := range e.Counts {
		row := w[j*e.NPerRow : (j+1)*e.NPerRow]
		if !(count > 0) {
			for i := range row {
				row[i] = 1
			}
			continue
		}
		for i, v := range e.InSum2[j*e.NPerRow : (j+1)*e.NPerRow] {
			row[i] = v / count
		}
	}
	return w
}

// Unrouted lists the experts no calibration token reached: matrices of a
// multi-matrix entry with count 0. llama-quantize quantizes them with
// weight 1 for every column, i.e. as without an importance matrix.
func (m *Matrix) Unrouted() []ExpertRef {
	var out []ExpertRef
	for _, e := range m.Entries {
		if e.NMat < 2 || m.Legacy {
			continue
		}
		for j, c := range e.Counts {
			if c == 0 {
				out = append(out, ExpertRef{e.Name, j})
			}
		}
	}
	return out
}

// FillUnrouted gives every unrouted expert the mean statistics of its
// entry's routed experts (the pooled per-token mean of the squared inputs,
// stored as in_sum2 with count 1, so it weighs as a single token if the
// file is merged with others) and records them in m.Filled. Entries no
// token reached at all stay as they are. It returns the experts filled.
func (m *Matrix) FillUnrouted() []ExpertRef {
	if m.Legacy {
		return nil
	}
	var filled []ExpertRef
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.NMat < 2 || !slices.Contains(e.Counts, 0) {
			continue
		}
		mean := make([]float64, e.NPerRow)
		var tokens float64
		for j, c := range e.Counts {
			if c == 0 {
				continue
			}
			tokens += float64(c)
			for k, v := range e.InSum2[j*e.NPerRow : (j+1)*e.NPerRow] {
				mean[k] += float64(v)
			}
		}
		if tokens == 0 {
			continue
		}
		for j, c := range e.Counts {
			if c != 0 {
				continue
			}
			row := e.InSum2[j*e.NPerRow : (j+1)*e.NPerRow]
			for k := range row {
				row[k] = float32(mean[k] / tokens)
			}
			e.Counts[j] = 1
			filled = append(filled, ExpertRef{e.Name, j})
		}
	}
	m.Filled = append(m.Filled, filled...)
	return filled
}

// Metadata keys of the GGUF format.
const (
	KeyDatasets   = "imatrix.datasets"
	KeyChunkCount = "imatrix.chunk_count"
	KeyChunkSize  = "imatrix.chunk_size"
	// KeyFilled lists, as "name:expert" strings, the experts whose
	// statistics mxq's --fill-unrouted supplied from their layer's mean.
	KeyFilled = "imatrix.mxq.filled_unrouted"
)

// Keys llama-quantize adds to a file quantized with an importance matrix.
const (
	KeyQuantizeFile         = "quantize.imatrix.file"
	KeyQuantizeDataset      = "quantize.imatrix.dataset"
	KeyQuantizeEntriesCount = "quantize.imatrix.entries_count"
	KeyQuantizeChunksCount  = "quantize.imatrix.chunks_count"
)

// maxOverrideString is how much of a string llama-quantize keeps in a
// metadata override (a 128-byte buffer with its terminating NUL).
const maxOverrideString = 127

// QuantizeMetadata returns the keys llama-quantize writes into a file
// quantized with m, read from path (as the user gave it): the file, the
// first dataset if there is one, the entry count and, if positive, the
// chunk count, in that order; strings cut to 127 bytes and counts UINT32,
// as llama-quantize stores them.
func (m *Matrix) QuantizeMetadata(path string) []gguf.KV {
	kv := []gguf.KV{{Key: KeyQuantizeFile, Value: gguf.String(truncate(path, maxOverrideString))}}
	if len(m.Datasets) > 0 {
		kv = append(kv, gguf.KV{Key: KeyQuantizeDataset, Value: gguf.String(truncate(m.Datasets[0], maxOverrideString))})
	}
	kv = append(kv, gguf.KV{Key: KeyQuantizeEntriesCount, Value: gguf.Uint32(uint32(len(m.Entries)))})
	if m.ChunkCount > 0 {
		kv = append(kv, gguf.KV{Key: KeyQuantizeChunksCount, Value: gguf.Uint32(uint32(m.ChunkCount))})
	}
	return kv
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// check verifies the entries' shapes and statistics: sorted unique names,
// sizes that agree, finite non-negative sums and counts. what names the
// file in messages.
func (m *Matrix) check(what string) error {
	for i := range m.Entries {
		e := &m.Entries[i]
		if i > 0 && m.Entries[i-1].Name >= e.Name {
			return fmt.Errorf("imatrix: %s: entry %q is out of name order or repeated", what, e.Name)
		}
		if e.NPerRow <= 0 || e.NMat <= 0 || len(e.InSum2) != e.NPerRow*e.NMat {
			return fmt.Errorf("imatrix: %s: entry %q has %d values for %d matrices of %d columns", what, e.Name, len(e.InSum2), e.NMat, e.NPerRow)
		}
		if want := e.NMat; m.Legacy && len(e.Counts) != 1 || !m.Legacy && len(e.Counts) != want {
			return fmt.Errorf("imatrix: %s: entry %q has %d counts for %d matrices", what, e.Name, len(e.Counts), e.NMat)
		}
		if j, bad := firstBad(e.InSum2); bad {
			return fmt.Errorf("imatrix: %s: entry %q: value %d (matrix %d, column %d) is %v; sums of squares must be finite and non-negative",
				what, e.Name, j, j/e.NPerRow, j%e.NPerRow, e.InSum2[j])
		}
		if j, bad := firstBad(e.Counts); bad {
			return fmt.Errorf("imatrix: %s: entry %q: count %d is %v; counts must be finite and non-negative", what, e.Name, j, e.Counts[j])
		}
	}
	return nil
}

// firstBad finds the first value that is NaN, infinite or negative.
func firstBad(v []float32) (int, bool) {
	for i, x := range v {
		if !(x >= 0) || math.IsInf(float64(x), 1) {
			return i, true
		}
	}
	return 0, false
}
