package quantplan

import (
	"regexp"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// Options.Types pins a tensor's type over every rule and override, but
// never quantizes a norm or the router, and refuses a type whose block
// does not divide the rows.
func TestExplicitTypes(t *testing.T) {
	desc := func(name string, dims ...uint64) TensorDesc {
		return TensorDesc{Name: name, Dims: dims, Layer: 0, NExpert: 8, NLayer: 32, GQA: 4}
	}
	opts := Options{
		Types: map[string]ggml.Type{
			"blk.0.attn_k.weight":        ggml.Q2_K, // the 8-expert rule would give Q8_0
			"blk.0.ffn_down_exps.weight": ggml.IQ4_XS,
			"blk.0.attn_norm.weight":     ggml.Q4_K,
			"blk.0.ffn_gate_inp.weight":  ggml.Q4_K,
			"odd.weight":                 ggml.Q4_K,
		},
		Overrides: []Override{{Pattern: regexp.MustCompile("attn_k"), Type: ggml.Q6_K}},
	}
	for _, tt := range []struct {
		t    TensorDesc
		want ggml.Type
		rule string
	}{
		{desc("blk.0.attn_k.weight", 4096, 1024), ggml.Q2_K, "planned"},
		{desc("blk.0.ffn_down_exps.weight", 14336, 4096, 8), ggml.IQ4_XS, "planned"},
		{desc("blk.0.attn_norm.weight", 4096), ggml.F32, "1-D tensor"},
		{desc("blk.0.ffn_gate_inp.weight", 4096, 8), ggml.F32, "router"},
		{desc("blk.0.attn_v.weight", 4096, 1024), ggml.Q8_0, "8 experts"}, // not in the map: the rules
	} {
		d, err := Decide(ggml.FileTypeQ4_K_M, tt.t, opts)
		if err != nil {
			t.Fatal(err)
		}
		if d.Type != tt.want || !strings.Contains(d.Rule, tt.rule) {
			t.Errorf("%s: %v (%s), want %v (%s)", tt.t.Name, d.Type, d.Rule, tt.want, tt.rule)
		}
	}
	if _, err := Decide(ggml.FileTypeQ4_K_M, desc("odd.weight", 96, 16), opts); err == nil || !strings.Contains(err.Error(), "not a multiple") {
		t.Errorf("Q4_K on 96-value rows: %v", err)
	}
	// The map also applies when the file type itself does not quantize.
	d, err := Decide(ggml.FileTypeMostlyF16, desc("blk.0.attn_k.weight", 4096, 1024), opts)
	if err != nil || d.Type != ggml.Q2_K {
		t.Errorf("F16 file type: %v %v", d.Type, err)
	}
}

func TestQuantizableAndRowFits(t *testing.T) {
	if Quantizable(TensorDesc{Name: "blk.0.ffn_gate_inp.weight", Dims: []uint64{4096, 8}}, Options{}) {
		t.Error("the router is quantizable")
	}
	if !Quantizable(TensorDesc{Name: "blk.0.ffn_up_exps.weight", Dims: []uint64{4096, 14336, 8}}, Options{}) {
		t.Error("an expert tensor is not quantizable")
	}
	if RowFits(ggml.Q4_K, []uint64{96, 2}) || !RowFits(ggml.Q8_0, []uint64{96, 2}) || RowFits(ggml.Q8_0, nil) {
		t.Error("RowFits")
	}
}
