package forward

import (
	"fmt"
	"io"
	"runtime"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
)

// ggufSource reads a llama.cpp GGUF of a Llama-architecture model
// (Mixtral, Mistral, Llama), dequantizing every supported ggml type.
type ggufSource struct {
	roleSource
	f   *gguf.File
	cfg *model.Config
}

// FromGGUF returns a Source over a GGUF file with general.architecture
// "llama", as llama.cpp's converter writes Mixtral, Mistral and Llama, or
// "qwen3moe". A "llama" file's q/k rows are permuted for adjacent-pair
// rotary embeddings, so the Source reports RopeNormal and hands the weights
// over as stored; qwen3moe keeps Hugging Face's rotate-half order. Merged expert
// tensors (blk.N.ffn_*_exps) are split per expert, reading only that
// expert's bytes; the older per-expert tensors work too. The file must stay
// open while the Source is used.
func FromGGUF(f *gguf.File) (Source, error) {
	cfg, d, err := ggufDims(f)
	if err != nil {
		return nil, err
	}
	s := &ggufSource{f: f, cfg: cfg}
	s.roleSource = roleSource{dims: d, get: s.tensor, stored: func(r model.TensorRole) (*QuantMatrix, error) {
		q, _, err := s.stored(r, false)
		return q, err
	}}
	return s, nil
}

func ggufDims(f *gguf.File) (*model.Config, Dims, error) {
	fail := func(format string, args ...any) (*model.Config, Dims, error) {
		return nil, Dims{}, fmt.Errorf("forward: %s: "+format, append([]any{f.Name}, args...)...)
	}
	cfg, _, err := model.ConfigFromGGUF(f)
	if err != nil {
		return nil, Dims{}, fmt.Errorf("forward: %w", err)
	}
	arch := cfg.GGUFArch()
	if _, ok := f.Lookup(arch + ".attention.layer_norm_rms_epsilon"); !ok {
		return fail("metadata %s.attention.layer_norm_rms_epsilon missing", arch)
	}
	if v, ok := f.Uint(arch + ".rope.dimension_count"); ok && int(v) != cfg.HeadDim {
		return fail("partial rotary embeddings (%d of %d dims) are not supported", v, cfg.HeadDim)
	}
	if st, ok := f.String(arch + ".rope.scaling.type"); ok && st != "none" {
		return fail("rope scaling %q is not supported", st)
	}
	emb, ok := f.Tensor(model.GGUFName(globalRole(model.RoleEmbedding)))
	if !ok || len(emb.Dims) != 2 || int(emb.Dims[1]) != cfg.VocabSize {
		return fail("token_embd.weight missing or not a [%d, %d] matrix", cfg.HiddenSize, cfg.VocabSize)
	}
	d := DimsFromConfig(cfg)
	if cfg.PermutesQK() {
		d.RopeStyle = RopeNormal
	}
	if err := d.Check(); err != nil {
		return fail("%v", err)
	}
	return cfg, d, nil
}

// tensor reads the tensor of role r, dequantized.
func (s *ggufSource) tensor(r model.TensorRole) ([]float32, error) {
	q, name, err := s.stored(r, false)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, q.Rows*q.Cols)
	if err := quant.DequantizeRows(q.Type, q.Data, q.Cols, dst, runtime.GOMAXPROCS(0)); err != nil {
		return nil, fmt.Errorf("forward: %s: tensor %q: %w", s.f.Name, name, err)
	}
	return dst, nil
}

// Expert reads expert e of layer l as stored, for the matrix products to
// decode panel by panel (see QuantMatrix).
func (s *ggufSource) Expert(l, e int) (*Expert, error) { return s.expert(l, e, false) }

// streamedExpert is Expert for a pass that uses the expert only in its MoE
// block while the file is open: its matrices are read a block of rows at a
// time by the products (see lazy.go).
func (s *ggufSource) streamedExpert(l, e int) (*Expert, error) { return s.expert(l, e, true) }

func (s *ggufSource) expert(l, e int, lazy bool) (*Expert, error) {
	d := s.dims
	if err := d.checkExpert(l, e); err != nil {
		return nil, err
	}
	roles, expert := expertRoles(d, e)
	ex := &Expert{}
	for i, dst := range []**QuantMatrix{&ex.QGate, &ex.QDown, &ex.QUp} {
		q, _, err := s.stored(model.TensorRole{Role: roles[i], Layer: l, Expert: expert}, lazy)
		if err != nil {
			return nil, err
		}
		*dst = q
	}
	return ex, nil
}

// stored reads the bytes of the tensor of role r. For an expert role it
// reads that expert's slab of the merged tensor if there is one (ne[2] is
// the expert index, so the slab is contiguous), else the per-expert tensor.
// With lazy set the bytes stay in the file until a product reads them.
func (s *ggufSource) stored(r model.TensorRole, lazy bool) (*QuantMatrix, string, error) {
	full := r
	if r.Expert >= 0 {
		full.Expert = model.AllExperts
		if _, ok := s.f.Tensor(model.GGUFName(full)); !ok {
			full = r
		}
	}
	name := model.GGUFName(full)
	want, ok := s.cfg.ExpectedGGUF(full)
	if name == "" || !ok {
		return nil, name, fmt.Errorf("forward: %s: model has no tensor for role %+v", s.f.Name, r)
	}
	ti, ok := s.f.Tensor(name)
	if !ok {
		return nil, name, fmt.Errorf("forward: %s: tensor %q missing", s.f.Name, name)
	}
	if !sameDims(ti.Dims, want) {
		return nil, name, fmt.Errorf("forward: %s: tensor %q has dims %v, want %v", s.f.Name, name, ti.Dims, want)
	}
	if !quant.Supported(ti.Type) {
		return nil, name, fmt.Errorf("forward: %s: tensor %q: cannot dequantize type %s", s.f.Name, name, ti.Type)
	}
	rowLen := int(want[0])
	rowBytes, err := ti.Type.RowSize(want[0])
	if err != nil {
		return nil, name, fmt.Errorf("forward: %s: tensor %q: %w", s.f.Name, name, err)
	}
	rows := int64(ti.NumElements()) / want[0]
	var off int64
	if full.Expert == model.AllExperts {
		rows /= want[2]
		off = int64(r.Expert) * rows * rowBytes
	}
	n := rows * rowBytes
	if end := s.f.DataOffset + int64(ti.Offset) + off + n; end > s.f.Size || end < 0 {
		return nil, name, fmt.Errorf("forward: %s: tensor %q: data ends at byte %d, past the end of the file (%d)", s.f.Name, name, end, s.f.Size)
	}
	if lazy {
		return lazyMatrix(ti.Type, int(rows), rowLen, io.NewSectionReader(s.f.Section(ti), off, n), rowBytes), name, nil
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(s.f.Section(ti), off, n), raw); err != nil {
		return nil, name, fmt.Errorf("forward: %s: tensor %q: read at data byte %d: %w", s.f.Name, name, int64(ti.Offset)+off, err)
	}
	return &QuantMatrix{Type: ti.Type, Rows: int(rows), Cols: rowLen, Data: raw}, name, nil
}

// sameDims compares GGUF ne dimensions with the expected ones, ignoring
// trailing 1s (ggml's writer drops them, gguf-py keeps them).
func sameDims(got []uint64, want []int64) bool {
	for len(got) > 1 && got[len(got)-1] == 1 {
		got = got[:len(got)-1]
	}
	for len(want) > 1 && want[len(want)-1] == 1 {
		want = want[:len(want)-1]
	}
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if int64(got[i]) != want[i] {
			return false
		}
	}
	return true
}

func (s *ggufSource) Output() ([]float32, error) {
	if s.cfg.TieWordEmbeddings {
		return s.Embedding()
	}
	return s.tensor(globalRole(model.RoleOutput))
}
