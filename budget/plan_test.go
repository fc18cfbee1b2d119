package budget

import (
	"math"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/model"
)

func testTensors() []Tensor {
	return []Tensor{
		{Name: "blk.0.attn_norm.weight", Dims: []uint64{256}, Role: model.RoleAttnNorm, Parts: 1, PartRows: 1, Fixed: ggml.F32},
		{Name: "blk.0.ffn_gate_inp.weight", Dims: []uint64{256, 8}, Role: model.RoleRouter, Parts: 1, PartRows: 8, Fixed: ggml.F32},
		{Name: "blk.0.attn_q.weight", Dims: []uint64{256, 256}, Role: model.RoleAttnQ, Parts: 1, PartRows: 256, Quantizable: true},
		{Name: "blk.0.ffn_up_exps.weight", Dims: []uint64{256, 512, 8}, Role: model.RoleExpertUp, Parts: 8, PartRows: 512, Quantizable: true},
		{Name: "odd.weight", Dims: []uint64{96, 16}, Role: model.RoleAttnK, Parts: 1, PartRows: 16, Quantizable: true},
	}
}

// Norms and the router keep F32 whatever the budget; a tensor whose rows
// fit no ladder type falls back to F16; every budget between the smallest
// and the largest file is met.
func TestPlanKeepsFixedAndFits(t *testing.T) {
	ladder := []ggml.Type{ggml.Q2_K, ggml.Q4_K, ggml.Q8_0}
	p, err := Build(testTensors(), Options{Ladder: ladder})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := p.MinBytes(), p.MaxBytes()
	for _, capacity := range []int64{lo, (lo + hi) / 2, hi} {
		if err := p.Fit(capacity); err != nil {
			t.Fatal(err)
		}
		if b, _ := p.Totals(); b > capacity {
			t.Errorf("capacity %d: %d bytes", capacity, b)
		}
		for _, e := range p.Entries {
			got := e.Chosen().Type
			switch {
			case !e.Quantizable && got != ggml.F32:
				t.Errorf("%s: %v, want F32", e.Name, got)
			case e.Name == "odd.weight" && got != ggml.Q8_0:
				t.Errorf("%s: %v, want Q8_0 (the one ladder type whose block divides 96)", e.Name, got)
			}
		}
	}
	if err := p.Fit(lo - 1); err == nil {
		t.Error("a budget below the smallest file was accepted")
	}
	if err := p.Fit(hi); err != nil || p.Entries[3].Chosen().Type != ggml.Q8_0 {
		t.Errorf("the largest budget should give the most precise type: %v %v", p.Entries[3].Chosen().Type, err)
	}
}

func TestCheckLadder(t *testing.T) {
	ts := testTensors()[4:] // only the 96-column tensor
	if err := CheckLadder(ts, []ggml.Type{ggml.Q4_K}, false); err == nil || !strings.Contains(err.Error(), "divide the rows of no tensor") {
		t.Errorf("Q4_K on 96-value rows: %v", err)
	}
	if err := CheckLadder(ts, []ggml.Type{ggml.Q8_0}, false); err != nil {
		t.Error(err)
	}
	if err := CheckLadder(ts, []ggml.Type{ggml.Q8_K}, false); err == nil {
		t.Error("Q8_K, an intermediate type, was accepted")
	}
}

// constRows serves the same seeded-looking rows for every tensor and part.
type constRows struct{ scale []float32 }

func (c constRows) ReadRows(tensor, part int, rows []int, dst []float32) error {
	for i := range dst {
		dst[i] = c.scale[part] * float32((i*7919)%97-48)
	}
	return nil
}

func TestMeasuredPlanReadsData(t *testing.T) {
	ts := testTensors()[:4]
	scale := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	p, err := Build(ts, Options{Ladder: []ggml.Type{ggml.Q2_K, ggml.Q8_0}, Data: constRows{scale}, RowsPerPart: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Measured {
		t.Error("not marked measured")
	}
	e := p.Entries[3]
	if !(e.Candidates[0].RelErr > e.Candidates[1].RelErr && e.Candidates[1].RelErr > 0) {
		t.Errorf("Q2_K %v should lose more than Q8_0 %v", e.Candidates[0].RelErr, e.Candidates[1].RelErr)
	}
}

// With an importance matrix, each expert's error counts by its share of
// the routed tokens and is weighted by its columns' importance: when every
// token goes to expert 2, the tensor's error is expert 2's weighted error.
func TestRoutingFrequencyWeights(t *testing.T) {
	const cols, nExp = 256, 8
	ts := []Tensor{{Name: "blk.0.ffn_up_exps.weight", Dims: []uint64{cols, 64, nExp}, Role: model.RoleExpertUp, Parts: nExp, PartRows: 64, Quantizable: true}}
	counts := make([]float32, nExp)
	counts[2] = 10
	sum2 := make([]float32, cols*nExp)
	for i := range sum2 {
		sum2[i] = float32(1 + i%13)
	}
	m := &imatrix.Matrix{Entries: []imatrix.Entry{{Name: ts[0].Name, NPerRow: cols, NMat: nExp, InSum2: sum2, Counts: counts}}}
	if f := routingFrequency(m, ts[0]); f[2] != nExp || f[0] != 0 {
		t.Errorf("frequencies %v", f)
	}
	data := constRows{[]float32{1, 2, 3, 4, 5, 6, 7, 8}}
	p, err := Build(ts, Options{Ladder: []ggml.Type{ggml.Q3_K}, Imatrix: m, Data: data, RowsPerPart: 8, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	rows := SampleRows(64, 8, 5, ts[0].Name, 2)
	x := make([]float32, len(rows)*cols)
	if err := data.ReadRows(0, 2, rows, x); err != nil {
		t.Fatal(err)
	}
	w, _, err := m.ExpertWeights(ts[0].Name, 2, cols, nExp)
	if err != nil {
		t.Fatal(err)
	}
	want, err := RelativeError(ggml.Q3_K, x, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Entries[0].Candidates[0].RelErr; math.Abs(got-want) > 1e-12*want {
		t.Errorf("relative error %v, want expert 2's %v", got, want)
	}
	if f := routingFrequency(nil, ts[0]); f[0] != 1 || f[7] != 1 {
		t.Errorf("without an imatrix: %v", f)
	}
}
