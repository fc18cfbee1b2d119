// Package report is the validation report of a quantization run: what each
// tensor became, the error it took, summaries by role and by expert, and
// the CI thresholds it was held to. It renders as a table for people and as
// JSON for machines.
package report

import "github.com/mxq-dev/mxq/quant"

// SchemaVersion is bumped only when a field is removed or changes meaning;
// fields may be added within a version.
const SchemaVersion = 1

// Tensor is one output tensor.
type Tensor struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Layer  int      `json:"layer"`  // -1: not in a layer
	Expert int      `json:"expert"` // -1: not an expert; -2: all experts of the layer
	Shape  []int64  `json:"shape"`  // as stored: GGUF ne order, or row-major for safetensors
	Type   string   `json:"type"`
	Rule   string   `json:"rule,omitempty"` // why this type was chosen
	Params int64    `json:"params"`
	Bytes  int64    `json:"bytes"`
	Source []string `json:"source,omitempty"` // source tensor names

	Metrics quant.Metrics `json:"metrics"`
	// Experts holds per-expert metrics of a tensor that stacks experts,
	// indexed by expert.
	Experts []quant.Metrics `json:"experts,omitempty"`
}

// Role sums the tensors of one role.
type Role struct {
	Role              string  `json:"role"`
	Tensors           int     `json:"tensors"`
	Params            int64   `json:"params"`
	Bytes             int64   `json:"bytes"`
	BitsPerWeight     float64 `json:"bits_per_weight"`
	MeanRelFrobenius  float64 `json:"mean_rel_frobenius"` // weighted by parameters
	WorstRelFrobenius float64 `json:"worst_rel_frobenius"`
	WorstTensor       string  `json:"worst_tensor"`
	MinCosine         float64 `json:"min_cosine"`
	MeanMatmulRel     float64 `json:"mean_matmul_rel_error"` // weighted by parameters
}

// Expert sums one expert of one layer over its projections.
type Expert struct {
	Layer            int     `json:"layer"`
	Expert           int     `json:"expert"`
	Params           int64   `json:"params"`
	MeanRelFrobenius float64 `json:"mean_rel_frobenius"` // weighted by parameters
	WorstMatmulRel   float64 `json:"worst_matmul_rel_error"`
	WorstProjection  string  `json:"worst_projection"` // tensor with the worst matmul error
	MinCosine        float64 `json:"min_cosine"`
	// WorstImatrixError is the largest imatrix_weighted_error among the
	// expert's projections; absent without an importance matrix.
	WorstImatrixError *float64 `json:"worst_imatrix_weighted_error,omitempty"`
}

// Thresholds are the CI gates; a zero field is not checked.
type Thresholds struct {
	MaxRelError float64 `json:"max_rel_error,omitempty"` // on rel_frobenius
	MinCosine   float64 `json:"min_cosine,omitempty"`
}

// Breach is one tensor that failed a threshold.
type Breach struct {
	Tensor    string  `json:"tensor"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
}

// File is one written file with its digest.
type File struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Report is the whole validation report of one run.
type Report struct {
	Schema        int        `json:"schema"`
	Source        string     `json:"source"`
	Output        string     `json:"output"`
	Format        string     `json:"format"` // "gguf" or "safetensors"
	Target        string     `json:"target"` // file type or layout, e.g. "Q4_K_M"
	DryRun        bool       `json:"dry_run,omitempty"`
	OutputBytes   int64      `json:"output_bytes"`
	Files         []File     `json:"files"`
	Params        int64      `json:"params"`
	TensorBytes   int64      `json:"tensor_bytes"`
	BitsPerWeight float64    `json:"bits_per_weight"` // tensor data bits per parameter
	Tensors       []Tensor   `json:"tensors"`
	Roles         []Role     `json:"roles"`
	Experts       []Expert   `json:"experts,omitempty"` // worst matmul error first
	Thresholds    Thresholds `json:"thresholds"`
	Breaches      []Breach   `json:"breaches"`
	// VRAM is the memory report of the written file, as inspect computes it.
	VRAM any `json:"vram,omitempty"`
}
