package convert

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/internal/safetext"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant/intq"
	"github.com/mxq-dev/mxq/report"
	"github.com/mxq-dev/mxq/tokenizer"
)

// SafetensorsPlan is a fully laid out conversion to a Hugging Face
// safetensors folder: every stored tensor's shard and offset, config.json
// and the side files are fixed before any tensor data is read.
type SafetensorsPlan struct {
	src    *Source
	opts   SafetensorsOptions
	tg     target
	units  []*stUnit
	shards []stShard
	// files are the small files written next to the shards, by name.
	files map[string][]byte
	// copies are side files copied unchanged from the source folder.
	copies []string
	// vocab, for a GGUF source, is written as Hugging Face tokenizer files.
	vocab *tokenizer.Vocab
}

// stUnit is one weight as the engine produces it, with what the report
// says about it. A quantized Linear is stored as several tensors.
type stUnit struct {
	t       *outTensor
	shape   []int64 // logical row-major shape
	typ     string
	rule    string
	sources []string
	stored  []safetensors.TensorInfo
	offset  int64 // output offset of an unquantized tensor
	// fixed[k], for a quantized weight, is stored tensor k's bytes (for
	// each part) when they are known before quantizing, else nil.
	fixed [][]byte
}

type stShard struct {
	name   string
	layout *safetensors.Layout
	base   int64 // output offset of the shard's byte 0
}

// PlanSafetensors maps the source to the Hugging Face layout, decides which
// weights are quantized and how each is stored, shards the tensors as
// huggingface_hub does and lays every shard out.
func PlanSafetensors(src *Source, opts SafetensorsOptions) (_ *SafetensorsPlan, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	view, err := hfView(src)
	if err != nil {
		return nil, err
	}
	def := safetensors.BF16
	if !src.IsGGUF() {
		if d := sourceDType(view); d != "" {
			def = d
		}
	}
	tg, err := opts.resolve(def)
	if err != nil {
		return nil, err
	}
	if tg.layout != nil && src.IsGGUF() && !opts.AllowRequantize {
		for _, v := range view {
			if typ := v.src.src.typ; typ.IsQuantized() {
				return nil, fmt.Errorf("%s: tensor %s is already quantized (%s); quantizing it again loses more precision, pass --allow-requantize to do it anyway", src.Path, v.src.src.tensor, typ)
			}
		}
	}
	p := &SafetensorsPlan{src: src, opts: opts, tg: tg, files: map[string][]byte{}}
	if err := p.mapTensors(view); err != nil {
		return nil, err
	}
	if err := p.layOut(); err != nil {
		return nil, err
	}
	if err := p.sideFiles(); err != nil {
		return nil, err
	}
	return p, nil
}

// quantizes reports whether weights of role r are quantized.
func (p *SafetensorsPlan) quantizes(r model.Role) bool {
	if p.tg.layout == nil {
		return false
	}
	switch r {
	case model.RoleAttnQ, model.RoleAttnK, model.RoleAttnV, model.RoleAttnOutput,
		model.RoleExpertGate, model.RoleExpertDown, model.RoleExpertUp,
		model.RoleFFNGate, model.RoleFFNDown, model.RoleFFNUp:
		return true
	case model.RoleOutput:
		return p.opts.QuantizeHead
	case model.RoleEmbedding:
		return p.opts.QuantizeEmbeddings
	}
	return false
}

// keepRule says why a tensor of role r stays in the model dtype.
func (p *SafetensorsPlan) keepRule(r model.Role) string {
	if p.tg.layout == nil {
		return ""
	}
	switch r {
	case model.RoleRouter:
		return "router kept in " + torchDType(p.tg.dtype) + ", as engines compute it"
	case model.RoleEmbedding:
		if p.tg.layout != intq.MLX {
			return "embedding kept: " + p.tg.layout.Name() + " quantizes Linear layers"
		}
		return "embedding kept (--quantize-embeddings to quantize)"
	case model.RoleOutput:
		return "lm_head kept (--quantize-head to quantize)"
	}
	return "norm kept"
}

// mapTensors makes one unit per output weight. With the MLX layout the
// experts of a layer are stacked, one unit per projection with a part per
// expert, as mlx-lm stores them.
func (p *SafetensorsPlan) mapTensors(view []hfTensor) error {
	cfg := p.src.Config
	stacks := map[[2]int]*stUnit{}
	metas := map[[2]int][]intq.Stored{}
	// meta describes the tensors the layout stores for an out×in weight;
	// making one Plan per distinct shape also checks the scheme against it.
	meta := func(name string, out, in int) ([]intq.Stored, error) {
		key := [2]int{out, in}
		if m, ok := metas[key]; ok {
			return m, nil
		}
		pl, err := p.tg.layout.NewPlan(out, in, p.tg.scheme)
		if err != nil {
			return nil, fmt.Errorf("tensor %s (%d×%d): %w", name, out, in, err)
		}
		var m []intq.Stored
		for _, s := range pl.Tensors() {
			st := intq.Stored{Suffix: s.Suffix, DType: s.DType, Shape: s.Shape, Fixed: s.Fixed}
			if s.Fixed {
				st.Data = s.Data
			}
			m = append(m, st)
		}
		metas[key] = m
		return m, nil
	}
	for _, v := range view {
		role := v.Role.Role
		if !p.quantizes(role) {
			p.units = append(p.units, p.floatUnit(v))
			continue
		}
		if len(v.Shape) != 2 {
			return fmt.Errorf("tensor %s: shape %v is not a matrix", v.Name, v.Shape)
		}
		out, in := int(v.Shape[0]), int(v.Shape[1])
		m, err := meta(v.Name, out, in)
		if err != nil {
			return err
		}
		if p.tg.layout == intq.MLX && role.PerExpert() {
			key := [2]int{v.Role.Layer, int(role)}
			u := stacks[key]
			if u == nil {
				module := model.MLXExpertModule(v.Role.Layer, role)
				u = p.intqUnit(module, module+".weight", v, m, cfg.NumExperts)
				u.t.Role.Expert = model.AllExperts
				stacks[key] = u
				p.units = append(p.units, u)
			}
			u.t.parts[v.Role.Expert] = v.src
			// A GGUF source stacks the experts already: name it once.
			if n := len(u.sources); n == 0 || u.sources[n-1] != v.source() {
				u.sources = append(u.sources, v.source())
			}
			continue
		}
		u := p.intqUnit(strings.TrimSuffix(v.Name, ".weight"), v.Name, v, m, 1)
		u.t.parts[0] = v.src
		u.sources = []string{v.source()}
		p.units = append(p.units, u)
	}
	return nil
}

// source names the stored tensor v is read from.
func (v hfTensor) source() string { return v.src.src.tensor }

func reversedDims(shape []int64) []uint64 {
	dims := make([]uint64, len(shape))
	for i, d := range shape {
		dims[len(shape)-1-i] = uint64(d)
	}
	return dims
}

// floatUnit stores a tensor unquantized in the model dtype.
func (p *SafetensorsPlan) floatUnit(v hfTensor) *stUnit {
	typ := ggmlFloat(p.tg.dtype)
	t := &outTensor{Name: v.Name, Dims: reversedDims(v.Shape), Type: typ, Role: v.Role, parts: []part{v.src}, enc: stRows}
	return &stUnit{
		t: t, shape: slices.Clone(v.Shape), typ: typ.String(), rule: p.keepRule(v.Role.Role),
		sources: []string{v.source()},
		stored:  []safetensors.TensorInfo{{Name: v.Name, DType: p.tg.dtype, Shape: slices.Clone(v.Shape)}},
	}
}

// intqUnit packs one weight of v's shape with the layout, or, for experts
// above 1, a stack of that many; module prefixes the stored tensors' names.
func (p *SafetensorsPlan) intqUnit(module, name string, v hfTensor, meta []intq.Stored, experts int) *stUnit {
	out, in := int(v.Shape[0]), int(v.Shape[1])
	shape := slices.Clone(v.Shape)
	dims := reversedDims(v.Shape)
	if experts > 1 {
		shape = append([]int64{int64(experts)}, shape...)
		dims = append(dims, uint64(experts))
	}
	enc := newIntqEncoder(p.tg.layout, p.tg.scheme, out, in, experts)
	t := &outTensor{Name: name, Dims: dims, Type: ggmlFloat(p.tg.dtype), Role: v.Role, parts: make([]part, experts), enc: enc}
	u := &stUnit{t: t, shape: shape, typ: p.intTypeName(), rule: "quantized"}
	for _, s := range meta {
		st := slices.Clone(s.Shape)
		if experts > 1 {
			st = append([]int64{int64(experts)}, st...)
		}
		u.stored = append(u.stored, safetensors.TensorInfo{Name: module + "." + s.Suffix, DType: safetensors.DType(s.DType), Shape: st})
		u.fixed = append(u.fixed, s.Data)
		enc.fixed = append(enc.fixed, s.Fixed)
	}
	return u
}

func (p *SafetensorsPlan) intTypeName() string {
	s := p.tg.scheme
	if s.GroupSize == -1 {
		return fmt.Sprintf("int%d per-channel", s.Bits)
	}
	return fmt.Sprintf("int%d g%d", s.Bits, s.GroupSize)
}

// layOut shards the stored tensors in unit order and fixes every offset.
// Offsets run through the shards one after another, as if they were one
// file; shardSet maps them back.
func (p *SafetensorsPlan) layOut() error {
	var infos []safetensors.TensorInfo
	for _, u := range p.units {
		infos = append(infos, u.stored...)
	}
	limit := p.opts.ShardSize
	if limit == 0 {
		limit = DefaultShardSize
	}
	format := "pt"
	if p.tg.layout == intq.MLX {
		format = "mlx" // what mlx-lm writes
	}
	groups := safetensors.PlanShards(infos, limit)
	offsets := map[string]int64{}
	var base int64
	for i, g := range groups {
		l, err := safetensors.NewLayout(map[string]string{"format": format}, g)
		if err != nil {
			return err
		}
		name := safetensors.ShardName(i, len(groups))
		p.shards = append(p.shards, stShard{name: name, layout: l, base: base})
		for _, t := range g {
			off, _ := l.Offset(t.Name)
			offsets[t.Name] = base + off
		}
		base += l.Size()
	}
	for _, u := range p.units {
		if enc, ok := u.t.enc.(*intqEncoder); ok {
			for _, s := range u.stored {
				enc.dst = append(enc.dst, offsets[s.Name])
			}
		} else {
			u.offset = offsets[u.stored[0].Name]
		}
	}
	if len(groups) > 1 {
		idx, err := safetensors.MarshalIndex(safetensors.NewIndex(groups))
		if err != nil {
			return err
		}
		p.files[safetensors.IndexFileName] = idx
	}
	return nil
}

// sideFiles prepares config.json, the quantization config, and the
// tokenizer and generation files.
func (p *SafetensorsPlan) sideFiles() error {
	src := p.src
	var cfg map[string]any
	if src.IsGGUF() {
		vocab, err := vocabFromGGUF(src.gg)
		if err != nil {
			return err
		}
		p.vocab = vocab
		cfg = hfConfigFromGGUF(src.Config, p.tg.dtype)
		gen, err := marshalJSON(generationConfig(vocab, src.Config))
		if err != nil {
			return err
		}
		p.files["generation_config.json"] = gen
	} else {
		var err error
		if cfg, err = readConfigObject(filepath.Join(src.Dir, "config.json")); err != nil {
			return err
		}
		if p.copies, err = existingSideFiles(src.Dir); err != nil {
			return err
		}
	}
	cfg["torch_dtype"] = torchDType(p.tg.dtype)
	if _, ok := cfg["dtype"]; ok { // the key's newer name in transformers
		cfg["dtype"] = torchDType(p.tg.dtype)
	}
	delete(cfg, "quantization_config")
	delete(cfg, "quantization")
	if err := p.quantizationConfig(cfg); err != nil {
		return err
	}
	data, err := marshalJSON(cfg)
	if err != nil {
		return err
	}
	p.files["config.json"] = data
	return nil
}

// quantizationConfig adds the layout's keys to config.json: the modules
// left unquantized are listed where the format has a place for them.
func (p *SafetensorsPlan) quantizationConfig(cfg map[string]any) error {
	tg := p.tg
	switch tg.layout {
	case nil:
		return nil
	case intq.CompressedTensors:
		// llm-compressor's Mixtral recipe ignores lm_head and the routers;
		// embeddings and norms are not Linear layers and so never targeted,
		// but are listed so the file says what stayed in full precision.
		var ignore []string
		if !p.opts.QuantizeHead {
			ignore = append(ignore, "lm_head")
		}
		ignore = append(ignore, "model.embed_tokens", "re:.*block_sparse_moe.gate", "re:.*norm$")
		qc, err := intq.CompressedTensorsConfig(tg.scheme, ignore)
		if err != nil {
			return err
		}
		cfg["quantization_config"] = qc
	case intq.GPTQ:
		qc, err := intq.GPTQConfig(tg.scheme)
		if err != nil {
			return err
		}
		// vLLM and GPTQModel read lm_head to know whether the head is packed.
		qc["lm_head"] = p.opts.QuantizeHead
		cfg["quantization_config"] = qc
		// AutoGPTQ's loader reads the same keys from quantize_config.json.
		data, err := marshalJSON(qc)
		if err != nil {
			return err
		}
		p.files["quantize_config.json"] = data
	case intq.MLX:
		var skip []string
		for _, u := range p.units {
			if u.t.enc == stRows && len(u.shape) == 2 {
				skip = append(skip, strings.TrimSuffix(u.t.Name, ".weight"))
			}
		}
		qc, err := intq.MLXConfig(tg.scheme, skip)
		if err != nil {
			return err
		}
		// mlx-lm writes the same object under both keys.
		cfg["quantization"] = qc
		cfg["quantization_config"] = maps.Clone(qc)
	}
	return nil
}

// Size is the total size of the shards the plan writes.
func (p *SafetensorsPlan) Size() int64 {
	var n int64
	for _, s := range p.shards {
		n += s.layout.Size()
	}
	return n
}

// Report describes the plan; after Write it also holds the measurements.
func (p *SafetensorsPlan) Report(out string) *report.Report {
	r := &report.Report{Source: p.src.Path, Output: out, Format: "safetensors", Target: p.tg.String(), DryRun: true, OutputBytes: p.Size()}
	for _, u := range p.units {
		var bytes int64
		for _, s := range u.stored {
			bytes += s.ByteSize()
		}
		r.Tensors = append(r.Tensors, report.Tensor{
			Name: u.t.Name, Role: u.t.Role.Role.String(), Layer: u.t.Role.Layer, Expert: u.t.Role.Expert,
			Shape: slices.Clone(u.shape), Type: u.typ, Rule: u.rule, Params: u.t.numElements(), Bytes: bytes,
			Source: slices.Clone(u.sources),
		})
	}
	r.Summarize()
	return r
}
