package inspect

import (
	"fmt"
	"strings"

	"github.com/mxq-dev/mxq/ggml"
)

// DefaultGPUSizesGB are the GPU capacities of the fit table, in GB
// (10^9 bytes): 24 (RTX 3090/4090), 40 and 80 (A100/H100), 48 (A6000/L40S),
// 141 (H200).
var DefaultGPUSizesGB = []float64{24, 40, 48, 80, 141}

// Options tune the memory estimate and the text rendering. The zero value
// gives llama.cpp's defaults.
type Options struct {
	// Context is the KV cache length in tokens per sequence; 0 means the
	// model's own context length (max_position_embeddings), as llama.cpp
	// uses when -c is 0.
	Context int
	// Batch is the number of sequences, each with its own Context-token
	// cache (llama.cpp -np); 0 means 1.
	Batch int
	// UBatch is the physical batch the compute buffer is sized for; 0 means
	// llama.cpp's default of 512.
	UBatch int
	// KVType is the KV cache element type: "f16" (default), "q8_0", "q4_0",
	// "bf16" or "f32".
	KVType string
	// FlashAttention sizes the compute buffer for flash attention, which
	// never materialises the attention score matrix.
	FlashAttention bool
	// OffloadQuant is the llama.cpp file type of the expert-offload plan
	// ("Q4_K_M" when empty). For a GGUF input the plan uses the file as
	// stored.
	OffloadQuant string
	// GPUSizesGB are the capacities of the fit table (DefaultGPUSizesGB when
	// empty).
	GPUSizesGB []float64
	// Layers adds the per-layer table to the text rendering (JSON always
	// has it).
	Layers bool
}

// Limits of the settings. llama.cpp keeps the context and the micro-batch
// in 32-bit counters and serves at most 256 sequences (LLAMA_MAX_SEQ); with
// these bounds every size of a valid config fits an int64.
const (
	MaxContext   = 1<<31 - 1
	MaxSequences = 256
	MaxUBatch    = 1<<31 - 1
)

// kvTypeNames are the cache type names llama.cpp accepts (-ctk/-ctv) that
// the estimate supports, in the order they are listed to users.
var kvTypeNames = []string{"f16", "q8_0", "q4_0", "bf16", "f32"}

// kvTypes maps kvTypeNames to their ggml types.
var kvTypes = map[string]ggml.Type{
	"f32": ggml.F32, "f16": ggml.F16, "bf16": ggml.BF16, "q8_0": ggml.Q8_0, "q4_0": ggml.Q4_0,
}

// KVTypeNames lists the KV cache types Options.KVType accepts.
func KVTypeNames() []string { return append([]string{}, kvTypeNames...) }

// IsKVType reports whether name (any case) is a supported KV cache type.
func IsKVType(name string) bool { _, ok := kvTypes[strings.ToLower(name)]; return ok }

type resolved struct {
	Options
	kvType  ggml.Type
	offload ggml.FileType
}

func (o Options) resolve() (resolved, error) {
	r := resolved{Options: o}
	for _, lim := range []struct {
		what   string
		v, max int
	}{{"context", r.Context, MaxContext}, {"batch", r.Batch, MaxSequences}, {"ubatch", r.UBatch, MaxUBatch}} {
		if lim.v < 0 || lim.v > lim.max {
			return r, fmt.Errorf("inspect: %s %d is outside 0..%d", lim.what, lim.v, lim.max)
		}
	}
	if r.Batch == 0 {
		r.Batch = 1
	}
	if r.UBatch == 0 {
		r.UBatch = 512
	}
	if r.KVType == "" {
		r.KVType = "f16"
	}
	r.KVType = strings.ToLower(r.KVType)
	t, ok := kvTypes[r.KVType]
	if !ok {
		return r, fmt.Errorf("inspect: unsupported KV cache type %q (%s)", o.KVType, strings.Join(kvTypeNames, ", "))
	}
	r.kvType = t
	if r.OffloadQuant == "" {
		r.OffloadQuant = "Q4_K_M"
	}
	ft, err := ggml.ParseFileType(r.OffloadQuant)
	if err != nil {
		return r, fmt.Errorf("inspect: offload quant: %w", err)
	}
	r.offload, r.OffloadQuant = ft, ft.String()
	if len(r.GPUSizesGB) == 0 {
		r.GPUSizesGB = DefaultGPUSizesGB
	}
	for _, g := range r.GPUSizesGB {
		if !(g > 0) || g*GB > float64(maxGPUBytes) {
			return r, fmt.Errorf("inspect: GPU size %v GB out of range", g)
		}
	}
	return r, nil
}
