package budget

import (
	"math"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// The prior damage model ranks the types by their bits: more bits, less
// error, for the K-quant ladder and Q8_0.
func TestPriorRanksTypes(t *testing.T) {
	ladder := []ggml.Type{ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.Q8_0, ggml.F16}
	prev := math.Inf(1)
	for _, typ := range ladder {
		e, err := PriorRelativeError(typ)
		if err != nil {
			t.Fatal(err)
		}
		if !(e < prev) || e < 0 {
			t.Errorf("%v: relative squared error %v, not below the previous type's %v", typ, e, prev)
		}
		prev = e
	}
}

// RelativeError is the weighted squared error of a quantize/dequantize
// round trip over the weighted energy.
func TestRelativeError(t *testing.T) {
	const cols = 256
	rows := make([]float32, 2*cols)
	w := make([]float32, cols)
	for i := range rows {
		rows[i] = float32(math.Sin(float64(i)*0.37)) * float32(1+i%7)
	}
	for i := range w {
		w[i] = float32(1 + i%5)
	}
	got, err := RelativeError(ggml.Q4_K, rows, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*144)
	if err := quant.QuantizeRowsWeighted(ggml.Q4_K, rows, cols, w, buf, 1); err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, len(rows))
	if err := quant.DequantizeRows(ggml.Q4_K, buf, cols, deq, 1); err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i := range rows {
		d := float64(rows[i]) - float64(deq[i])
		num += float64(w[i%cols]) * d * d
		den += float64(w[i%cols]) * float64(rows[i]) * float64(rows[i])
	}
	if math.Abs(got-num/den) > 1e-12 || got <= 0 {
		t.Errorf("got %v, want %v", got, num/den)
	}
	if _, err := RelativeError(ggml.Q4_K, rows[:100], cols, nil); err == nil {
		t.Error("a partial row was accepted")
	}
	if _, err := RelativeError(ggml.Q4_K, rows, cols, w[:10]); err == nil {
		t.Error("short weights were accepted")
	}
}

// The row sample is fixed by the seed, the name and the part, and holds
// distinct rows in range.
func TestSampleRows(t *testing.T) {
	a := SampleRows(512, 64, 1, "blk.0.ffn_up_exps.weight", 3)
	b := SampleRows(512, 64, 1, "blk.0.ffn_up_exps.weight", 3)
	c := SampleRows(512, 64, 1, "blk.0.ffn_up_exps.weight", 4)
	if !slices.Equal(a, b) || slices.Equal(a, c) || len(a) != 64 {
		t.Errorf("samples not fixed by (seed, name, part): %v %v %v", a[:4], b[:4], c[:4])
	}
	s := slices.Clone(a)
	slices.Sort(s)
	for i, r := range s {
		if r < 0 || r >= 512 || (i > 0 && r == s[i-1]) {
			t.Fatalf("bad sample %v", s)
		}
	}
	if all := SampleRows(10, 64, 1, "x", 0); len(all) != 10 {
		t.Errorf("%d rows of 10", len(all))
	}
}
