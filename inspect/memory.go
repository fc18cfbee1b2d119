package inspect

import (
	"fmt"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// GB is the unit of every byte figure in the text rendering and of the GPU
// capacities: 10^9 bytes.
const GB = 1e9

// MemoryReport estimates what running the model takes. All sizes are in
// bytes.
type MemoryReport struct {
	Units   string          `json:"units"`
	Weights []WeightOption  `json:"weights"`
	KV      KVReport        `json:"kv_cache"`
	Compute ComputeEstimate `json:"compute_buffer"`
	Fit     []FitRow        `json:"fit"`
	Offload *OffloadPlan    `json:"expert_offload,omitempty"`
	Notes   []string        `json:"notes"`
}

// WeightOption is the weight storage at one precision or llama.cpp mix.
type WeightOption struct {
	// Name is "fp32", "fp16/bf16", "int8", "int4" (kind "plain"), a
	// llama.cpp file type such as "Q4_K_M" (kind "gguf"), or "as stored"
	// (kind "stored": the inspected files themselves).
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Bytes is the tensor data; BitsPerWeight = Bytes×8 / parameters.
	Bytes         int64   `json:"bytes"`
	BitsPerWeight float64 `json:"bits_per_weight"`
	// TokenEmbdBytes is the embedding table, which llama.cpp keeps in CPU
	// RAM; ExpertBytes the experts of all layers.
	TokenEmbdBytes int64       `json:"token_embd_bytes"`
	ExpertBytes    int64       `json:"expert_bytes"`
	Types          []TypeBytes `json:"types"`
	// NeedsImatrix marks a file type llama-quantize makes only with an
	// importance matrix (--imatrix); its sizes are those of such a file.
	NeedsImatrix bool `json:"needs_imatrix,omitempty"`
}

// TypeBytes is the share of one storage type in a weight option.
type TypeBytes struct {
	Type    string `json:"type"`
	Tensors int    `json:"tensors"`
	Params  int64  `json:"params"`
	Bytes   int64  `json:"bytes"`
	// BitsPerWeight is the type's true cost, block scales included.
	BitsPerWeight float64 `json:"bits_per_weight"`
}

// KVReport is the KV cache size.
type KVReport struct {
	Context   int    `json:"context"`
	Sequences int    `json:"sequences"`
	Layers    int    `json:"layers"`
	KVHeads   int    `json:"kv_heads"`
	HeadDim   int    `json:"head_dim"`
	Type      string `json:"type"`
	// BytesPerToken covers K and V of every layer for one token.
	BytesPerToken int64      `json:"bytes_per_token"`
	Bytes         int64      `json:"bytes"`
	ByType        []KVOption `json:"by_type"`
	Formula       string     `json:"formula"`
}

// KVOption is the cache size for one element type.
type KVOption struct {
	Type string `json:"type"`
	// BytesPerElement includes block scales (q8_0: 34/32, q4_0: 18/32).
	BytesPerElement float64 `json:"bytes_per_element"`
	Bytes           int64   `json:"bytes"`
}

// ComputeEstimate is a deliberately simple model of llama.cpp's compute
// buffer: the largest intermediate tensors of one micro-batch.
type ComputeEstimate struct {
	UBatch         int    `json:"ubatch"`
	Tokens         int    `json:"tokens"`    // min(ubatch, cache cells)
	KVLength       int    `json:"kv_length"` // cache cells attended over
	FlashAttention bool   `json:"flash_attention"`
	Inputs         int64  `json:"inputs"`
	Attention      int64  `json:"attention"`
	FFN            int64  `json:"ffn"`
	Logits         int64  `json:"logits"`
	Bytes          int64  `json:"bytes"`
	Formula        string `json:"formula"`
}

// FitRow says how many GPUs of each size a weight option needs, with the
// KV cache and one compute buffer per GPU.
type FitRow struct {
	Weights string `json:"weights"`
	// GPUBytes is what one GPU would hold: weights on the GPU + KV cache +
	// compute buffer. CPUBytes stays in RAM (llama.cpp's token_embd).
	GPUBytes int64     `json:"gpu_bytes"`
	CPUBytes int64     `json:"cpu_bytes"`
	GPUs     []FitCell `json:"gpus"`
}

// FitCell is one GPU size.
type FitCell struct {
	SizeGB float64 `json:"size_gb"`
	Fits   bool    `json:"fits_one"`
	// Needed is the number of such GPUs when layers (with their share of
	// the KV cache) are split across them; 0 when a single layer does not
	// fit.
	Needed int `json:"needed"`
}

// OffloadPlan covers llama.cpp's --n-cpu-moe N (equivalently -ot with an
// exps=CPU pattern for those layers): the experts of layers 0..N-1 stay in
// CPU RAM, everything else is on one GPU.
type OffloadPlan struct {
	Weights string `json:"weights"`
	Layers  int    `json:"layers"`
	// AllExpertsOnCPU is N = layers: attention, norms, router, output,
	// KV cache and compute on the GPU; all experts in RAM.
	AllExpertsOnCPU OffloadStep   `json:"all_experts_on_cpu"`
	Steps           []OffloadStep `json:"steps"`
	PerGPU          []OffloadFit  `json:"per_gpu"`
}

// OffloadStep is the memory split for one --n-cpu-moe value.
type OffloadStep struct {
	NCPUMoE           int   `json:"n_cpu_moe"`
	ExpertLayersOnGPU int   `json:"expert_layers_on_gpu"`
	GPUBytes          int64 `json:"gpu_bytes"`
	CPUBytes          int64 `json:"cpu_bytes"`
}

// OffloadFit is the smallest --n-cpu-moe that fits one GPU of a size.
type OffloadFit struct {
	SizeGB float64 `json:"size_gb"`
	// Fits is false when even all experts in RAM leave too much on the GPU.
	Fits bool `json:"fits"`
	OffloadStep
}

const kvFormula = "2 (K and V) × layers × kv_heads × head_dim × context × sequences × bytes per element"

const computeFormula = "inputs + max(attention, ffn) + logits, in fp32 for T = min(ubatch, cache) tokens and n_kv = cache cells: " +
	"inputs = 4·T·hidden + mask (4·n_kv·T, or 2·n_kv·T with flash attention); " +
	"attention = 4·T·(heads + 2·kv_heads)·head_dim + 4·T·hidden, plus the score matrix 4·n_kv·T·heads without flash attention; " +
	"ffn = 4·T·(experts + top_k·(3·intermediate + hidden) + hidden) for MoE, 4·T·(3·intermediate + hidden) dense; " +
	"logits = 4·vocab·T. Modelled on llama.cpp's graph (gguf-parser-go estimates it the same way); backends differ, so treat it as ±50%"

func memoryReport(l *loaded, p ParamReport, o resolved) (*MemoryReport, Settings, []Finding, error) {
	cfg := l.cfg
	var findings []Finding
	s := Settings{
		Context: o.Context, ContextDefault: o.Context == 0, Sequences: o.Batch, UBatch: o.UBatch,
		KVType: o.KVType, FlashAttention: o.FlashAttention, OffloadQuant: o.OffloadQuant,
		GPUSizesGB: o.GPUSizesGB, Layers: o.Layers,
	}
	if s.Context == 0 {
		s.Context = cfg.MaxPositionEmbeddings
	}

	m := &MemoryReport{Units: "bytes (text: GB = 10^9 bytes)"}
	var sets []*weightSet
	if l.tensors != nil {
		sets = append(sets, storedSet(l))
	}
	for _, pw := range plainWidths {
		sets = append(sets, plainSet(cfg, pw.name, pw.bits))
	}
	mixes := map[ggml.FileType]*weightSet{}
	for _, ft := range ggufMixes {
		w, err := ggufSet(cfg, ft)
		if err != nil {
			findings = append(findings, Finding{SeverityWarning, "gguf-mix-unavailable", fmt.Sprintf("%v: %v", ft, err)})
			continue
		}
		mixes[ft] = w
		sets = append(sets, w)
	}
	for _, w := range sets {
		if w.sz.overflowed {
			return nil, s, nil, fmt.Errorf("inspect: %s weights: the byte total does not fit in 64 bits", w.name)
		}
		m.Weights = append(m.Weights, WeightOption{
			Name: w.name, Kind: w.kind, Bytes: w.total, BitsPerWeight: w.bpw(),
			TokenEmbdBytes: w.tokenEmbd, ExpertBytes: w.experts(), Types: w.types,
			NeedsImatrix: w.needsImatrix,
		})
	}

	kv, err := kvReport(cfg, s, o.kvType)
	if err != nil {
		return nil, s, nil, err
	}
	m.KV = kv
	if m.Compute, err = computeEstimate(cfg, s); err != nil {
		return nil, s, nil, err
	}

	tooLarge := func(w *weightSet) error {
		if !placementFits(w, kv.Bytes, m.Compute.Bytes) {
			return fmt.Errorf("inspect: %s weights + KV cache (%s tokens × %d sequences) + compute buffer do not fit in 64 bits", w.name, commas(int64(s.Context)), s.Sequences)
		}
		return nil
	}
	for _, w := range sets {
		if err := tooLarge(w); err != nil {
			return nil, s, nil, err
		}
	}
	kvLayer := kv.Bytes / int64(max(cfg.NumLayers, 1))
	for _, w := range sets {
		m.Fit = append(m.Fit, fitRow(w, kvLayer, kv.Bytes, m.Compute.Bytes, s.GPUSizesGB))
	}

	if cfg.IsMoE() {
		var w *weightSet
		if l.gguf {
			w = sets[0]
			s.OffloadQuant = "as stored"
		} else if w = mixes[o.offload]; w == nil {
			var err error
			if w, err = ggufSet(cfg, o.offload); err != nil {
				findings = append(findings, Finding{SeverityWarning, "offload-unavailable", fmt.Sprintf("expert offload plan at %v: %v", o.offload, err)})
			}
		}
		if w != nil {
			if err := tooLarge(w); err != nil {
				return nil, s, nil, err
			}
			m.Offload = offloadPlan(w, kv.Bytes, m.Compute.Bytes, s.GPUSizesGB)
		}
	}
	m.Notes = memoryNotes(l, s)
	return m, s, findings, nil
}

func memoryNotes(l *loaded, s Settings) []string {
	ctx := fmt.Sprintf("the KV cache holds %s tokens × %d sequence(s)", commas(int64(s.Context)), s.Sequences)
	if s.ContextDefault {
		ctx += " (the model's context length, llama.cpp's default)"
	}
	notes := []string{
		"1 GB = 10^9 bytes. GPU sizes are nominal, with nothing reserved for the driver and CUDA context (typically 0.3–1 GB).",
		"plain rows store every parameter at that width with no scales or zero points; real int8/int4 formats add 0.1–0.5 bits per weight.",
		"GGUF rows are the tensor data of a llama-quantize run from an F16 conversion, type by type as llama-quantize chooses them; file metadata (about 1 MB with a vocabulary) is not included.",
		"llama.cpp keeps token_embd in CPU RAM, so GGUF rows (and a GGUF as stored) count it as CPU memory; plain rows and safetensors as stored put all weights on the GPU, as transformers and vLLM do.",
		ctx + "; the compute buffer is an estimate (see its formula).",
		"Multi-GPU counts split whole layers (with their share of the KV cache) across GPUs, each GPU with its own compute buffer; the output head goes with the last layer.",
	}
	return notes
}

func kvReport(cfg *model.Config, s Settings, chosen ggml.Type) (KVReport, error) {
	var sz sizes
	rowElems := sz.mul(int64(cfg.NumKVHeads), int64(cfg.HeadDim)) // n_embd_k_gqa
	cells := sz.mul(int64(s.Context), int64(s.Sequences))
	k := KVReport{
		Context: s.Context, Sequences: s.Sequences, Layers: cfg.NumLayers, KVHeads: cfg.NumKVHeads,
		HeadDim: cfg.HeadDim, Type: s.KVType, Formula: kvFormula,
	}
	perToken := func(t ggml.Type) (int64, error) {
		row, err := t.RowSize(rowElems)
		if err != nil {
			return 0, err
		}
		return sz.mul(2, int64(cfg.NumLayers), row), nil
	}
	for _, name := range []string{"f16", "q8_0", "q4_0"} {
		t := kvTypes[name]
		pt, err := perToken(t)
		if err != nil {
			continue // llama.cpp refuses such a cache type for this model
		}
		k.ByType = append(k.ByType, KVOption{Type: name, BytesPerElement: float64(t.TypeSize()) / float64(t.BlockSize()), Bytes: sz.mul(pt, cells)})
	}
	pt, err := perToken(chosen)
	if err != nil {
		return k, fmt.Errorf("inspect: KV cache type %s: %d values per row: %w", s.KVType, rowElems, err)
	}
	k.BytesPerToken = pt
	k.Bytes = sz.mul(pt, cells)
	if sz.overflowed {
		return k, fmt.Errorf("inspect: the KV cache of %s tokens × %d sequences does not fit in 64 bits", commas(int64(s.Context)), s.Sequences)
	}
	return k, nil
}

func computeEstimate(cfg *model.Config, s Settings) (ComputeEstimate, error) {
	var sz sizes
	cells := sz.mul(int64(s.Context), int64(s.Sequences))
	tokens := min(int64(s.UBatch), cells)
	h, hd := int64(cfg.HiddenSize), int64(cfg.HeadDim)
	heads, kvh := int64(cfg.NumHeads), int64(cfg.NumKVHeads)
	c := ComputeEstimate{UBatch: s.UBatch, Tokens: int(tokens), KVLength: int(cells), FlashAttention: s.FlashAttention, Formula: computeFormula}
	mask := sz.mul(4, cells, tokens)
	if s.FlashAttention {
		mask = sz.mul(2, cells, tokens)
	}
	c.Inputs = sz.add(sz.mul(4, tokens, h), mask)
	c.Attention = sz.add(sz.mul(4, tokens, sz.add(heads, 2*kvh), hd), sz.mul(4, tokens, h))
	if !s.FlashAttention {
		c.Attention = sz.add(c.Attention, sz.mul(4, cells, tokens, heads))
	}
	inter := int64(cfg.IntermediateSize)
	mlp := sz.add(sz.mul(3, inter), h)
	if cfg.IsMoE() {
		c.FFN = sz.mul(4, tokens, sz.add(int64(cfg.NumExperts), sz.mul(int64(cfg.ExpertsPerToken), mlp), h))
	} else {
		c.FFN = sz.mul(4, tokens, mlp)
	}
	c.Logits = sz.mul(4, int64(cfg.VocabSize), tokens)
	c.Bytes = sz.add(c.Inputs, max(c.Attention, c.FFN), c.Logits)
	if sz.overflowed {
		return c, fmt.Errorf("inspect: the compute buffer for %s tokens × %d sequences and micro-batch %d does not fit in 64 bits", commas(int64(s.Context)), s.Sequences, s.UBatch)
	}
	return c, nil
}

// maxGPUBytes is the largest GPU capacity Options accept (10^6 GB).
const maxGPUBytes = int64(1e6 * GB)

// placementFits reports whether w's total, the KV cache, a compute buffer
// and a GPU's capacity add up within an int64. Every sum in fitRow,
// gpusNeeded and offloadStep is a part of that, so they need no checks of
// their own.
func placementFits(w *weightSet, kv, compute int64) bool {
	var sz sizes
	sz.add(w.total, kv, compute, maxGPUBytes)
	return !w.sz.overflowed && !sz.overflowed
}

func fitRow(w *weightSet, kvLayer, kvTotal, compute int64, sizes []float64) FitRow {
	r := FitRow{Weights: w.name}
	onGPU := w.total
	if w.llamaCPP {
		onGPU -= w.tokenEmbd
		r.CPUBytes = w.tokenEmbd
	}
	r.GPUBytes = onGPU + kvTotal + compute
	for _, g := range sizes {
		capacity := int64(g * GB)
		r.GPUs = append(r.GPUs, FitCell{SizeGB: g, Fits: r.GPUBytes <= capacity, Needed: gpusNeeded(w, kvLayer, compute, capacity)})
	}
	return r
}

// gpusNeeded packs layers in order onto GPUs of the given capacity, each
// holding a compute buffer. It returns 0 when some piece cannot fit at all.
func gpusNeeded(w *weightSet, kvLayer, compute, capacity int64) int {
	avail := capacity - compute
	if avail <= 0 {
		return 0
	}
	gpus, used := 1, int64(0)
	place := func(b int64) bool {
		if b > avail {
			return false
		}
		if used+b > avail {
			gpus++
			used = 0
		}
		used += b
		return true
	}
	if !w.llamaCPP && !place(w.tokenEmbd) {
		return 0
	}
	for i := range w.layerShared {
		if !place(w.layerShared[i] + w.layerExperts[i] + kvLayer) {
			return 0
		}
	}
	if !place(w.tail) {
		return 0
	}
	return gpus
}

// offloadStep is the split for --n-cpu-moe ncpu: experts of layers below
// ncpu and the token embedding in RAM, the rest on the GPU.
func offloadStep(w *weightSet, ncpu int, kv, compute int64) OffloadStep {
	st := OffloadStep{NCPUMoE: ncpu, ExpertLayersOnGPU: len(w.layerExperts) - ncpu}
	st.GPUBytes = w.tail + kv + compute
	st.CPUBytes = w.tokenEmbd
	for l, e := range w.layerExperts {
		st.GPUBytes += w.layerShared[l]
		if l < ncpu {
			st.CPUBytes += e
		} else {
			st.GPUBytes += e
		}
	}
	return st
}

func offloadPlan(w *weightSet, kv, compute int64, sizes []float64) *OffloadPlan {
	n := len(w.layerExperts)
	step := func(ncpu int) OffloadStep { return offloadStep(w, ncpu, kv, compute) }
	p := &OffloadPlan{Weights: w.name, Layers: n, AllExpertsOnCPU: step(n)}
	seen := map[int]bool{}
	for _, q := range []int{0, n / 4, n / 2, 3 * n / 4, n} {
		if !seen[q] {
			seen[q] = true
			p.Steps = append(p.Steps, step(q))
		}
	}
	for _, g := range sizes {
		capacity := int64(g * GB)
		f := OffloadFit{SizeGB: g, OffloadStep: step(n)}
		for q := 0; q <= n; q++ {
			if st := step(q); st.GPUBytes <= capacity {
				f.Fits, f.OffloadStep = true, st
				break
			}
		}
		p.PerGPU = append(p.PerGPU, f)
	}
	return p
}
