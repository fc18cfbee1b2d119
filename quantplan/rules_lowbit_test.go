package quantplan

import (
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// lowBitMixtral is llama_tensor_get_type's choice for Mixtral-8x7B (8
// experts, 32 layers, GQA 4) under the IQ4, ternary and MXFP4 file types,
// read from llama-quant.cpp branch by branch.
func lowBitMixtral(ft ggml.FileType, kind string, layer int, imatrix bool) ggml.Type {
	def := ft.DefaultType()
	switch kind {
	case "attn_norm", "ffn_norm", "output_norm", "ffn_gate_inp":
		return ggml.F32
	case "output":
		if ft == ggml.FileTypeMXFP4_MOE {
			return ggml.Q8_0
		}
		return ggml.Q6_K
	}
	if ft == ggml.FileTypeMXFP4_MOE {
		switch kind {
		case "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps":
			return ggml.MXFP4
		}
		return ggml.Q8_0
	}
	switch kind {
	case "token_embd":
		if isTernary(ft) {
			return ggml.Q4_K
		}
	case "attn_k", "attn_v":
		return ggml.Q8_0
	case "attn_output":
		if isIQ4(ft) {
			return ggml.Q5_K
		}
	case "ffn_down_exps":
		if isIQ4(ft) && !imatrix && layer < 32/8 {
			return ggml.Q5_K
		}
	}
	return def
}

func TestLowBitMixtralPlans(t *testing.T) {
	descs := FromConfig(mixtral(t), ggml.F16)
	for _, ft := range []ggml.FileType{ggml.FileTypeIQ4_NL, ggml.FileTypeIQ4_XS, ggml.FileTypeTQ1_0, ggml.FileTypeTQ2_0, ggml.FileTypeMXFP4_MOE} {
		for _, imatrix := range []bool{false, true} {
			p, err := Build(ft, descs, Options{Imatrix: imatrix})
			if err != nil {
				t.Fatalf("%v: %v", ft, err)
			}
			seen := map[ggml.Type]int{}
			for _, pt := range p.Tensors {
				want := lowBitMixtral(ft, kindOf(pt.Name), pt.Layer, imatrix)
				if pt.Type != want {
					t.Errorf("%v imatrix=%v %s: %v (%s), want %v", ft, imatrix, pt.Name, pt.Type, pt.Rule, want)
				}
				seen[pt.Type]++
			}
			if seen[ft.DefaultType()] == 0 {
				t.Errorf("%v: no tensor of the base type: %v", ft, seen)
			}
			for _, tt := range p.ByType {
				if tt.BitsPerWeight != tt.Type.BitsPerWeight() {
					t.Errorf("%v: %v at %g bits per weight", ft, tt.Type, tt.BitsPerWeight)
				}
			}
		}
	}
}

// TestLowBitRules covers the branches Mixtral does not reach: GQA ≥ 4
// without 8 experts, and the shape fallbacks.
func TestLowBitRules(t *testing.T) {
	dense := func(name string, ne0 uint64, gqa int) TensorDesc {
		return TensorDesc{Name: name, Dims: []uint64{ne0, 1024}, Layer: 1, NLayer: 32, Source: ggml.F16, GQA: gqa}
	}
	tests := []struct {
		ft   ggml.FileType
		d    TensorDesc
		want ggml.Type
		err  bool
	}{
		{ggml.FileTypeIQ4_XS, dense("blk.1.attn_v.weight", 4096, 4), ggml.Q5_K, false},
		{ggml.FileTypeIQ4_NL, dense("blk.1.attn_v.weight", 4096, 4), ggml.Q5_K, false},
		{ggml.FileTypeIQ4_XS, dense("blk.1.attn_v.weight", 4096, 1), ggml.IQ4_XS, false},
		{ggml.FileTypeIQ4_XS, dense("blk.1.attn_output.weight", 4096, 4), ggml.IQ4_XS, false},
		{ggml.FileTypeIQ4_XS, dense("blk.1.ffn_down.weight", 4096, 4), ggml.Q5_K, false},
		{ggml.FileTypeIQ4_XS, TensorDesc{Name: "blk.4.ffn_down.weight", Dims: []uint64{4096, 1024}, Layer: 4, NLayer: 32}, ggml.IQ4_XS, false},
		{ggml.FileTypeTQ2_0, dense("token_embd.weight", 4096, 1), ggml.Q4_K, false},
		{ggml.FileTypeTQ1_0, dense("blk.1.attn_v.weight", 4096, 8), ggml.TQ1_0, false},
		{ggml.FileTypeMXFP4_MOE, dense("blk.1.ffn_down.weight", 4096, 1), ggml.Q8_0, false},
		{ggml.FileTypeMXFP4_MOE, dense("token_embd.weight", 4096, 1), ggml.Q8_0, false},
		// Shape fallbacks: rows of 96 are whole 32-blocks, rows of 100 are not.
		{ggml.FileTypeIQ4_XS, dense("blk.1.attn_q.weight", 96, 1), ggml.IQ4_NL, false},
		{ggml.FileTypeIQ4_XS, dense("blk.1.attn_q.weight", 100, 1), ggml.F16, false},
		{ggml.FileTypeTQ1_0, dense("blk.1.attn_q.weight", 96, 1), ggml.Q4_0, false},
		{ggml.FileTypeTQ2_0, dense("blk.1.attn_q.weight", 100, 1), ggml.F16, false},
		{ggml.FileTypeIQ4_NL, dense("blk.1.attn_q.weight", 100, 1), 0, true},
		{ggml.FileTypeMXFP4_MOE, TensorDesc{Name: "blk.1.ffn_up_exps.weight", Dims: []uint64{100, 64, 8}, Layer: 1, NExpert: 8, NLayer: 2}, 0, true},
	}
	for _, tt := range tests {
		dec, err := Decide(tt.ft, tt.d, Options{})
		if tt.err {
			if err == nil {
				t.Errorf("%v %s %v: no error, got %v", tt.ft, tt.d.Name, tt.d.Dims, dec.Type)
			}
			continue
		}
		if err != nil || dec.Type != tt.want {
			t.Errorf("%v %s %v (GQA %d): %v (%s), %v; want %v", tt.ft, tt.d.Name, tt.d.Dims, tt.d.GQA, dec.Type, dec.Rule, err, tt.want)
		}
	}
	// With an imatrix the first layers' ffn_down keep the base type.
	if got, _ := TypeFor(ggml.FileTypeIQ4_NL, dense("blk.1.ffn_down.weight", 4096, 1), Options{Imatrix: true}); got != ggml.IQ4_NL {
		t.Errorf("IQ4_NL ffn_down with imatrix: %v", got)
	}
}
