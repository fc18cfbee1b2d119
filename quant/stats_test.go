package quant

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*max(1, math.Abs(b)) }

func statsOf(t *testing.T, rowLen, probes int, orig, deq []float32) Metrics {
	t.Helper()
	s := NewStats(rowLen, probes, 1)
	if err := s.AddRows(orig, deq); err != nil {
		t.Fatal(err)
	}
	return s.Result()
}

func TestStatsKnownVectors(t *testing.T) {
	w := genRows(4, 3, roundTripInputs[0].gen) // 4 rows of 256

	t.Run("identical", func(t *testing.T) {
		m := statsOf(t, propCols, 4, w, w)
		want := Metrics{SNRdB: SNRCapDB, Cosine: 1, Count: int64(len(w))}
		if m != want {
			t.Errorf("got %+v, want %+v", m, want)
		}
	})
	t.Run("doubled", func(t *testing.T) {
		// ŵ = 2w: the error equals w, so every relative error is 1,
		// the SNR 0 dB, and the direction unchanged.
		d := make([]float32, len(w))
		var sumsq float64
		for i, v := range w {
			d[i] = 2 * v
			sumsq += float64(v) * float64(v)
		}
		m := statsOf(t, propCols, 4, w, d)
		for name, c := range map[string][2]float64{
			"rel_frobenius":    {m.RelFrobenius, 1},
			"matmul_rel_error": {m.MatmulRelError, 1},
			"snr_db":           {m.SNRdB, 0},
			"cosine":           {m.Cosine, 1},
			"rmse":             {m.RMSE, math.Sqrt(sumsq / float64(len(w)))},
		} {
			if !near(c[0], c[1], 1e-12) {
				t.Errorf("%s = %v, want %v", name, c[0], c[1])
			}
		}
	})
	t.Run("hand computed", func(t *testing.T) {
		// Rows [3 4] -> [0 0] and [1 0] -> [1 1]: errors 3, 4, 0, -1.
		m := statsOf(t, 2, 0, []float32{3, 4, 1, 0}, []float32{0, 0, 1, 1})
		want := Metrics{
			RMSE:         math.Sqrt(26.0 / 4),
			MaxAbsError:  4,
			RelFrobenius: math.Sqrt(26.0 / 26),
			SNRdB:        0,
			Cosine:       1 / math.Sqrt(26*2),
			Count:        4,
		}
		if !near(m.RMSE, want.RMSE, 1e-15) || m.MaxAbsError != 4 || !near(m.RelFrobenius, 1, 1e-15) ||
			!near(m.SNRdB, 0, 1e-12) || !near(m.Cosine, want.Cosine, 1e-15) || m.Count != 4 || m.MatmulRelError != 0 {
			t.Errorf("got %+v, want %+v", m, want)
		}
	})
	t.Run("opposite", func(t *testing.T) {
		d := make([]float32, len(w))
		for i, v := range w {
			d[i] = -v
		}
		m := statsOf(t, propCols, 2, w, d)
		if !near(m.Cosine, -1, 1e-12) || !near(m.RelFrobenius, 2, 1e-12) || !near(m.MatmulRelError, 2, 1e-12) {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("zero reference", func(t *testing.T) {
		z := make([]float32, 8)
		m := statsOf(t, 8, 1, z, z)
		if m.Cosine != 1 || m.RelFrobenius != 0 || m.SNRdB != SNRCapDB || m.MatmulRelError != 0 {
			t.Errorf("zeros vs zeros: %+v", m)
		}
		one := []float32{0, 0, 0, 1, 0, 0, 0, 0}
		m = statsOf(t, 8, 1, z, one)
		if m.Cosine != 0 || m.RelFrobenius != RelErrorCap || m.SNRdB != -SNRCapDB || m.MatmulRelError != RelErrorCap {
			t.Errorf("zeros vs one: %+v", m)
		}
	})
}

func TestStatsNonFinite(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	orig := []float32{1, nan, inf, 2, -inf, 3}
	deq := []float32{1, 0, inf, nan, 5, 3}
	m := statsOf(t, 3, 3, orig, deq)
	if m.NaNIn != 1 || m.InfIn != 2 || m.NaNOut != 1 || m.InfOut != 1 || m.Count != 6 {
		t.Errorf("counts: %+v", m)
	}
	s := NewStats(3, 3, 1)
	if err := s.AddRows(orig, deq); err != nil {
		t.Fatal(err)
	}
	if n := s.NonFiniteOut(); n != m.NaNOut+m.InfOut {
		t.Errorf("NonFiniteOut = %d, want %d", n, m.NaNOut+m.InfOut)
	}
	// The sums see only the finite pairs (1,1) and (3,3); but 2 came back
	// NaN, so the error figures are the worst there are.
	if m.RMSE != 0 || m.RelFrobenius != RelErrorCap || m.MatmulRelError != RelErrorCap || m.Cosine != -1 || m.SNRdB != -SNRCapDB {
		t.Errorf("a finite value lost: %+v", m)
	}
	// Non-finite values carried through unchanged are counted, not errors.
	m = statsOf(t, 3, 3, []float32{1, nan, 3}, []float32{1, nan, 3})
	if m.NaNIn != 1 || m.NaNOut != 1 || m.RelFrobenius != 0 || m.Cosine != 1 {
		t.Errorf("NaN carried through: %+v", m)
	}
	if _, err := json.Marshal(m); err != nil {
		t.Errorf("JSON: %v", err)
	}
}

func TestStatsMergeMatchesOnePass(t *testing.T) {
	const rows = 40
	w := genRows(rows, 11, roundTripInputs[7].gen)
	enc := make([]byte, rows*int(mustRowSize(t, ggml.Q4_0, propCols)))
	if err := Quantize(ggml.Q4_0, w, enc); err != nil {
		t.Fatal(err)
	}
	d := make([]float32, len(w))
	if err := Dequantize(ggml.Q4_0, enc, d); err != nil {
		t.Fatal(err)
	}

	one := NewStats(propCols, 8, 42)
	if err := one.AddRows(w, d); err != nil {
		t.Fatal(err)
	}
	whole := one.Result()

	// Three uneven chunks: two from fresh NewStats with the same seed, one
	// from Fork, as a parallel caller would do.
	a, b := NewStats(propCols, 8, 42), NewStats(propCols, 8, 42)
	c := a.Fork()
	for _, part := range []struct {
		s      *Stats
		r0, r1 int
	}{{a, 0, 7}, {b, 7, 30}, {c, 30, rows}} {
		if err := part.s.AddRows(w[part.r0*propCols:part.r1*propCols], d[part.r0*propCols:part.r1*propCols]); err != nil {
			t.Fatal(err)
		}
	}
	a.Merge(b)
	a.Merge(c)
	a.Merge(nil)
	merged := a.Result()

	if merged.Count != whole.Count || merged.MaxAbsError != whole.MaxAbsError {
		t.Errorf("merged %+v, one pass %+v", merged, whole)
	}
	for name, v := range map[string][2]float64{
		"rmse": {merged.RMSE, whole.RMSE}, "rel": {merged.RelFrobenius, whole.RelFrobenius},
		"snr": {merged.SNRdB, whole.SNRdB}, "cos": {merged.Cosine, whole.Cosine},
		"matmul": {merged.MatmulRelError, whole.MatmulRelError},
	} {
		if !near(v[0], v[1], 1e-12) {
			t.Errorf("%s: merged %v, one pass %v", name, v[0], v[1])
		}
	}
	// Sanity: Q4_0 of these weights is lossy but close.
	if whole.RelFrobenius < 0.01 || whole.RelFrobenius > 0.3 || whole.MatmulRelError <= 0 || whole.Cosine < 0.95 {
		t.Errorf("implausible Q4_0 metrics: %+v", whole)
	}
}

func TestStatsProbes(t *testing.T) {
	// Equal seeds give equal probes; different seeds different ones.
	w := genRows(3, 1, roundTripInputs[0].gen)
	d := genRows(3, 2, roundTripInputs[0].gen)
	r := func(seed uint64) float64 {
		s := NewStats(propCols, 3, seed)
		if err := s.AddRows(w, d); err != nil {
			t.Fatal(err)
		}
		return s.Result().MatmulRelError
	}
	if r(5) != r(5) || r(5) == r(6) {
		t.Errorf("probe seeding: %v %v %v", r(5), r(5), r(6))
	}

	// Real activations replace the probes: with x = e_k the output error is
	// exactly the error of column k.
	s := NewStats(4, 2, 0)
	if err := s.SetActivations([][]float32{{0, 0, 1, 0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRows([]float32{1, 2, 3, 4, 5, 6, 7, 8}, []float32{0, 0, 3.5, 0, 0, 0, 6, 0}); err != nil {
		t.Fatal(err)
	}
	// Column 2: y = 3, 7; errors -0.5, 1 -> sqrt(1.25/58).
	if got, want := s.Result().MatmulRelError, math.Sqrt(1.25/58); !near(got, want, 1e-15) {
		t.Errorf("matmul error with e_2 = %v, want %v", got, want)
	}
	if err := s.SetActivations([][]float32{{1, 2, 3, 4}}); err == nil {
		t.Error("SetActivations after AddRows: no error")
	}
	if err := NewStats(4, 0, 0).SetActivations([][]float32{{1, 2, 3}}); err == nil {
		t.Error("short activation vector: no error")
	}
	if err := NewStats(2, 0, 0).SetActivations([][]float32{{1, float32(math.NaN())}}); err == nil {
		t.Error("NaN activation: no error")
	}
}

func TestStatsBadInput(t *testing.T) {
	s := NewStats(4, 1, 0)
	if err := s.AddRows(make([]float32, 8), make([]float32, 4)); err == nil {
		t.Error("length mismatch: no error")
	}
	if err := s.AddRows(make([]float32, 6), make([]float32, 6)); err == nil {
		t.Error("partial row: no error")
	}
	if err := NewStats(0, 1, 0).AddRows(nil, nil); err == nil {
		t.Error("zero row length: no error")
	}
	if s.Result().Count != 0 {
		t.Error("rejected rows were counted")
	}
}

func mustRowSize(t testing.TB, typ ggml.Type, n int64) int64 {
	t.Helper()
	size, err := typ.RowSize(n)
	if err != nil {
		t.Fatal(err)
	}
	return size
}

// A random-probe estimate of the output error should track the exact
// operator-level figure for i.i.d. weights; this guards against probes that
// are not N(0,1) (e.g. all equal, or uniform on [0,1)).
func TestStatsProbeScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rowLen, rows = 512, 64
	w := make([]float32, rowLen*rows)
	d := make([]float32, len(w))
	for i := range w {
		w[i] = float32(rng.NormFloat64())
		d[i] = w[i] + float32(0.1*rng.NormFloat64())
	}
	s := NewStats(rowLen, 16, 9)
	if err := s.AddRows(w, d); err != nil {
		t.Fatal(err)
	}
	m := s.Result()
	// For N(0,1) x, E[(e·x)²] = ‖e‖², so the ratio tends to rel_frobenius.
	if r := m.MatmulRelError / m.RelFrobenius; r < 0.8 || r > 1.25 {
		t.Errorf("matmul %v vs frobenius %v: ratio %v", m.MatmulRelError, m.RelFrobenius, r)
	}
}

// The imatrix-weighted error is Σw(x−x̂)²/Σwx²: with equal weights it is
// rel_frobenius², weights on the columns without error bring it to 0,
// Merge adds the sums, a value lost to NaN takes the cap, and without
// weights it is absent.
func TestStatsImatrixError(t *testing.T) {
	const cols = 4
	x := []float32{1, 2, 3, 4, -1, -2, -3, -4}
	q := []float32{1, 2, 3, 3, -1, -2, -3, -5} // errors only in column 3
	weighted := func(w []float32, orig, deq []float32) Metrics {
		s := NewStats(cols, 0, 1)
		if err := s.AddRows(orig, deq); err != nil {
			t.Fatal(err)
		}
		if err := s.AddWeightedRows(orig, deq, w); err != nil {
			t.Fatal(err)
		}
		return s.Result()
	}
	lost := slices.Clone(q)
	lost[1] = float32(math.NaN())
	for _, c := range []struct {
		name string
		w    []float32
		deq  []float32
		want float64
	}{
		{"equal weights", []float32{2, 2, 2, 2}, q, 2.0 / 60},
		{"error where weight is 0", []float32{1, 1, 1, 0}, q, 0},
		{"error where weight is high", []float32{0, 0, 0, 1}, q, 2.0 / 32},
		{"lost value", []float32{1, 1, 1, 1}, lost, RelErrorCap},
	} {
		m := weighted(c.w, x, c.deq)
		if m.ImatrixError == nil || !near(*m.ImatrixError, c.want, 1e-12) {
			t.Errorf("%s: imatrix error %v, want %g", c.name, m.ImatrixError, c.want)
		}
	}
	if m := weighted([]float32{1, 1, 1, 1}, x, q); !near(*m.ImatrixError, m.RelFrobenius*m.RelFrobenius, 1e-12) {
		t.Errorf("equal weights: %g, rel_frobenius² %g", *m.ImatrixError, m.RelFrobenius*m.RelFrobenius)
	}
	a, b := NewStats(cols, 0, 1), NewStats(cols, 0, 1)
	if err := a.AddWeightedRows(x[:4], q[:4], []float32{1, 1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddWeightedRows(x[4:], q[4:], []float32{1, 1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	a.Merge(b)
	if m := a.Result(); !near(*m.ImatrixError, 2.0/60, 1e-12) {
		t.Errorf("merged: %g", *m.ImatrixError)
	}
	if m := statsOf(t, cols, 0, x, q); m.ImatrixError != nil {
		t.Errorf("without weights: %g", *m.ImatrixError)
	}
	s := NewStats(cols, 0, 1)
	if s.AddWeightedRows(x, q, []float32{1, 1, 1}) == nil || s.AddWeightedRows(x, q[:4], []float32{1, 1, 1, 1}) == nil {
		t.Error("mismatched lengths accepted")
	}
}
