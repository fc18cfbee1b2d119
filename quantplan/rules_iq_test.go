package quantplan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// llama-quantize's own choices for tiny-mixtral (testdata/README.md).
func TestIQGridPlanMatchesLlamaQuantize(t *testing.T) {
	c, err := model.LoadConfig("../testdata/tiny-mixtral/config.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range []ggml.FileType{ggml.FileTypeIQ3_XXS, ggml.FileTypeIQ2_XS} {
		raw, err := os.ReadFile(filepath.Join("testdata", "tiny-mixtral.imatrix."+ft.String()+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var dump struct {
			Tensors []struct {
				Name string
				Type string
			}
		}
		if err := json.Unmarshal(raw, &dump); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, d := range dump.Tensors {
			want[d.Name] = d.Type
		}
		p, err := Build(ft, FromConfig(c, ggml.F32), Options{Imatrix: true})
		if err != nil {
			t.Fatalf("%v: %v", ft, err)
		}
		if len(p.Tensors) != len(want) {
			t.Errorf("%v: %d tensors planned, llama-quantize wrote %d", ft, len(p.Tensors), len(want))
		}
		for _, pt := range p.Tensors {
			if w, ok := want[pt.Name]; !ok {
				t.Errorf("%v: %s not in llama-quantize's file", ft, pt.Name)
			} else if pt.Type.String() != w {
				t.Errorf("%v: %s is %v (%s), llama-quantize chose %s", ft, pt.Name, pt.Type, pt.Rule, w)
			}
		}
	}
}

// The Mixtral-8x7B mix of each lattice file type (32 layers, 8 experts,
// GQA 4), from llama_tensor_get_type_impl's branches.
func TestIQGridMixtralTable(t *testing.T) {
	c := mixtral(t)
	for _, tc := range []struct {
		ft                                           ggml.FileType
		output, embd, attnV, attnK, attnQ, attnOut   ggml.Type
		down, downFirst, downMore, gateUp, gateUpMid ggml.Type
	}{
		// downFirst: layers 0-3; downMore: use_more_bits layers after them;
		// gateUpMid: layers 4-27.
		{ggml.FileTypeIQ2_XXS, ggml.Q5_K, ggml.Q2_K, ggml.Q4_K, ggml.Q4_K, ggml.IQ2_XXS, ggml.Q5_K, ggml.IQ2_XXS, ggml.Q2_K, ggml.IQ2_XXS, ggml.IQ2_XXS, ggml.IQ2_XXS},
		{ggml.FileTypeIQ2_XS, ggml.Q5_K, ggml.Q2_K, ggml.Q4_K, ggml.Q4_K, ggml.IQ2_XS, ggml.Q5_K, ggml.IQ2_XS, ggml.Q2_K, ggml.IQ2_XS, ggml.IQ2_XS, ggml.IQ2_XS},
		{ggml.FileTypeIQ2_S, ggml.Q5_K, ggml.IQ3_S, ggml.Q4_K, ggml.Q4_K, ggml.IQ2_XS, ggml.Q5_K, ggml.IQ2_XS, ggml.IQ3_S, ggml.IQ2_XS, ggml.IQ2_XS, ggml.IQ2_XS},
		{ggml.FileTypeIQ2_M, ggml.Q5_K, ggml.IQ3_S, ggml.Q4_K, ggml.Q4_K, ggml.IQ2_S, ggml.Q5_K, ggml.IQ2_S, ggml.IQ3_S, ggml.IQ2_S, ggml.IQ2_S, ggml.IQ2_S},
		{ggml.FileTypeIQ1_S, ggml.Q5_K, ggml.Q2_K, ggml.Q4_K, ggml.Q4_K, ggml.IQ1_S, ggml.Q5_K, ggml.IQ1_S, ggml.Q2_K, ggml.IQ1_S, ggml.IQ1_S, ggml.IQ1_S},
		{ggml.FileTypeIQ1_M, ggml.Q5_K, ggml.Q2_K, ggml.Q4_K, ggml.Q4_K, ggml.IQ1_M, ggml.Q5_K, ggml.IQ1_M, ggml.Q2_K, ggml.IQ1_M, ggml.IQ1_M, ggml.IQ1_M},
		{ggml.FileTypeIQ3_XXS, ggml.Q5_K, ggml.IQ3_S, ggml.Q8_0, ggml.Q8_0, ggml.IQ2_S, ggml.Q5_K, ggml.IQ3_XXS, ggml.IQ3_XXS, ggml.IQ3_XXS, ggml.IQ3_XXS, ggml.IQ3_XXS},
		{ggml.FileTypeIQ3_XS, ggml.Q6_K, ggml.IQ3_S, ggml.Q8_0, ggml.Q8_0, ggml.IQ3_XXS, ggml.Q5_K, ggml.IQ3_S, ggml.IQ3_S, ggml.IQ3_S, ggml.IQ3_S, ggml.IQ3_XXS},
		{ggml.FileTypeIQ3_S, ggml.Q6_K, ggml.IQ3_S, ggml.Q8_0, ggml.Q8_0, ggml.IQ3_S, ggml.Q5_K, ggml.IQ3_S, ggml.IQ3_S, ggml.IQ3_S, ggml.IQ3_S, ggml.IQ3_S},
		{ggml.FileTypeIQ3_M, ggml.Q6_K, ggml.IQ3_S, ggml.Q8_0, ggml.Q8_0, ggml.IQ3_S, ggml.Q5_K, ggml.IQ3_S, ggml.Q4_K, ggml.Q4_K, ggml.IQ3_S, ggml.IQ3_S},
	} {
		p, err := Build(tc.ft, FromConfig(c, ggml.F16), Options{Imatrix: true})
		if err != nil {
			t.Fatalf("%v: %v", tc.ft, err)
		}
		for _, pt := range p.Tensors {
			if !pt.Quantizable {
				continue
			}
			l := pt.Layer
			var want ggml.Type
			switch kind := kindOf(pt.Name); kind {
			case "output":
				want = tc.output
			case "token_embd":
				want = tc.embd
			case "attn_v":
				want = tc.attnV
			case "attn_k":
				want = tc.attnK
			case "attn_q":
				want = tc.attnQ
			case "attn_output":
				want = tc.attnOut
			case "ffn_down_exps":
				switch {
				case l < 4:
					want = tc.downFirst
				case slices.Contains(moreBits32, l):
					want = tc.downMore
				default:
					want = tc.down
				}
			case "ffn_gate_exps", "ffn_up_exps":
				want = tc.gateUp
				if l >= 4 && l < 28 {
					want = tc.gateUpMid
				}
			default:
				t.Fatalf("unexpected tensor %s", pt.Name)
			}
			if pt.Type != want {
				t.Errorf("%v: %s is %v (%s), want %v", tc.ft, pt.Name, pt.Type, pt.Rule, want)
			}
		}
	}
}

func TestIQGridImatrixRequired(t *testing.T) {
	c := mixtral(t)
	for _, ft := range []ggml.FileType{
		ggml.FileTypeIQ3_XXS, ggml.FileTypeIQ3_XS, ggml.FileTypeIQ2_M, ggml.FileTypeIQ2_S,
		ggml.FileTypeIQ2_XS, ggml.FileTypeIQ2_XXS, ggml.FileTypeIQ1_M, ggml.FileTypeIQ1_S,
	} {
		_, err := Build(ft, FromConfig(c, ggml.F16), Options{})
		if err == nil || !strings.Contains(err.Error(), "importance matrix") {
			t.Errorf("%v without imatrix: %v, want an importance matrix error", ft, err)
		}
	}
	for _, ft := range []ggml.FileType{ggml.FileTypeIQ3_S, ggml.FileTypeIQ3_M} {
		if _, err := Build(ft, FromConfig(c, ggml.F16), Options{}); err != nil {
			t.Errorf("%v without imatrix: %v", ft, err)
		}
	}
	// The embedding and output never need one; without an imatrix IQ3_XXS
	// gives attn_v IQ3_S and ffn_down K-quants.
	for _, d := range []TensorDesc{
		desc("token_embd.weight", 4096, 32000),
		desc("output.weight", 4096, 32000),
	} {
		if _, err := Decide(ggml.FileTypeIQ1_S, d, Options{}); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
	}
	dense := func(name string) TensorDesc {
		d := desc(name, 4096, 1024)
		d.GQA = 1
		return d
	}
	for _, c := range []struct {
		d    TensorDesc
		want ggml.Type
	}{
		{dense("blk.0.attn_v.weight"), ggml.IQ3_S},
		{dense("blk.0.ffn_down.weight"), ggml.Q4_K},
		{dense("blk.9.ffn_down.weight"), ggml.Q3_K},
	} {
		if d, err := Decide(ggml.FileTypeIQ3_XXS, c.d, Options{}); err != nil || d.Type != c.want {
			t.Errorf("IQ3_XXS without imatrix: %s = %v, %v; want %v", c.d.Name, d.Type, err, c.want)
		}
	}
}

// Rows that are not whole 256-blocks fall back to IQ4_NL, and to F16 when
// they are not whole 32-blocks either.
func TestIQGridRowFallback(t *testing.T) {
	for _, c := range []struct {
		cols uint64
		want ggml.Type
	}{{4096 + 32, ggml.IQ4_NL}, {4096 + 16, ggml.F16}} {
		d, err := Decide(ggml.FileTypeIQ2_XS, desc("blk.3.ffn_up.weight", c.cols, 1024), Options{Imatrix: true})
		if err != nil || d.Type != c.want || !d.Fallback {
			t.Errorf("%d columns: %+v, %v; want fallback %v", c.cols, d, err, c.want)
		}
	}
}
