package inspect

import "github.com/mxq-dev/mxq/model"

// SchemaVersion identifies the JSON layout of Report (see SCHEMA.md).
// Fields may be added within a version; none are removed or renamed.
const SchemaVersion = "mxq.inspect/v1"

// Report is everything Inspect learned about a model. It marshals to the
// JSON documented in SCHEMA.md; WriteText renders it for people.
type Report struct {
	Schema   string   `json:"schema"`
	Source   Source   `json:"source"`
	Settings Settings `json:"settings"`

	Config *model.Config `json:"config"`
	// Arch describes models of the families in arch/ other than Mixtral's
	// (Config is then null); nil otherwise.
	Arch *ArchReport `json:"arch,omitempty"`
	// Survey is what the tensor headers of an unknown architecture show.
	Survey *HeaderSurvey `json:"header_survey,omitempty"`
	// ConfigOrigin says where Config came from: "config.json",
	// "gguf metadata" or "inferred from tensor shapes".
	ConfigOrigin string `json:"config_origin"`

	Params ParamReport `json:"params"`
	// Naive is the "8 × 7B" comparison; nil for dense models.
	Naive *NaiveView `json:"naive_view,omitempty"`
	// Reference restates the totals the way other tools report them.
	Reference ReferenceFigures `json:"reference_figures"`

	Checkpoint *CheckpointSummary `json:"checkpoint,omitempty"`
	Memory     *MemoryReport      `json:"memory,omitempty"`

	// Findings lists every inconsistency and assumption, most severe first.
	Findings []Finding `json:"findings"`
}

// Source describes what was inspected.
type Source struct {
	Path string `json:"path"`
	// Kind is "safetensors-folder", "safetensors-file", "gguf" or "config".
	Kind       string `json:"kind"`
	ConfigPath string `json:"config_path,omitempty"`
	IndexPath  string `json:"index_path,omitempty"`
}

// Settings echoes the options the memory figures were computed with.
type Settings struct {
	Context        int       `json:"context"`
	ContextDefault bool      `json:"context_is_model_default"`
	Sequences      int       `json:"sequences"`
	UBatch         int       `json:"ubatch"`
	KVType         string    `json:"kv_type"`
	FlashAttention bool      `json:"flash_attention"`
	OffloadQuant   string    `json:"offload_quant"`
	GPUSizesGB     []float64 `json:"gpu_sizes_gb"`
	Layers         bool      `json:"layers"`
}

// ParamReport is the parameter accounting.
type ParamReport struct {
	// CountedFrom is "tensors" when the figures come from the checkpoint's
	// tensors (and were cross-checked against the config), or "config".
	CountedFrom string `json:"counted_from"`

	NumExperts      int `json:"num_experts"`
	ExpertsPerToken int `json:"experts_per_token"`

	Total   int64 `json:"total"`
	Shared  int64 `json:"shared"`
	Experts int64 `json:"experts"`
	// PerExpertPerLayer is one expert of one layer; ExpertAcrossLayers is
	// one expert index over all layers.
	PerExpertPerLayer  int64 `json:"per_expert_per_layer"`
	ExpertAcrossLayers int64 `json:"expert_across_layers"`
	// Active is shared + experts_per_token experts in every layer; the
	// variant excluding the embedding leaves out the lookup table, of which
	// a token reads one row.
	Active                   int64 `json:"active"`
	ActiveExcludingEmbedding int64 `json:"active_excluding_embedding"`

	ByGroup model.Breakdown     `json:"by_group"`
	ByRole  []RoleCount         `json:"by_role"`
	Layers  []model.LayerParams `json:"layers"`

	// ConfigTotal and ConfigActive are the same figures computed from the
	// config alone (equal to Total and Active when the checkpoint matches).
	ConfigTotal  int64 `json:"config_total"`
	ConfigActive int64 `json:"config_active"`

	// For families beyond Mixtral (see SCHEMA.md): always-on shared
	// experts, the MLPs of dense layers (both part of Shared), the number
	// of layers of each kind, parameters by part and the
	// multi-token-prediction module(s), which are not part of Total.
	SharedExperts int64       `json:"shared_experts,omitempty"`
	DenseLayerFFN int64       `json:"dense_layer_ffn,omitempty"`
	MoELayers     int         `json:"moe_layers,omitempty"`
	DenseLayers   int         `json:"dense_layers,omitempty"`
	ByPart        []PartCount `json:"by_part,omitempty"`
	MTP           *MTPReport  `json:"mtp,omitempty"`
}

// RoleCount is the parameter count of one tensor role.
type RoleCount struct {
	Role      model.Role `json:"role"`
	Group     string     `json:"group"`
	Tensors   int        `json:"tensors"`
	Params    int64      `json:"params"`
	PerExpert bool       `json:"per_expert"`
}

// NaiveView compares the real size with "number of experts × dense model".
type NaiveView struct {
	NumExperts int `json:"num_experts"`
	// DenseEquivalent is shared + one expert per layer (the "7B").
	DenseEquivalent int64 `json:"dense_equivalent"`
	// NaiveTotal is NumExperts × DenseEquivalent (the "8 × 7B").
	NaiveTotal int64 `json:"naive_total"`
	RealTotal  int64 `json:"real_total"`
	// Overcount is NaiveTotal - RealTotal = (NumExperts-1) × shared.
	Overcount   int64  `json:"overcount"`
	Explanation string `json:"explanation"`
}

// ReferenceFigures restates the counts as other tools define them.
type ReferenceFigures struct {
	// TransformersExcludingEmbeddings is what transformers'
	// num_parameters(exclude_embeddings=True) reports: the total without
	// the embedding table (lm_head is a Linear and stays).
	TransformersExcludingEmbeddings int64 `json:"transformers_excluding_embeddings"`
	// AccelerateEstimateMemoryParams is what `accelerate estimate-memory`
	// counts: it builds AutoModel, which has no lm_head.
	AccelerateEstimateMemoryParams int64 `json:"accelerate_estimate_memory_params"`
	// FP32Bytes is 4 bytes per parameter, the whole model.
	FP32Bytes int64 `json:"fp32_bytes"`
	// RotaryBufferBytes is the fp32 rotary-embedding buffers (inv_freq and
	// original_inv_freq, head_dim/2 values each) that accelerate's
	// calculate_maximum_sizes adds to the parameters of the causal-LM model.
	RotaryBufferBytes int64 `json:"rotary_buffer_bytes"`
	// LargestLayerFP32Bytes is the largest decoder layer at 4 bytes per
	// parameter (accelerate's "largest layer"; decoder layers are not split).
	LargestLayerFP32Bytes int64 `json:"largest_layer_fp32_bytes"`
}

// CheckpointSummary describes the files when tensors were read.
type CheckpointSummary struct {
	Format string `json:"format"` // "safetensors" or "gguf"
	// Quantization names the layout of quantized safetensors ("gptq 4-bit
	// group 128"), whose tensors are counted as the weights they hold;
	// BitsPerWeight is then DataBytes × 8 / parameters.
	Quantization  string  `json:"quantization,omitempty"`
	BitsPerWeight float64 `json:"bits_per_weight,omitempty"`
	Files         int     `json:"files"`
	// Tensors is the number of tensors found; ExpectedTensors the number
	// the config calls for.
	Tensors         int   `json:"tensors"`
	ExpectedTensors int   `json:"expected_tensors"`
	DataBytes       int64 `json:"data_bytes"` // Σ tensor bytes
	FileBytes       int64 `json:"file_bytes"` // Σ file sizes (headers included)
	// IndexTotalSize is the index's metadata.total_size, -1 without index.
	IndexTotalSize  int64           `json:"index_total_size"`
	DTypes          []DTypeCount    `json:"dtypes"`
	Shards          []ShardCount    `json:"shards,omitempty"`
	Unrecognized    []TensorBrief   `json:"unrecognized"`
	Missing         []string        `json:"missing"`
	ShapeMismatches []ShapeMismatch `json:"shape_mismatches"`

	// GGUF only.
	GGUFVersion   uint32 `json:"gguf_version,omitempty"`
	GGUFFileType  string `json:"gguf_file_type,omitempty"`
	GGUFAlignment uint64 `json:"gguf_alignment,omitempty"`
	// GGUFMetadata lists every metadata key in file order.
	GGUFMetadata []MetadataEntry `json:"gguf_metadata,omitempty"`
}

// MetadataEntry is one GGUF metadata key. Value is rendered for reading:
// long strings are cut, and arrays show their first elements; Count is an
// array's length (0 for scalars).
type MetadataEntry struct {
	Key   string `json:"key"`
	Type  string `json:"type"` // GGUF value type, "array[string]" for arrays
	Value string `json:"value"`
	Count int    `json:"count,omitempty"`
}

// DTypeCount sums the tensors stored in one dtype (safetensors dtype or
// ggml type name).
type DTypeCount struct {
	DType   string `json:"dtype"`
	Tensors int    `json:"tensors"`
	Params  int64  `json:"params"`
	Bytes   int64  `json:"bytes"`
	// BitsPerWeight is Bytes×8/Params: the true storage cost, block scales
	// included.
	BitsPerWeight float64 `json:"bits_per_weight"`
}

// ShardCount is one file of a sharded checkpoint.
type ShardCount struct {
	File    string `json:"file"`
	Tensors int    `json:"tensors"`
	Bytes   int64  `json:"bytes"`
}

// TensorBrief names a tensor that did not fit the architecture.
type TensorBrief struct {
	Name   string  `json:"name"`
	Shape  []int64 `json:"shape"`
	DType  string  `json:"dtype"`
	Reason string  `json:"reason"`
}

// ShapeMismatch is a tensor whose shape differs from the config's.
type ShapeMismatch struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Expected []int64 `json:"expected"`
}

// Severity ranks findings.
type Severity string

const (
	SeverityError   Severity = "error"   // the checkpoint and its description disagree
	SeverityWarning Severity = "warning" // something unusual that changes the figures
	SeverityInfo    Severity = "info"    // an assumption behind the figures
)

// Finding is one observation worth a reader's attention. Code is a stable
// identifier (see SCHEMA.md); Message is for people.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
}
