package quantplan

import (
	"fmt"
	"slices"

	"github.com/mxq-dev/mxq/ggml"
)

// The file types of the lattice IQ types. llama_tensor_get_type_impl
// treats them in two families: the 1- and 2-bit ones have a branch of
// their own, the 3-bit ones share the K-quant branches; iqGridRules
// gathers what either does for them.
var (
	iqLowFileTypes = []ggml.FileType{
		ggml.FileTypeIQ2_XXS, ggml.FileTypeIQ2_XS, ggml.FileTypeIQ1_S,
		ggml.FileTypeIQ2_S, ggml.FileTypeIQ2_M, ggml.FileTypeIQ1_M,
	}
	iq3FileTypes = []ggml.FileType{
		ggml.FileTypeIQ3_XXS, ggml.FileTypeIQ3_XS, ggml.FileTypeIQ3_S, ggml.FileTypeIQ3_M,
	}
)

func isIQGridFileType(f ggml.FileType) bool {
	return slices.Contains(iqLowFileTypes, f) || slices.Contains(iq3FileTypes, f)
}

// iqGridRules is llama_tensor_get_type_impl for the lattice IQ file types
// (llama architecture). Like rules, it receives the default type and
// returns the chosen type with the reason.
func iqGridRules(ftype ggml.FileType, def ggml.Type, t TensorDesc, opts Options, cat category) (ggml.Type, string, error) {
	nt, why := def, ""
	set := func(to ggml.Type, reason string) { nt, why = to, reason }
	ft := ftype.String()
	name := categoryNames[cat]
	gqa := max(t.GQA, 1)
	low := slices.Contains(iqLowFileTypes, ftype)
	// The two richer low-bit mixes use IQ3_S where the others use Q2_K.
	lowBump := ggml.Q2_K
	if ftype == ggml.FileTypeIQ2_S || ftype == ggml.FileTypeIQ2_M {
		lowBump = ggml.IQ3_S
	}

	switch {
	case cat == catOutput || (opts.TiedEmbeddings && cat == catTokenEmbd):
		what := "output tensor"
		if cat == catTokenEmbd {
			what = "token_embd (tied to the output)"
		}
		switch {
		case t.Dims[0]%uint64(nt.BlockSize()) != 0:
			set(ggml.Q8_0, fmt.Sprintf("%s: row length %d is not a multiple of %d → Q8_0", what, t.Dims[0], nt.BlockSize()))
		case low || ftype == ggml.FileTypeIQ3_XXS:
			set(ggml.Q5_K, ft+": "+what+" → Q5_K")
		default:
			set(ggml.Q6_K, what+" → Q6_K")
		}

	case cat == catTokenEmbd:
		switch ftype {
		case ggml.FileTypeIQ2_XXS, ggml.FileTypeIQ2_XS, ggml.FileTypeIQ1_S, ggml.FileTypeIQ1_M:
			set(ggml.Q2_K, ft+": token_embd → Q2_K")
		case ggml.FileTypeIQ2_S, ggml.FileTypeIQ2_M, ggml.FileTypeIQ3_XXS:
			set(ggml.IQ3_S, ft+": token_embd → IQ3_S")
		}

	case low:
		switch {
		case cat == catAttnV || cat == catAttnQKV || cat == catAttnKVB:
			if gqa >= 4 || t.NExpert >= 4 {
				set(ggml.Q4_K, ft+", GQA ≥ 4 or ≥ 4 experts: "+name+" → Q4_K")
			} else {
				set(lowBump, ft+": "+name+" → "+lowBump.String())
			}
		case cat == catAttnK && t.NExpert == 8:
			set(ggml.Q4_K, ft+", 8 experts: attn_k → Q4_K")
		case cat == catFFNDown:
			// A running count of ffn_down tensors against the layer count:
			// with one (merged) ffn_down per layer, the layer index.
			if i, n := t.Layer, t.NLayer; i < n/8 {
				set(lowBump, fmt.Sprintf("%s, first eighth (ffn_down %d of %d): → %v", ft, i, n, lowBump))
			}
		case cat == catAttnOutput:
			switch {
			case t.NExpert == 8:
				set(ggml.Q5_K, ft+", 8 experts: attn_output → Q5_K")
			case ftype == ggml.FileTypeIQ1_S || ftype == ggml.FileTypeIQ1_M:
				set(ggml.IQ2_XXS, ft+": attn_output → IQ2_XXS")
			case lowBump == ggml.IQ3_S:
				set(ggml.IQ3_S, ft+": attn_output → IQ3_S")
			}
		}

	case cat == catAttnV || cat == catAttnQKV || cat == catAttnKVB:
		switch {
		case ftype == ggml.FileTypeIQ3_XXS:
			switch {
			case gqa >= 4:
				set(ggml.Q4_K, ft+", GQA ≥ 4: "+name+" → Q4_K")
			case !opts.Imatrix:
				set(ggml.IQ3_S, ft+" without imatrix: "+name+" → IQ3_S")
			default:
				set(ggml.IQ3_XXS, ft+" with imatrix: "+name+" → IQ3_XXS")
			}
		case (ftype == ggml.FileTypeIQ3_XS || ftype == ggml.FileTypeIQ3_S) && gqa >= 4:
			set(ggml.Q4_K, ft+", GQA ≥ 4: "+name+" → Q4_K")
		case ftype == ggml.FileTypeIQ3_M:
			set(ggml.Q4_K, ft+": "+name+" → Q4_K")
		}
		if is70B(t) && nt == ggml.Q4_K {
			set(ggml.Q5_K, "70B (80 layers, GQA): "+name+" → Q5_K")
		}
		if t.NExpert == 8 {
			set(ggml.Q8_0, "8 experts: "+name+" → Q8_0")
		}

	case cat == catAttnK || cat == catAttnQ:
		switch {
		case cat == catAttnK && t.NExpert == 8:
			set(ggml.Q8_0, "8 experts: attn_k → Q8_0")
		case ftype == ggml.FileTypeIQ3_XS:
			set(ggml.IQ3_XXS, ft+": "+name+" → IQ3_XXS")
		case ftype == ggml.FileTypeIQ3_XXS:
			set(ggml.IQ2_S, ft+": "+name+" → IQ2_S")
		}

	case cat == catFFNDown:
		i, err := layerOf(t)
		if err != nil {
			return 0, "", err
		}
		n := t.NLayer
		switch {
		case ftype == ggml.FileTypeIQ3_XXS && !opts.Imatrix:
			if i < n/8 {
				set(ggml.Q4_K, fmt.Sprintf("%s without imatrix, first eighth (layer %d of %d): ffn_down → Q4_K", ft, i, n))
			} else {
				set(ggml.Q3_K, ft+" without imatrix: ffn_down → Q3_K")
			}
		case ftype == ggml.FileTypeIQ3_M && i < n/8:
			set(ggml.Q4_K, fmt.Sprintf("%s, first eighth (layer %d of %d): ffn_down → Q4_K", ft, i, n))
		case ftype == ggml.FileTypeIQ3_M && t.NExpert == 8 && useMoreBits(i, n):
			set(ggml.Q4_K, fmt.Sprintf("%s, 8 experts, use_more_bits(layer %d of %d): ffn_down → Q4_K", ft, i, n))
		}

	case cat == catAttnOutput:
		switch {
		case t.NExpert == 8:
			set(ggml.Q5_K, "8 experts, "+ft+": attn_output → Q5_K")
		case ftype == ggml.FileTypeIQ3_XXS:
			set(ggml.IQ3_S, ft+": attn_output → IQ3_S")
		case ftype == ggml.FileTypeIQ3_M:
			set(ggml.Q4_K, ft+": attn_output → Q4_K")
		}

	case cat == catFFNGate || cat == catFFNUp:
		i, err := layerOf(t)
		if err != nil {
			return 0, "", err
		}
		if n := t.NLayer; ftype == ggml.FileTypeIQ3_XS && i >= n/8 && i < 7*n/8 {
			set(ggml.IQ3_XXS, fmt.Sprintf("%s, middle layers (layer %d of %d): %s → IQ3_XXS", ft, i, n, name))
		}
	}
	if why == "" {
		why = ft + ": default type " + nt.String()
	}
	return nt, why, nil
}

// requiresImatrix is tensor_requires_imatrix: the lowest types, and Q2_K
// in a Q2_K_S file, cannot be made without an importance matrix, except
// for the embedding and output tensors.
func requiresImatrix(ftype ggml.FileType, typ ggml.Type, cat category) bool {
	if cat == catTokenEmbd || cat == catOutput {
		return false
	}
	switch typ {
	case ggml.IQ3_XXS, ggml.IQ2_XXS, ggml.IQ2_XS, ggml.IQ2_S, ggml.IQ1_M, ggml.IQ1_S:
		return true
	case ggml.Q2_K:
		return ftype == ggml.FileTypeQ2_K_S
	}
	return false
}
