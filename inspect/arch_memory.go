package inspect

import (
	"fmt"
	"strings"

	"github.com/mxq-dev/mxq/arch"
	"github.com/mxq-dev/mxq/ggml"
)

const archComputeFormula = "inputs + max(attention, ffn) + logits, in fp32 for T = min(ubatch, cache) tokens and n_kv = cache cells: " +
	"inputs = 4·T·hidden + mask (4·n_kv·T, or 2·n_kv·T with flash attention); " +
	"attention = 4·T·(heads·qk_head_dim + cached values per layer) + 4·T·hidden, plus the score matrix 4·n_kv·T·heads without flash attention; " +
	"ffn = 4·T·(experts + top_k·(3·expert_intermediate + hidden) + 3·shared_expert_intermediate + hidden) for MoE layers, 4·T·(3·intermediate + hidden) for dense ones; " +
	"logits = 4·vocab·T. Modelled on llama.cpp's graph; backends differ, so treat it as ±50%"

// archSet adds one tensor to a weight set the way llama.cpp places it; the
// multi-token-prediction layers are left out (inference without
// speculative decoding does not load them).
func archSet(w *weightSet, m *arch.Model, part arch.Part, layer int, params, bytes int64) {
	switch {
	case layer >= m.Layers:
		return
	case part == arch.PartEmbedding && layer < 0:
		w.tokenEmbd += bytes
	case layer >= 0 && part == arch.PartExperts:
		w.layerExperts[layer] += bytes
	case layer >= 0:
		w.layerShared[layer] += bytes
	default:
		w.tail += bytes
	}
	w.total += bytes
	w.params += params
}

// archWeightSets are the checkpoint (as read, or as the config describes
// it) and the plain widths.
func archWeightSets(m *arch.Model, tensors []archTensor) []*weightSet {
	var sets []*weightSet
	exp := m.HFTensors()
	if tensors != nil {
		w := newWeightSet("as stored", "stored", m.Layers)
		recs := make([]tensorRec, 0, len(tensors))
		dtypes := make(map[string]string, len(tensors))
		for _, t := range tensors {
			dtypes[t.rec.Name] = t.rec.DType
		}
		for _, t := range tensors {
			params := t.rec.Params
			if t.found.Piece == "blocks" {
				params *= 2
			} else if t.found.Piece == "scales" || t.found.Piece == "scale_inv" {
				params = 0
			}
			layer := t.found.Layer
			if !t.ok {
				layer = -1
			}
			archSet(w, m, t.found.Part, layer, params, t.rec.Bytes)
			rec := *t.rec
			rec.Params = params
			if t.found.Piece == "scale_inv" {
				// Block scales count toward the type of the weights they scale.
				if dt, ok := dtypes[strings.TrimSuffix(rec.Name, "_scale_inv")]; ok {
					rec.DType = dt
				}
			}
			recs = append(recs, rec)
		}
		w.types = storedTypes(recs)
		sets = append(sets, w)
	} else {
		w := newWeightSet("checkpoint", "checkpoint", m.Layers)
		var recs []tensorRec
		dtype := ""
		stored := m.StoredOf(exp)
		for i := range stored {
			s := &stored[i]
			archSet(w, m, s.Of.Part, s.Of.Layer, s.Params, s.Bytes)
			if s.Params > 0 {
				dtype = s.DType
			}
			if s.Of.Layer < m.Layers {
				// Scales (no parameters of their own) count toward the type
				// of the weights they follow.
				recs = append(recs, tensorRec{DType: dtype, Params: s.Params, Bytes: s.Bytes})
			}
		}
		w.types = storedTypes(recs)
		sets = append(sets, w)
	}
	for _, pw := range plainWidths {
		w := newWeightSet(pw.name, "plain", m.Layers)
		tensors := 0
		for i := range exp {
			e := &exp[i]
			n := e.Elements()
			archSet(w, m, e.Part, e.Layer, n, (n*pw.bits+7)/8)
			if e.Layer < m.Layers {
				tensors++
			}
		}
		w.types = []TypeBytes{{Type: pw.name, Tensors: tensors, Params: w.params, Bytes: w.total, BitsPerWeight: float64(pw.bits)}}
		sets = append(sets, w)
	}
	return sets
}

func archMemory(m *arch.Model, tensors []archTensor, c arch.Counts, o resolved) (*MemoryReport, Settings, []Finding, error) {
	s := Settings{
		Context: o.Context, ContextDefault: o.Context == 0, Sequences: o.Batch, UBatch: o.UBatch,
		KVType: o.KVType, FlashAttention: o.FlashAttention, GPUSizesGB: o.GPUSizesGB, Layers: o.Layers,
	}
	if s.Context == 0 {
		s.Context = m.MaxPositions
	}
	mem := &MemoryReport{Units: "bytes (text: GB = 10^9 bytes)"}
	sets := archWeightSets(m, tensors)
	for _, w := range sets {
		mem.Weights = append(mem.Weights, WeightOption{
			Name: w.name, Kind: w.kind, Bytes: w.total, BitsPerWeight: w.bpw(),
			TokenEmbdBytes: w.tokenEmbd, ExpertBytes: w.experts(), Types: w.types,
		})
	}
	kv, err := archKV(m, s, o.kvType)
	if err != nil {
		return nil, s, nil, err
	}
	mem.KV = kv
	mem.Compute = archCompute(m, s)
	kvLayer := kv.Bytes / int64(max(m.Layers, 1))
	for _, w := range sets {
		mem.Fit = append(mem.Fit, fitRow(w, kvLayer, kv.Bytes, mem.Compute.Bytes, s.GPUSizesGB))
	}
	if c.MoELayers > 0 {
		mem.Offload = offloadPlan(sets[0], kv.Bytes, mem.Compute.Bytes, s.GPUSizesGB)
		s.OffloadQuant = sets[0].name
	}
	ctx := fmt.Sprintf("the KV cache holds %s tokens × %d sequence(s)", commas(int64(s.Context)), s.Sequences)
	if s.ContextDefault {
		ctx += " (the model's context length, llama.cpp's default)"
	}
	mem.Notes = []string{
		"1 GB = 10^9 bytes. GPU sizes are nominal, with nothing reserved for the driver and CUDA context (typically 0.3–1 GB).",
		"plain rows store every parameter at that width with no scales or zero points; the checkpoint row is the Hugging Face files at their dtype and quantization (MXFP4 blocks and scales, FP8 with block scales).",
		"GGUF type mixes are modelled for the llama architecture (Mixtral, Mistral, Llama) only.",
		"multi-token-prediction layers, where a checkpoint has them, are not loaded for plain inference and are left out of every row.",
		ctx + "; the compute buffer is an estimate (see its formula).",
		"Multi-GPU counts split whole layers (with their share of the KV cache) across GPUs, each GPU with its own compute buffer; the expert-offload plan keeps the routed experts (not the shared ones) of the first layers in CPU RAM.",
	}
	return mem, s, nil, nil
}

// archKV sizes the cache with the family's rows per token and layer; a
// sliding-window layer holds at most the window per sequence.
func archKV(m *arch.Model, s Settings, chosen ggml.Type) (KVReport, error) {
	rows := m.Family.KV.Rows(m)
	k := KVReport{Context: s.Context, Sequences: s.Sequences, Layers: m.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim,
		Type: s.KVType, Formula: m.Family.KV.Formula}
	if m.KVLoRARank > 0 {
		k.KVHeads, k.HeadDim = 1, m.KVLoRARank+m.QKRopeDim
	}
	if m.SlidingWindow > 0 && len(m.SlidingLayers) > 0 {
		k.Formula += fmt.Sprintf("; the sliding-window layers cache min(context, %d) tokens", m.SlidingWindow)
	}
	seqs := int64(s.Sequences)
	size := func(t ggml.Type) (perToken, total int64, err error) {
		var row int64
		for _, n := range rows {
			b, err := t.RowSize(n)
			if err != nil {
				return 0, 0, err
			}
			row += b
		}
		for l := 0; l < m.Layers; l++ {
			cells := int64(s.Context)
			if m.IsSlidingLayer(l) && m.SlidingWindow > 0 {
				cells = min(cells, int64(m.SlidingWindow))
			}
			total += row * cells * seqs
		}
		return row * int64(m.Layers), total, nil
	}
	for _, name := range []string{"f16", "q8_0", "q4_0"} {
		t := kvTypes[name]
		if _, total, err := size(t); err == nil {
			k.ByType = append(k.ByType, KVOption{Type: name, BytesPerElement: float64(t.TypeSize()) / float64(t.BlockSize()), Bytes: total})
		}
	}
	pt, total, err := size(chosen)
	if err != nil {
		return k, fmt.Errorf("inspect: KV cache type %s: rows of %v values: %w", s.KVType, rows, err)
	}
	k.BytesPerToken, k.Bytes = pt, total
	return k, nil
}

func archCompute(m *arch.Model, s Settings) ComputeEstimate {
	cells := int64(s.Context) * int64(s.Sequences)
	tokens := min(int64(s.UBatch), cells)
	h, heads := int64(m.Hidden), int64(m.Heads)
	c := ComputeEstimate{UBatch: s.UBatch, Tokens: int(tokens), KVLength: int(cells), FlashAttention: s.FlashAttention, Formula: archComputeFormula}
	mask := 4 * cells * tokens
	if s.FlashAttention {
		mask = 2 * cells * tokens
	}
	c.Inputs = 4*tokens*h + mask
	c.Attention = 4*tokens*(heads*int64(m.HeadDim)+m.Family.KV.Elements(m)) + 4*tokens*h
	if !s.FlashAttention {
		c.Attention += 4 * cells * tokens * heads
	}
	for l := 0; l < m.Layers; l++ {
		var f int64
		if m.IsMoELayer(l) {
			f = 4 * tokens * (int64(m.Experts) + int64(m.TopK)*(3*int64(m.ExpertIntermediate)+h) + 3*int64(m.SharedIntermediate) + h)
		} else {
			f = 4 * tokens * (3*int64(m.Intermediate) + h)
		}
		c.FFN = max(c.FFN, f)
	}
	c.Logits = 4 * int64(m.Vocab) * tokens
	c.Bytes = c.Inputs + max(c.Attention, c.FFN) + c.Logits
	return c
}
