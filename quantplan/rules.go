package quantplan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/ggml"
)

// useMoreBits is llama.cpp's use_more_bits: the first and last eighth of the
// layers and every third layer in between (C integer division and modulo,
// which Go shares).
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// layerOf is layer_info: with experts the layer is parsed from the name
// ("blk.%d."), because llama-quantize cannot count expert tensors in order;
// without experts it is the running count of such tensors, which for a
// model with one tensor of the kind per layer is the layer index.
func layerOf(t TensorDesc) (int, error) {
	if t.NExpert > 1 {
		rest, ok := strings.CutPrefix(t.Name, "blk.")
		num, _, ok2 := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil {
			return 0, fmt.Errorf("tensor %s: cannot determine its layer", t.Name)
		}
		if n < 0 || n >= t.NLayer {
			return 0, fmt.Errorf("tensor %s: layer %d outside [0, %d)", t.Name, n, t.NLayer)
		}
		return n, nil
	}
	return t.Layer, nil
}

func is70B(t TensorDesc) bool {
	// llama.cpp labels an 80-layer llama with grouped-query attention 70B;
	// 8-expert models are labelled 8x7B/8x22B instead.
	return t.NExpert != 8 && t.NLayer == 80 && t.GQA > 1
}

// rules is llama_tensor_get_type_impl restricted to the llama architecture;
// the lattice IQ file types are handed to iqGridRules. It receives the
// default type and returns the chosen type with the reason.
func rules(ftype ggml.FileType, def ggml.Type, t TensorDesc, opts Options, cat category) (ggml.Type, string, error) {
	if isIQGridFileType(ftype) {
		return iqGridRules(ftype, def, t, opts, cat)
	}
	nt := def
	why := ""
	set := func(to ggml.Type, reason string) { nt, why = to, reason }
	name := categoryNames[cat]
	ft := ftype.String()
	gqa := max(t.GQA, 1)

	switch {
	case cat == catOutput || (opts.TiedEmbeddings && cat == catTokenEmbd):
		what := "output tensor"
		if cat == catTokenEmbd {
			what = "token_embd (tied to the output)"
		}
		if opts.OutputType != nil {
			set(*opts.OutputType, what+": --output-tensor-type → "+opts.OutputType.String())
		} else if ftype == ggml.FileTypeMXFP4_MOE {
			set(ggml.Q8_0, ft+": "+what+" → Q8_0")
		} else if t.Dims[0]%uint64(nt.BlockSize()) != 0 {
			set(ggml.Q8_0, fmt.Sprintf("%s: row length %d is not a multiple of %d → Q8_0", what, t.Dims[0], nt.BlockSize()))
		} else if nt != ggml.Q8_0 {
			set(ggml.Q6_K, what+" → Q6_K")
		}

	case ftype == ggml.FileTypeMXFP4_MOE:
		set(mxfp4MoEType(t))

	case cat == catTokenEmbd:
		// Only IQ/TQ file types change the untied embedding.
		if isTernary(ftype) {
			set(ggml.Q4_K, ft+": token_embd → Q4_K")
		}

	case cat == catAttnV || cat == catAttnQKV || cat == catAttnKVB:
		i, n := t.Layer, t.NLayer // i_attention_wv, n_attention_wv
		switch {
		case ftype == ggml.FileTypeQ2_K:
			if gqa >= 4 {
				set(ggml.Q4_K, ft+", GQA ≥ 4: "+name+" → Q4_K")
			} else {
				set(ggml.Q3_K, ft+": "+name+" → Q3_K")
			}
		case ftype == ggml.FileTypeQ2_K_S && gqa >= 4:
			set(ggml.Q4_K, ft+", GQA ≥ 4: "+name+" → Q4_K")
		case ftype == ggml.FileTypeQ3_K_M:
			if i < 2 {
				set(ggml.Q5_K, fmt.Sprintf("%s, first two %s (#%d): → Q5_K", ft, name, i))
			} else {
				set(ggml.Q4_K, ft+": "+name+" → Q4_K")
			}
		case ftype == ggml.FileTypeQ3_K_L:
			set(ggml.Q5_K, ft+": "+name+" → Q5_K")
		case isIQ4(ftype) && gqa >= 4:
			set(ggml.Q5_K, ft+", GQA ≥ 4: "+name+" → Q5_K")
		case (ftype == ggml.FileTypeQ4_K_M || ftype == ggml.FileTypeQ5_K_M) && useMoreBits(i, n):
			set(ggml.Q6_K, fmt.Sprintf("%s, use_more_bits(%d of %d): %s → Q6_K", ft, i, n, name))
		case ftype == ggml.FileTypeQ4_K_S && i < 4:
			set(ggml.Q5_K, fmt.Sprintf("%s, first four %s (#%d): → Q5_K", ft, name, i))
		}
		if is70B(t) && (nt == ggml.Q3_K || nt == ggml.Q4_K) {
			set(ggml.Q5_K, "70B (80 layers, GQA): "+name+" → Q5_K")
		}
		if t.NExpert == 8 {
			set(ggml.Q8_0, "8 experts: "+name+" → Q8_0")
		}

	case cat == catAttnK:
		if t.NExpert == 8 {
			set(ggml.Q8_0, "8 experts: attn_k → Q8_0")
		}

	case cat == catAttnQ:
		// Only IQ3 file types change attn_q.

	case cat == catFFNDown:
		i, err := layerOf(t)
		if err != nil {
			return 0, "", err
		}
		n := t.NLayer
		switch {
		case ftype == ggml.FileTypeQ2_K:
			set(ggml.Q3_K, ft+": ffn_down → Q3_K")
		case ftype == ggml.FileTypeQ2_K_S:
			if i < n/8 {
				set(ggml.Q4_K, fmt.Sprintf("%s, first eighth (layer %d of %d): ffn_down → Q4_K", ft, i, n))
			}
		case ftype == ggml.FileTypeQ3_K_M:
			if i < n/16 {
				set(ggml.Q5_K, fmt.Sprintf("%s, first sixteenth (layer %d of %d): ffn_down → Q5_K", ft, i, n))
			} else {
				set(ggml.Q4_K, ft+": ffn_down → Q4_K")
			}
		case ftype == ggml.FileTypeQ3_K_L:
			set(ggml.Q5_K, ft+": ffn_down → Q5_K")
		case ftype == ggml.FileTypeQ4_K_M || ftype == ggml.FileTypeQ5_K_M:
			if useMoreBits(i, n) {
				set(ggml.Q6_K, fmt.Sprintf("%s, use_more_bits(layer %d of %d): ffn_down → Q6_K", ft, i, n))
			}
		case isIQ4(ftype) && !opts.Imatrix && i < n/8:
			set(ggml.Q5_K, fmt.Sprintf("%s without imatrix, first eighth (layer %d of %d): ffn_down → Q5_K", ft, i, n))
		case ftype == ggml.FileTypeQ4_K_S && i < n/8:
			set(ggml.Q5_K, fmt.Sprintf("%s, first eighth (layer %d of %d): ffn_down → Q5_K", ft, i, n))
		case (ftype == ggml.FileTypeQ4_0 || ftype == ggml.FileTypeQ5_0) && opts.Imatrix && i < n/8:
			to := ggml.Q4_1
			if ftype == ggml.FileTypeQ5_0 {
				to = ggml.Q5_1
			}
			set(to, fmt.Sprintf("%s with imatrix, first eighth (layer %d of %d): ffn_down → %v", ft, i, n, to))
		}

	case cat == catAttnOutput:
		if t.NExpert == 8 {
			switch ftype {
			case ggml.FileTypeQ2_K, ggml.FileTypeQ3_K_S, ggml.FileTypeQ3_K_M, ggml.FileTypeQ4_K_S, ggml.FileTypeQ4_K_M:
				set(ggml.Q5_K, "8 experts, "+ft+": attn_output → Q5_K")
			case ggml.FileTypeIQ4_NL, ggml.FileTypeIQ4_XS:
				set(ggml.Q5_K, "8 experts, "+ft+": attn_output → Q5_K")
			}
		} else {
			switch ftype {
			case ggml.FileTypeQ2_K:
				set(ggml.Q3_K, ft+": attn_output → Q3_K")
			case ggml.FileTypeQ3_K_M:
				set(ggml.Q4_K, ft+": attn_output → Q4_K")
			case ggml.FileTypeQ3_K_L:
				set(ggml.Q5_K, ft+": attn_output → Q5_K")
			}
		}

	// llama.cpp also has a branch for attn_qkv after this point, but
	// attn_qkv is caught by the attn_v branch above first, so it never runs.

	case cat == catFFNGate || cat == catFFNUp:
		// Only IQ3_XS changes these, but the layer lookup can still fail.
		if _, err := layerOf(t); err != nil {
			return 0, "", err
		}
	}
	if why == "" {
		why = ft + ": default type " + nt.String()
	}
	return nt, why, nil
}
