package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/quant"
)

func sample() *Report {
	return &Report{
		Source: "in", Output: "out.gguf", Format: "gguf", Target: "Q4_K_M",
		Files: []File{{Path: "out.gguf", Bytes: 100, SHA256: strings.Repeat("a", 64)}},
		Tensors: []Tensor{
			{Name: "blk.0.attn_q.weight", Role: "attn_q", Layer: 0, Expert: -1, Type: "Q4_K", Params: 100, Bytes: 56,
				Metrics: quant.Metrics{RelFrobenius: 0.05, MatmulRelError: 0.04, Cosine: 0.998}},
			{Name: "blk.0.attn_k.weight", Role: "attn_k", Layer: 0, Expert: -1, Type: "Q8_0", Params: 100, Bytes: 106,
				Metrics: quant.Metrics{RelFrobenius: 0.005, MatmulRelError: 0.004, Cosine: 0.99999}},
			{Name: "blk.0.ffn_up_exps.weight", Role: "expert_up", Layer: 0, Expert: -2, Type: "Q4_K", Params: 200, Bytes: 112,
				Metrics: quant.Metrics{RelFrobenius: 0.07, MatmulRelError: 0.06, Cosine: 0.997},
				Experts: []quant.Metrics{{RelFrobenius: 0.06, MatmulRelError: 0.05, Cosine: 0.998}, {RelFrobenius: 0.08, MatmulRelError: 0.09, Cosine: 0.996}}},
			{Name: "blk.0.ffn_down_exps.weight", Role: "expert_down", Layer: 0, Expert: -2, Type: "Q6_K", Params: 200, Bytes: 164,
				Metrics: quant.Metrics{RelFrobenius: 0.02, MatmulRelError: 0.02, Cosine: 0.9998},
				Experts: []quant.Metrics{{RelFrobenius: 0.02, MatmulRelError: 0.02, Cosine: 0.9998}, {RelFrobenius: 0.02, MatmulRelError: 0.03, Cosine: 0.9997}}},
		},
	}
}

func TestSummarize(t *testing.T) {
	r := sample()
	r.Summarize()
	if r.Params != 600 || r.TensorBytes != 438 {
		t.Fatalf("params %d bytes %d", r.Params, r.TensorBytes)
	}
	if len(r.Roles) != 4 || r.Roles[0].Role != "attn_q" || r.Roles[0].BitsPerWeight != 56*8/100.0 {
		t.Fatalf("roles %+v", r.Roles)
	}
	if len(r.Experts) != 2 {
		t.Fatalf("%d experts, want 2", len(r.Experts))
	}
	worst := r.Experts[0]
	if worst.Expert != 1 || worst.WorstMatmulRel != 0.09 || worst.WorstProjection != "blk.0.ffn_up_exps.weight" || worst.MinCosine != 0.996 {
		t.Fatalf("worst expert %+v", worst)
	}
	// Each stacked tensor contributes half its parameters to each expert.
	if worst.Params != 200 || worst.MeanRelFrobenius != (0.08*100+0.02*100)/200 {
		t.Fatalf("expert 1 params %d mean rel %g", worst.Params, worst.MeanRelFrobenius)
	}
	if r.Failed() || len(r.Breaches) != 0 {
		t.Fatal("no thresholds set, yet breaches reported")
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		th   Thresholds
		want int
	}{
		{Thresholds{}, 0},
		{Thresholds{MaxRelError: 0.1}, 0},
		{Thresholds{MaxRelError: 0.06}, 1},
		{Thresholds{MaxRelError: 0.01}, 3},
		{Thresholds{MinCosine: 0.9999}, 3},
		{Thresholds{MaxRelError: 0.06, MinCosine: 0.998}, 2},
	}
	for _, tc := range tests {
		r := sample()
		r.Thresholds = tc.th
		r.Summarize()
		if len(r.Breaches) != tc.want || r.Failed() != (tc.want > 0) {
			t.Errorf("%+v: %d breaches %+v, want %d", tc.th, len(r.Breaches), r.Breaches, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	r := sample()
	r.Thresholds = Thresholds{MaxRelError: 0.06}
	r.Summarize()
	var b bytes.Buffer
	if err := r.WriteText(&b, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wrote out.gguf (gguf Q4_K_M)", "600 parameters", "sha256 " + strings.Repeat("a", 64),
		"attn_k", "Experts that lost most", "blk.0.ffn_down_exps.weight", "1 breaches", "rel_frobenius 0.07"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || back.Schema != SchemaVersion || len(back.Breaches) != 1 {
		t.Fatalf("JSON round trip: %v, %+v", err, back.Breaches)
	}
	if commas(-1234567) != "-1,234,567" || commas(12) != "12" {
		t.Error("commas")
	}
}

// A value stored as NaN or ±Inf is a breach whatever the thresholds; a
// plan (nothing measured) breaches nothing.
func TestBreachesNonFiniteAndDryRun(t *testing.T) {
	r := sample()
	r.Tensors[1].Metrics.InfOut = 3
	r.Summarize()
	if len(r.Breaches) != 1 || r.Breaches[0].Tensor != "blk.0.attn_k.weight" || r.Breaches[0].Metric != "non_finite_values" || r.Breaches[0].Value != 3 {
		t.Errorf("breaches %+v", r.Breaches)
	}
	p := sample()
	p.DryRun = true
	for i := range p.Tensors {
		p.Tensors[i].Metrics = quant.Metrics{}
	}
	p.Thresholds = Thresholds{MaxRelError: 0.1, MinCosine: 0.99}
	p.Summarize()
	if p.Failed() {
		t.Errorf("a plan breached %+v", p.Breaches)
	}
}

func TestThresholdsValidate(t *testing.T) {
	for _, tc := range []struct {
		th Thresholds
		ok bool
	}{
		{Thresholds{}, true},
		{Thresholds{MaxRelError: 0.2, MinCosine: 0.99}, true},
		{Thresholds{MinCosine: -1}, true},
		{Thresholds{MaxRelError: -1}, false},
		{Thresholds{MaxRelError: math.NaN()}, false},
		{Thresholds{MaxRelError: math.Inf(1)}, false},
		{Thresholds{MinCosine: 99}, false},
		{Thresholds{MinCosine: math.NaN()}, false},
	} {
		if err := tc.th.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: error %v", tc.th, err)
		}
	}
}

// With an importance matrix, each expert's worst imatrix-weighted error is
// the largest of its projections', and the tables show the column; a
// report without one has neither.
func TestImatrixError(t *testing.T) {
	plain := sample()
	plain.Summarize()
	var text bytes.Buffer
	if err := plain.WriteText(&text, 0); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "imatrix") || plain.Experts[0].WorstImatrixError != nil {
		t.Fatalf("without weights: %s", text.String())
	}
	p := func(v float64) *float64 { return &v }
	r := sample()
	r.Tensors[2].Experts[0].ImatrixError, r.Tensors[2].Experts[1].ImatrixError = p(0.003), p(0.007)
	r.Tensors[3].Experts[0].ImatrixError, r.Tensors[3].Experts[1].ImatrixError = p(0.004), p(0.0005)
	r.Tensors[2].Metrics.ImatrixError = p(0.005)
	r.Summarize()
	got := map[int]float64{}
	for _, e := range r.Experts {
		got[e.Expert] = *e.WorstImatrixError
	}
	if got[0] != 0.004 || got[1] != 0.007 {
		t.Errorf("worst imatrix errors %v, want expert 0: 0.004, expert 1: 0.007", got)
	}
	text.Reset()
	if err := r.WriteText(&text, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"worst imatrix", "5.000e-03", "7.000e-03"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"worst_imatrix_weighted_error":0.007`) || !strings.Contains(string(raw), `"imatrix_weighted_error":0.005`) {
		t.Errorf("JSON lacks the imatrix errors: %s", raw)
	}
}
