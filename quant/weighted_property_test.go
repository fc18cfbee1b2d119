package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// Properties of the importance-weighted quantizers beyond the goldens: the
// tuned fits against plain transliterations of ggml's, exact invariance
// under power-of-two weight scaling, independence from the worker count,
// and the behaviour at zero and very large weights.

// testWeights fills w with one of several importance-weight patterns.
func testWeights(r *rand.Rand, kind int, w []float32) {
	for i := range w {
		z := float32(r.NormFloat64())
		var v float32
		switch kind {
		case 0: // imatrix-like: squared activations plus a floor
			v = z*z + 0.1
		case 1: // a few columns far more important
			v = z*z + 0.1
			if r.IntN(64) == 0 {
				v *= 1000
			}
		case 2: // all equal
			v = 1
		case 3: // some columns never activated
			if r.IntN(3) > 0 {
				v = z * z
			}
		case 4: // tiny
			v = (z*z + 0.1) * 1e-20
		case 5: // large
			v = (z*z + 0.1) * 1e20
		case 6: // all zero
		default: // wide dynamic range
			v = float32(math.Pow(10, r.Float64()*12-6))
		}
		w[i] = v
	}
}

const testWeightKinds = 8

// The tuned fits must equal the plain transliterations on any block and
// weights: makeQXWeighted (make_qx_quants with quant_weights) and makeQKX2
// run as make_qkx3_quants with the parameters of the weighted quantizers.
func TestWeightedFitsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 17))
	n := 2000
	if testing.Short() {
		n = 200
	}
	var x, w [256]float32
	for iter := range n {
		kTestBlock(r, iter%kTestKinds, &x)
		testWeights(r, iter/kTestKinds%testWeightKinds, w[:])
		checkWeightedFits(t, &x, &w)
		if t.Failed() {
			t.Fatalf("iteration %d (block kind %d, weight kind %d)", iter, iter%kTestKinds, iter/kTestKinds%testWeightKinds)
		}
	}
}

func checkWeightedFits(t *testing.T, x, w *[256]float32) {
	t.Helper()
	var gotL, wantL [32]int8
	for _, c := range []struct{ n, nmax int }{{16, 4}, {16, 32}, {32, 8}, {32, 16}} {
		for off := 0; off < 256; off += c.n {
			xs, ws := x[off:off+c.n], w[off:off+c.n]
			got := makeQXWeighted(c.nmax, xs, ws, gotL[:c.n])
			want := refMakeQXWeighted(c.nmax, xs, ws, wantL[:c.n])
			if math.Float32bits(got) != math.Float32bits(want) || gotL != wantL {
				t.Errorf("makeQXWeighted(nmax %d, n %d) at %d = %g %v, reference %g %v", c.nmax, c.n, off, got, gotL[:c.n], want, wantL[:c.n])
				return
			}
		}
	}
	var gotU, wantU, laux [32]uint8
	for _, c := range []struct{ n, nmax int }{{16, 3}, {32, 15}, {32, 31}} {
		for off := 0; off < 256; off += c.n {
			xs, ws := x[off:off+c.n], w[off:off+c.n]
			gs, gm := makeQKX2(c.nmax, xs, ws, gotU[:c.n], laux[:c.n], -0.9, 0.05, 36, false)
			ws2, wm := refMakeQKX2(c.nmax, xs, ws, wantU[:c.n], laux[:c.n], -0.9, 0.05, 36, false)
			if math.Float32bits(gs) != math.Float32bits(ws2) || math.Float32bits(gm) != math.Float32bits(wm) || gotU != wantU {
				t.Errorf("makeQKX2(nmax %d, n %d) at %d = %g %g %v, reference %g %g %v", c.nmax, c.n, off, gs, gm, gotU[:c.n], ws2, wm, wantU[:c.n])
				return
			}
		}
	}
}

// quantizeWeightedAll quantizes src (rows of cols) as typ with weights qw.
func quantizeWeightedAll(t testing.TB, typ ggml.Type, src []float32, cols int, qw []float32, workers int) []byte {
	t.Helper()
	size, err := typ.RowSize(int64(cols))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, int(size)*(len(src)/cols))
	if err := QuantizeRowsWeighted(typ, src, cols, qw, dst, workers); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Every quantity ggml computes from the weights is a sum of terms linear
// in them, compared with another such sum or divided by one, so scaling
// all weights by a power of two (short of overflow and underflow) cannot
// change a single bit. In particular equal weights of any power-of-two
// level give the bytes of weights of 1. (The edge input is left out: its
// 1e-30 values put products at the bottom of the float32 range, where
// scaling is not exact.)
func TestWeightedPowerOfTwoScaling(t *testing.T) {
	for _, in := range weightedGoldenInputs {
		if in.name == "edge" {
			continue
		}
		src := loadWeightedGoldenInput(t, in)
		qw := loadF32LE(t, filepath.Join(imatrixGoldenDir, in.name+".qwskew.f32"))
		ones := make([]float32, in.cols)
		for i := range ones {
			ones[i] = 1
		}
		for _, typ := range weightedTypes {
			want := quantizeWeightedAll(t, typ, src, in.cols, qw, 0)
			wantOnes := quantizeWeightedAll(t, typ, src, in.cols, ones, 0)
			for _, k := range []int{-12, -1, 3, 16} {
				f := float32(math.Ldexp(1, k))
				scaled := make([]float32, in.cols)
				uniform := make([]float32, in.cols)
				for i := range qw {
					scaled[i] = qw[i] * f
					uniform[i] = f
				}
				if got := quantizeWeightedAll(t, typ, src, in.cols, scaled, 0); !bytes.Equal(got, want) {
					t.Errorf("%s %s: weights ×2^%d change the output", in.name, typ, k)
				}
				if got := quantizeWeightedAll(t, typ, src, in.cols, uniform, 0); !bytes.Equal(got, wantOnes) {
					t.Errorf("%s %s: equal weights 2^%d give other bytes than weights of 1", in.name, typ, k)
				}
			}
		}
	}
}

// The bytes depend neither on the number of workers nor on how the rows
// are handed over.
func TestWeightedWorkersDeterministic(t *testing.T) {
	in := weightedGoldenInputs[len(weightedGoldenInputs)-1]
	src := loadWeightedGoldenInput(t, in)
	qw := loadF32LE(t, filepath.Join(imatrixGoldenDir, in.name+".qwskew.f32"))
	for _, typ := range weightedTypes {
		want := quantizeWeightedAll(t, typ, src, in.cols, qw, 1)
		for _, workers := range []int{2, 3, 5, 8, 0} {
			if got := quantizeWeightedAll(t, typ, src, in.cols, qw, workers); !bytes.Equal(got, want) {
				t.Errorf("%s: %d workers give other bytes than 1", typ, workers)
			}
		}
		rb := len(want) / (len(src) / in.cols)
		for r := 0; r < len(src)/in.cols; r++ {
			got := quantizeWeightedAll(t, typ, src[r*in.cols:(r+1)*in.cols], in.cols, qw, 1)
			if !bytes.Equal(got, want[r*rb:(r+1)*rb]) {
				t.Errorf("%s: row %d alone gives other bytes than in the matrix", typ, r)
			}
		}
	}
}

// dequantizeAll decodes enc (rows of cols) as typ and fails on a
// non-finite value.
func dequantizeAll(t testing.TB, typ ggml.Type, enc []byte, n int) []float32 {
	t.Helper()
	y := make([]float32, n)
	if err := Dequantize(typ, enc, y); err != nil {
		t.Fatal(err)
	}
	for i, v := range y {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s: dequantized element %d is %g", typ, i, v)
		}
	}
	return y
}

// All-zero weights say no value matters. ggml then fits every symmetric
// block with scale 0 (make_qx_quants' sums vanish) and every K-quant scale
// with make_qp_quants' 0, so those types decode to exact zeros; Q4_1 and
// Q5_1 keep make_qkx3_quants' first min/max fit, within one step of x.
// Partly zero weights (columns never activated) stay finite.
func TestWeightedZeroWeights(t *testing.T) {
	src := loadWeightedGoldenInput(t, weightedGoldenInputs[0])
	zero := make([]float32, goldenCols)
	some := make([]float32, goldenCols)
	r := rand.New(rand.NewPCG(5, 8))
	testWeights(r, 3, some)
	for _, typ := range weightedTypes {
		y := dequantizeAll(t, typ, quantizeWeightedAll(t, typ, src, goldenCols, zero, 0), len(src))
		for b := 0; b < len(src)/32; b++ {
			xs, ys := src[32*b:32*b+32], y[32*b:32*b+32]
			lo, hi := minMax(xs)
			steps := float32(15)
			if typ == ggml.Q5_1 {
				steps = 31
			}
			for i := range xs {
				switch typ {
				case ggml.Q4_1, ggml.Q5_1:
					// One step plus float16 rounding of d and m.
					if e := abs32(ys[i] - xs[i]); e > 1.01*(hi-lo)/steps+1e-3*abs32(lo) {
						t.Fatalf("%s block %d: |x-y| = %g for a step of %g", typ, b, e, (hi-lo)/steps)
					}
				default:
					if ys[i] != 0 {
						t.Fatalf("%s: element %d decodes to %g with all weights zero", typ, 32*b+i, ys[i])
					}
				}
			}
		}
		dequantizeAll(t, typ, quantizeWeightedAll(t, typ, src, goldenCols, some, 0), len(src))
	}
}

// Large weights overflow some of ggml's float32 products: from about 2^30
// times N(0,1)-sized weights, make_qp_quants' squared sums become +Inf and
// its comparisons fail, so the fit keeps earlier candidates, as ggml's
// does. At 1e30 the output must still decode to finite values (and be
// reproducible).
func TestWeightedHugeWeights(t *testing.T) {
	src := loadWeightedGoldenInput(t, weightedGoldenInputs[0])
	qw := loadF32LE(t, filepath.Join(imatrixGoldenDir, "gauss.qw.f32"))
	big := make([]float32, len(qw))
	for i, v := range qw {
		big[i] = v * 1e30
	}
	for _, typ := range weightedTypes {
		enc := quantizeWeightedAll(t, typ, src, goldenCols, big, 0)
		dequantizeAll(t, typ, enc, len(src))
		if !bytes.Equal(enc, quantizeWeightedAll(t, typ, src, goldenCols, big, 1)) {
			t.Errorf("%s: weights of 1e30 give other bytes on a second run", typ)
		}
	}
}

// What the weights buy: measured in the error the quantizer minimises,
// Σ qw·(x−y)², the weighted quantizer beats the unweighted one on each
// input, with importance concentrated on a few columns.
func TestWeightedLowersWeightedError(t *testing.T) {
	for _, in := range weightedGoldenInputs {
		if in.name == "edge" {
			continue
		}
		src := loadWeightedGoldenInput(t, in)
		qw := loadF32LE(t, filepath.Join(imatrixGoldenDir, in.name+".qwskew.f32"))
		for _, typ := range weightedTypes {
			size, _ := typ.RowSize(int64(len(src)))
			plain := make([]byte, size)
			if err := QuantizeRows(typ, src, in.cols, plain, 0); err != nil {
				t.Fatal(err)
			}
			errOf := func(enc []byte) float64 {
				y := dequantizeAll(t, typ, enc, len(src))
				var e float64
				for i, v := range src {
					d := float64(v - y[i])
					e += float64(qw[i%in.cols]) * d * d
				}
				return e
			}
			ew := errOf(quantizeWeightedAll(t, typ, src, in.cols, qw, 0))
			eu := errOf(plain)
			t.Logf("%s %s: weighted error %.4g with the weights, %.4g without", in.name, typ, ew, eu)
			if !(ew < eu) {
				t.Errorf("%s %s: weighted error %g with the weights, %g without", in.name, typ, ew, eu)
			}
		}
	}
}

// FuzzQuantizeWeighted runs every weighted quantizer on an arbitrary row
// and weight vector (values within ±1e4, weights within [0, 1e6]: far
// beyond real checkpoints and imatrices): nothing may panic, the output
// must decode to finite values, and the tuned fits must agree with their
// transliterations.
func FuzzQuantizeWeighted(f *testing.F) {
	r := rand.New(rand.NewPCG(21, 34))
	for kind := range kTestKinds {
		var x, w [256]float32
		kTestBlock(r, kind, &x)
		testWeights(r, kind%testWeightKinds, w[:])
		b := make([]byte, 2048)
		for i := range x {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x[i]))
			binary.LittleEndian.PutUint32(b[1024+4*i:], math.Float32bits(w[i]))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var x, w [256]float32
		for i := range 512 {
			if 4*i+4 > len(b) {
				break
			}
			v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				v = 0
			}
			if i < 256 {
				x[i] = max(-1e4, min(1e4, v))
			} else {
				w[i-256] = min(1e6, abs32(v))
			}
		}
		for _, typ := range weightedTypes {
			enc := quantizeWeightedAll(t, typ, x[:], 256, w[:], 1)
			dequantizeAll(t, typ, enc, 256)
		}
		checkWeightedFits(t, &x, &w)
	})
}
