// Package quantplan chooses the ggml type of every tensor of a llama-family
// GGUF for a llama.cpp file type (Q4_K_M, Q6_K, ...), following
// llama-quantize's per-tensor rules (llama_tensor_get_type in llama.cpp's
// src/llama-quant.cpp) for the K-quant, legacy, IQ4, ternary, MXFP4 and
// lattice IQ file types, so that a file quantized or estimated by mxq has
// the same type mix as one made by llama-quantize.
//
// Only the llama architecture is modelled (Mixtral, Mistral and Llama all
// convert to it); Falcon-specific branches are not.
package quantplan

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/mxq-dev/mxq/ggml"
)

// TensorDesc describes one tensor of the input GGUF.
type TensorDesc struct {
	Name    string   // GGUF name, e.g. "blk.3.ffn_down_exps.weight"
	Dims    []uint64 // GGUF ne, fastest-varying first
	Layer   int      // block index, -1 for model-level tensors
	NExpert int      // the model's expert count (llama.expert_count); 0 or 1 for dense
	NLayer  int      // the model's block count

	// Source is the tensor's type in the input file; tensors that are not
	// quantized keep it. The zero value is F32, which is what the converter
	// stores norms and the router as.
	Source ggml.Type
	// GQA is num_attention_heads / num_key_value_heads (0 means 1). Two
	// rules read it: Q2_K's attn_v and the Llama-2-70B attn_v bump.
	GQA int
}

// Override pins the type of every tensor whose name matches Pattern
// (llama-quantize --tensor-type); the first matching override wins.
type Override struct {
	Pattern *regexp.Regexp
	Type    ggml.Type
}

// Options are llama-quantize's switches that change the type choice.
type Options struct {
	Pure        bool       // --pure: default type for every quantizable tensor
	Overrides   []Override // --tensor-type PATTERN=TYPE, first match wins
	LeaveOutput bool       // --leave-output-tensor: output.weight keeps its type

	// OutputType and TokenEmbeddingType are --output-tensor-type and
	// --token-embedding-type (nil: not given).
	OutputType         *ggml.Type
	TokenEmbeddingType *ggml.Type

	// TiedEmbeddings says the model has no output.weight; llama-quantize
	// then gives token_embd.weight the output tensor's rules.
	TiedEmbeddings bool
	// Imatrix says an importance matrix is supplied (--imatrix). It moves
	// Q4_0/Q5_0 ffn_down of the first n/8 layers to Q4_1/Q5_1, and Q2_K_S
	// cannot be made without one.
	Imatrix bool
	// Types pins the type of each named tensor (a type planner's choice);
	// it takes precedence over every rule and override, but a tensor that
	// is never quantized (norms, the router) keeps its source type.
	Types map[string]ggml.Type
}

// Decision is the type chosen for one tensor and why.
type Decision struct {
	Type ggml.Type
	// Rule explains the choice in words, e.g. "8 experts: attn_k → Q8_0".
	Rule string
	// Quantizable is llama-quantize's tensor_allows_quantization; false
	// means the tensor keeps its source type.
	Quantizable bool
	// Fallback is set when the row length was not a multiple of the chosen
	// type's block and llama-quantize's shape fallback replaced it.
	Fallback bool
}

// ErrUnsupported is returned for file types this package does not model.
var ErrUnsupported = errors.New("file type not supported by the quantization planner")

// Supported lists the file types whose rules are implemented.
func Supported() []ggml.FileType {
	return []ggml.FileType{
		ggml.FileTypeAllF32, ggml.FileTypeMostlyF16, ggml.FileTypeBF16,
		ggml.FileTypeQ8_0, ggml.FileTypeQ6_K,
		ggml.FileTypeQ5_K_M, ggml.FileTypeQ5_K_S, ggml.FileTypeQ4_K_M, ggml.FileTypeQ4_K_S,
		ggml.FileTypeQ4_0, ggml.FileTypeQ4_1, ggml.FileTypeQ5_0, ggml.FileTypeQ5_1,
		ggml.FileTypeQ3_K_M, ggml.FileTypeQ3_K_S, ggml.FileTypeQ3_K_L,
		ggml.FileTypeQ2_K, ggml.FileTypeQ2_K_S,
		ggml.FileTypeIQ4_NL, ggml.FileTypeIQ4_XS, ggml.FileTypeTQ1_0, ggml.FileTypeTQ2_0, ggml.FileTypeMXFP4_MOE,
		ggml.FileTypeIQ3_M, ggml.FileTypeIQ3_S, ggml.FileTypeIQ3_XS, ggml.FileTypeIQ3_XXS,
		ggml.FileTypeIQ2_M, ggml.FileTypeIQ2_S, ggml.FileTypeIQ2_XS, ggml.FileTypeIQ2_XXS,
		ggml.FileTypeIQ1_M, ggml.FileTypeIQ1_S,
	}
}

func supported(f ggml.FileType) bool {
	for _, s := range Supported() {
		if s == f {
			return true
		}
	}
	return false
}

// TypeFor returns the type llama-quantize gives tensor t for file type
// ftype, and the rule that decided it. It never fails: where llama-quantize
// would stop (unsupported file type, no shape fallback, unparsable layer,
// missing importance matrix) it returns the source type and a rule that
// starts with "error:". Use Decide to get that error as an error.
func TypeFor(ftype ggml.FileType, t TensorDesc, opts Options) (ggml.Type, string) {
	d, err := Decide(ftype, t, opts)
	if err != nil {
		return t.Source, "error: " + err.Error()
	}
	return d.Type, d.Rule
}

// Decide is TypeFor with llama-quantize's failures reported as errors.
func Decide(ftype ggml.FileType, t TensorDesc, opts Options) (Decision, error) {
	if !supported(ftype) {
		return Decision{}, fmt.Errorf("%w: %v", ErrUnsupported, ftype)
	}
	if len(t.Dims) == 0 || len(t.Dims) > 4 {
		return Decision{}, fmt.Errorf("tensor %s: %d dimensions", t.Name, len(t.Dims))
	}
	if why, ok := allowsQuantization(t, opts); !ok {
		return Decision{Type: t.Source, Rule: why + ": not quantized, kept " + t.Source.String()}, nil
	}
	d := Decision{Quantizable: true}
	if typ, ok := opts.Types[t.Name]; ok {
		return explicitType(t, typ)
	}
	cat := categoryOf(t.Name)
	if opts.TokenEmbeddingType != nil && cat == catTokenEmbd {
		d.Type, d.Rule = *opts.TokenEmbeddingType, "--token-embedding-type → "+opts.TokenEmbeddingType.String()
		return d, nil
	}
	if opts.OutputType != nil && cat == catOutput {
		d.Type, d.Rule = *opts.OutputType, "--output-tensor-type → "+opts.OutputType.String()
		return d, nil
	}
	def := ftype.DefaultType()
	d.Type = def
	if !def.IsQuantized() {
		d.Rule = ftype.String() + ": every quantizable tensor → " + def.String()
		return d, nil
	}
	manual := false
	for _, o := range opts.Overrides {
		if o.Pattern != nil && o.Pattern.MatchString(t.Name) {
			d.Type, d.Rule = o.Type, fmt.Sprintf("--tensor-type %s → %s", o.Pattern, o.Type)
			manual = true
			break
		}
	}
	if !manual {
		if opts.Pure {
			d.Rule = "--pure: default type " + def.String()
		} else {
			var err error
			d.Type, d.Rule, err = rules(ftype, def, t, opts, cat)
			if err != nil {
				return Decision{}, err
			}
		}
	}
	d, err := fallback(t, d)
	if err != nil {
		return Decision{}, err
	}
	if !opts.Imatrix && requiresImatrix(ftype, d.Type, cat) {
		return Decision{}, fmt.Errorf("tensor %s: %v in a %v file needs an importance matrix", t.Name, d.Type, ftype)
	}
	return d, nil
}

// nDims is ggml_n_dims: trailing dimensions of size 1 do not count.
func nDims(dims []uint64) int {
	for i := len(dims) - 1; i >= 1; i-- {
		if dims[i] > 1 {
			return i + 1
		}
	}
	return 1
}

// notQuantized lists name fragments llama-quantize never quantizes
// (tensor_allows_quantization), with the reason shown to users.
var notQuantized = []struct{ fragment, why string }{
	{"_norm.weight", "norm"},
	{"ffn_gate_inp.weight", "router (ffn_gate_inp)"},
	{"ffn_gate_tid2eid.weight", "routing table"},
	{"altup", "altup"},
	{"laurel", "laurel"},
	{"per_layer_model_proj", "per-layer projection"},
	{"ssm_conv1d", "conv1d"},
	{"shortconv.conv.weight", "conv"},
	{"indexer.k_proj.weight", "indexer projection"},
	{"indexer.q_proj.weight", "indexer projection"},
	{"time_mix_first.weight", "time_mix"},
	{"time_mix_w0.weight", "time_mix"},
	{"time_mix_w1.weight", "time_mix"},
	{"time_mix_w2.weight", "time_mix"},
	{"time_mix_v0.weight", "time_mix"},
	{"time_mix_v1.weight", "time_mix"},
	{"time_mix_v2.weight", "time_mix"},
	{"time_mix_a0.weight", "time_mix"},
	{"time_mix_a1.weight", "time_mix"},
	{"time_mix_a2.weight", "time_mix"},
	{"time_mix_g1.weight", "time_mix"},
	{"time_mix_g2.weight", "time_mix"},
	{"time_mix_decay_w1.weight", "time_mix"},
	{"time_mix_decay_w2.weight", "time_mix"},
	{"time_mix_lerp_fused.weight", "time_mix"},
	{"attn_rel_b.weight", "relative position bias"},
	{".position_embd", "position embedding"},
	{"sam.pos_embd", "position embedding"},
	{"sam.neck.", "vision neck"},
	{"sam.net_", "vision net"},
	{".rel_pos", "relative position"},
	{".patch_embd", "patch embedding"},
	{".patch_merger", "patch merger"},
	{"a.rvq.codebook", "codebook"},
	{"mm.a.code_embd", "codebook"},
}

func allowsQuantization(t TensorDesc, opts Options) (string, bool) {
	if nDims(t.Dims) < 2 {
		return "1-D tensor", false
	}
	if !strings.HasSuffix(t.Name, "weight") {
		return "not a weight", false
	}
	if opts.LeaveOutput && t.Name == "output.weight" {
		return "--leave-output-tensor", false
	}
	for _, n := range notQuantized {
		if strings.Contains(t.Name, n.fragment) {
			return n.why, false
		}
	}
	if t.Name == "position_embd.weight" || t.Name == "token_types.weight" {
		return "position/token-type embedding", false
	}
	return "", true
}

type category int

const (
	catOther category = iota
	catTokenEmbd
	catAttnQ
	catAttnV
	catAttnK
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

var categoryNames = map[category]string{
	catTokenEmbd: "token_embd", catAttnQ: "attn_q", catAttnV: "attn_v", catAttnK: "attn_k",
	catAttnQKV: "attn_qkv", catAttnKVB: "attn_kv_b", catAttnOutput: "attn_output",
	catFFNUp: "ffn_up", catFFNGate: "ffn_gate", catFFNDown: "ffn_down", catOutput: "output",
}

// categoryOf is tensor_get_category: exact names for the embedding and
// output, substring tests in a fixed order for the rest.
func categoryOf(name string) category {
	switch name {
	case "output.weight":
		return catOutput
	case "token_embd.weight", "per_layer_token_embd.weight":
		return catTokenEmbd
	}
	for _, c := range []struct {
		frag string
		cat  category
	}{
		{"attn_qkv.weight", catAttnQKV}, {"attn_kv_b.weight", catAttnKVB},
		{"attn_v.weight", catAttnV}, {"attn_k.weight", catAttnK}, {"attn_q.weight", catAttnQ},
		{"attn_output.weight", catAttnOutput},
		{"ffn_up", catFFNUp}, {"ffn_gate", catFFNGate}, {"ffn_down", catFFNDown},
	} {
		if strings.Contains(name, c.frag) {
			return c.cat
		}
	}
	return catOther
}

// fallback is tensor_type_fallback: rows must be whole blocks.
func fallback(t TensorDesc, d Decision) (Decision, error) {
	ncols := t.Dims[0]
	bs := uint64(d.Type.BlockSize())
	if bs == 0 {
		return Decision{}, fmt.Errorf("tensor %s: unknown type %v", t.Name, d.Type)
	}
	if ncols%bs == 0 {
		return d, nil
	}
	var to ggml.Type
	switch d.Type {
	case ggml.Q2_K, ggml.Q3_K, ggml.TQ1_0, ggml.TQ2_0:
		to = ggml.Q4_0
	case ggml.Q4_K:
		to = ggml.Q5_0
	case ggml.Q5_K:
		to = ggml.Q5_1
	case ggml.Q6_K:
		to = ggml.Q8_0
	case ggml.IQ1_S, ggml.IQ1_M, ggml.IQ2_XXS, ggml.IQ2_XS, ggml.IQ2_S, ggml.IQ3_XXS, ggml.IQ3_S, ggml.IQ4_XS:
		to = ggml.IQ4_NL
	default:
		return Decision{}, fmt.Errorf("tensor %s: row length %d is not a multiple of the %v block size %d, and llama-quantize defines no fallback for %v",
			t.Name, ncols, d.Type, bs, d.Type)
	}
	if ncols%uint64(to.BlockSize()) != 0 {
		to = ggml.F16
	}
	d.Rule += fmt.Sprintf("; row length %d is not a multiple of %d → fallback %v", ncols, bs, to)
	d.Type, d.Fallback = to, true
	return d, nil
}
