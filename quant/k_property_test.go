package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// kLevels describes the values sub-block j of an encoded K-quant block can
// take: s·q − o for integer q in [qlo, qhi], with s and o computed in
// float32 exactly as the dequantizer does.
func kLevels(t ggml.Type, b []byte, j int) (s, o float32, qlo, qhi int) {
	switch t {
	case ggml.Q2_K:
		sc := b[j]
		return getHalf(b[80:]) * float32(sc&0xF), getHalf(b[82:]) * float32(sc>>4), 0, 3
	case ggml.Q3_K:
		return getHalf(b[108:]) * float32(q3Scale(b[96:108], j)), 0, -4, 3
	case ggml.Q4_K, ggml.Q5_K:
		sc, m := getScaleMinK4(j, b[4:16])
		qhi := 15
		if t == ggml.Q5_K {
			qhi = 31
		}
		return getHalf(b[0:]) * float32(sc), getHalf(b[2:]) * float32(m), 0, qhi
	case ggml.Q6_K:
		return getHalf(b[208:]) * float32(int8(b[192+j])), 0, -32, 31
	}
	panic("not a K-quant")
}

// kCheckNearest asserts the defining property of the K-quant encoders
// after their final re-quantization: every value is decoded to the level
// of its sub-block's grid nearest to it. So within the grid's range the
// error is at most half a step, and outside it the value is clamped to the
// nearest end. The slack allows for float32 rounding in (x+o)/s and in
// the dequantizer.
func kCheckNearest(t *testing.T, typ ggml.Type, x []float32, enc []byte, deq []float32) {
	t.Helper()
	bs := typ.TypeSize()
	for blk := 0; blk < len(x)/256; blk++ {
		b := enc[blk*bs : (blk+1)*bs]
		n := 16
		if typ == ggml.Q4_K || typ == ggml.Q5_K {
			n = 32
		}
		for j := range 256 / n {
			s, o, qlo, qhi := kLevels(typ, b, j)
			for i := j * n; i < (j+1)*n; i++ {
				xv, got := float64(x[blk*256+i]), float64(deq[blk*256+i])
				best := math.Abs(xv + float64(o))
				if s != 0 {
					q := math.Round((xv + float64(o)) / float64(s))
					q = math.Max(float64(qlo), math.Min(float64(qhi), q))
					best = math.Inf(1)
					for _, c := range []float64{q - 1, q, q + 1} {
						if c >= float64(qlo) && c <= float64(qhi) {
							best = math.Min(best, math.Abs(xv-(float64(s)*c-float64(o))))
						}
					}
				}
				slack := 0x1p-20*(math.Abs(xv)+math.Abs(float64(o))+math.Abs(float64(s))*float64(max(-qlo, qhi))) + 1e-38
				if err := math.Abs(xv - got); !(err <= best+slack) {
					t.Fatalf("%s block %d element %d: x=%g decoded %g (error %g), nearest level is %g away",
						typ, blk, i, xv, got, err, best)
				}
			}
		}
	}
}

// kRMSECeiling bounds the RMSE of a block relative to its standard
// deviation for Gaussian data. A uniform grid with step Δ has RMSE Δ/√12;
// the step is the sub-block's range over the number of steps (range ≈ 4σ
// for 32 Gaussian values and ≈ 3.5σ for 16; Q3_K and Q6_K are symmetric
// around zero with 2·max spanning 8 or 64 levels). That gives about 0.34,
// 0.13, 0.077, 0.037 and 0.016; measured means are 0.30, 0.15, 0.071,
// 0.036 and 0.018 (Q3_K loses a little to its lopsided −4..3 grid). The
// ceilings leave room for unlucky blocks.
var kRMSECeiling = map[ggml.Type]struct{ mean, block float64 }{
	ggml.Q2_K: {0.33, 0.42},
	ggml.Q3_K: {0.17, 0.21},
	ggml.Q4_K: {0.08, 0.10},
	ggml.Q5_K: {0.04, 0.05},
	ggml.Q6_K: {0.02, 0.025},
}

func TestKRoundTripGaussian(t *testing.T) {
	for _, sigma := range []float64{1, 0.02} {
		r := rand.New(rand.NewPCG(uint64(sigma*1000), 77))
		const blocks = 400
		x := make([]float32, blocks*256)
		for i := range x {
			x[i] = float32(r.NormFloat64() * sigma)
		}
		for _, typ := range kTypes {
			enc, deq := roundTrip(t, typ, x)
			kCheckNearest(t, typ, x, enc, deq)
			ceil := kRMSECeiling[typ]
			var meanRel float64
			for b := range blocks {
				var se, s, ss float64
				for i := b * 256; i < (b+1)*256; i++ {
					d := float64(x[i]) - float64(deq[i])
					se += d * d
					s += float64(x[i])
					ss += float64(x[i]) * float64(x[i])
				}
				std := math.Sqrt(ss/256 - (s/256)*(s/256))
				rel := math.Sqrt(se/256) / std
				meanRel += rel / blocks
				if rel > ceil.block {
					t.Errorf("σ=%g %s block %d: RMSE/std %.4f > %.4f", sigma, typ, b, rel, ceil.block)
				}
			}
			if meanRel > ceil.mean {
				t.Errorf("σ=%g %s: mean RMSE/std %.4f > %.4f", sigma, typ, meanRel, ceil.mean)
			}
		}
	}
}

// kPatternBlock returns a 256-value block made by f.
func kPatternBlock(f func(i int) float32) []float32 {
	x := make([]float32, 256)
	for i := range x {
		x[i] = f(i)
	}
	return x
}

func TestKSpecialBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 55))
	for _, typ := range kTypes {
		t.Run(typ.String(), func(t *testing.T) {
			// All zero: exact zeros.
			enc, deq := roundTrip(t, typ, make([]float32, 512))
			for i, v := range deq {
				if v != 0 {
					t.Fatalf("zero block decoded to %g at %d", v, i)
				}
			}
			kCheckNearest(t, typ, make([]float32, 512), enc, deq)

			// Constant blocks come back within the fp16 precision of the
			// block scales (2^-11 relative, twice: super-block and product).
			// Below |c| ≈ 4e-3 the fp16 scales turn subnormal and lose
			// relative precision; the nearest-level check still holds there.
			for _, c := range []float32{1.25, -1.25, 0.02, -7, 0.5} {
				x := kPatternBlock(func(int) float32 { return c })
				enc, deq := roundTrip(t, typ, x)
				kCheckNearest(t, typ, x, enc, deq)
				for i, v := range deq {
					if math.Abs(float64(v-c)) > 0x1p-9*math.Abs(float64(c)) {
						t.Fatalf("constant %g decoded to %g at %d", c, v, i)
					}
				}
			}

			// One outlier among zeros: the zeros stay exactly zero when the
			// outlier is positive (the grid starts at 0), and the outlier
			// itself lands on a level within fp16 precision of it.
			for _, v := range []float32{50, -50, 0.05} {
				x := make([]float32, 256)
				x[77] = v
				enc, deq := roundTrip(t, typ, x)
				kCheckNearest(t, typ, x, enc, deq)
				if d := math.Abs(float64(deq[77] - v)); d > 0x1p-9*math.Abs(float64(v)) {
					t.Errorf("outlier %g decoded to %g", v, deq[77])
				}
				for i, y := range deq {
					if i != 77 && v > 0 && y != 0 {
						t.Fatalf("outlier %g: zero at %d decoded to %g", v, i, y)
					}
				}
			}

			// Subnormal and tiny inputs: the scales underflow in fp16, so the
			// block decodes to (signed) zeros and never to anything larger.
			for _, scale := range []float64{1e-39, 1e-30, 1e-9} {
				x := kPatternBlock(func(int) float32 { return float32(r.NormFloat64() * scale) })
				enc, deq := roundTrip(t, typ, x)
				kCheckNearest(t, typ, x, enc, deq)
				for i, v := range deq {
					if math.Abs(float64(v)) > 4*scale*8 {
						t.Fatalf("scale %g: element %d decoded to %g", scale, i, v)
					}
				}
			}

			// Large values still fit the fp16 block scales (d ≤ 65504 needs
			// max|x| below about 2e6 for Q6_K's d = max/128 and 4e6 for Q4_K's
			// d = maxscale/63 — here max ~1e5): finite and nearest-level.
			x := kPatternBlock(func(int) float32 { return float32(r.NormFloat64() * 2e4) })
			enc, deq = roundTrip(t, typ, x)
			kCheckNearest(t, typ, x, enc, deq)
			for i, v := range deq {
				if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
					t.Fatalf("large block: element %d decoded to %g", i, v)
				}
			}

			// Mixed sub-block scales and one-signed data keep the property.
			for kind := range kTestKinds {
				var b [256]float32
				kTestBlock(r, kind, &b)
				enc, deq := roundTrip(t, typ, b[:])
				kCheckNearest(t, typ, b[:], enc, deq)
			}
		})
	}
}

func TestKWrongLengths(t *testing.T) {
	for _, typ := range kTypes {
		for _, n := range []int{1, 255, 257, 300, 511} {
			if err := Quantize(typ, make([]float32, n), make([]byte, 4*typ.TypeSize())); err == nil {
				t.Errorf("%s: Quantize of %d values succeeded", typ, n)
			}
			if err := Dequantize(typ, make([]byte, typ.TypeSize()), make([]float32, n)); err == nil {
				t.Errorf("%s: Dequantize into %d values succeeded", typ, n)
			}
		}
		if err := Quantize(typ, make([]float32, 512), make([]byte, typ.TypeSize())); err == nil {
			t.Errorf("%s: Quantize into a short buffer succeeded", typ)
		}
		if err := Dequantize(typ, make([]byte, 3*typ.TypeSize()), make([]float32, 512)); err == nil {
			t.Errorf("%s: Dequantize of a long buffer succeeded", typ)
		}
		if err := Quantize(typ, nil, nil); err != nil {
			t.Errorf("%s: empty input: %v", typ, err)
		}
	}
}

func TestQuantizeBlockQ8K(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	var x [256]float32
	var y blockQ8K
	for kind := range kTestKinds {
		kTestBlock(r, kind, &x)
		quantizeBlockQ8K(&x, &y)
		var amax float32
		first := -1
		for i, v := range x {
			if abs32(v) > amax {
				amax, first = abs32(v), i
			}
		}
		if amax == 0 {
			if y != (blockQ8K{}) {
				t.Fatalf("kind %d: zero block gave %+v", kind, y)
			}
			continue
		}
		if amax < 127/math.MaxFloat32 {
			// -127/max overflows to -Inf, as in ggml: every quant is 0
			// and d is -0, so the block contributes nothing.
			if y.d != 0 || y.qs != [256]int8{} {
				t.Fatalf("kind %d: tiny block gave d=%g", kind, y.d)
			}
			continue
		}
		// The first element of largest magnitude maps to -127.
		if y.qs[first] != -127 || y.d*-127 != y.d*float32(y.qs[first]) {
			t.Fatalf("kind %d: largest element %g quantized to %d", kind, x[first], y.qs[first])
		}
		for i, v := range x {
			// Rounding to nearest: within half a step (plus float32 slack).
			if d := math.Abs(float64(v) - float64(y.d)*float64(y.qs[i])); d > 0.5001*math.Abs(float64(y.d)) {
				t.Fatalf("kind %d element %d: %g decoded %g", kind, i, v, y.d*float32(y.qs[i]))
			}
		}
		for j := range 16 {
			var s int
			for _, q := range y.qs[16*j : 16*j+16] {
				s += int(q)
			}
			if int(y.bsums[j]) != s {
				t.Fatalf("kind %d: bsums[%d] = %d, want %d", kind, j, y.bsums[j], s)
			}
		}
	}
}
