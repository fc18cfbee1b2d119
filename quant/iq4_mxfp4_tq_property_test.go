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

// lowBitTolerance fills tol for one block of the IQ4, MXFP4 and ternary
// types. Every code these quantizers pick is the level nearest to x/d for
// the block's (or sub-block's) scale d, so the error is at most half the
// widest gap between neighbouring levels times |d|, or, past the end of
// the table, the distance to the outermost level; plus what rounding d to
// its stored precision moves a level by (for float16, half a unit in the
// last place, 2^-25 absolute among the subnormals).
func lowBitTolerance(typ ggml.Type, x []float32, enc []byte, tol []float64, eps float64) {
	h16 := func(off int) float64 { return float64(F16ToF32(binary.LittleEndian.Uint16(enc[off:]))) }
	// halfUlp16 bounds |d - float16(d)| given the stored float16.
	halfUlp16 := func(d float64) float64 { return max(math.Abs(d)*0x1p-11, 0x1p-25) }
	// nearest is the bound for levels spaced at most 2·halfGap apart
	// spanning [-lo, hi] in units of the stored d, which is off the scale
	// the codes were chosen with by at most dErr.
	nearest := func(i int, d, halfGap, lo, hi, dErr float64) float64 {
		d = math.Abs(d)
		a := math.Abs(float64(x[i]))
		return max(halfGap*(d+dErr), a-min(lo, hi)*(d-dErr)) + max(lo, hi)*dErr + eps
	}
	switch typ {
	case ggml.TQ1_0, ggml.TQ2_0:
		off := blockTQ1Len - 2
		if typ == ggml.TQ2_0 {
			off = blockTQ2Len - 2
		}
		for i := range tol {
			tol[i] = nearest(i, h16(off), 0.5, 1, 1, halfUlp16(h16(off)))
		}
	case ggml.MXFP4:
		// The exponent is exact (a power of two); levels 0..12 in units
		// of d, the widest gap 4 (8 to 12).
		d := float64(e8m0Half(enc[0]))
		for i := range tol {
			tol[i] = nearest(i, d, 2, 12, 12, 0)
		}
	case ggml.IQ4_NL:
		for i := range tol {
			tol[i] = nearest(i, h16(0), 12, 127, 113, halfUlp16(h16(0)))
		}
	case ggml.IQ4_XS:
		d := h16(0)
		scalesH := binary.LittleEndian.Uint16(enc[2:])
		for ib := range 8 {
			ls := int(enc[4+ib/2]>>(4*(ib%2)))&0xf | int(scalesH>>(2*ib))&3<<4
			dl := d * float64(ls-32)
			for i := 32 * ib; i < 32*ib+32; i++ {
				tol[i] = nearest(i, dl, 12, 127, 113, math.Abs(float64(ls-32))*halfUlp16(d))
			}
		}
	}
}

// hasZeroLevel reports whether typ can store an exact zero in a block with
// a non-zero scale; the IQ4 level table has none (its nearest is +1).
func hasZeroLevel(typ ggml.Type) bool { return typ != ggml.IQ4_NL && typ != ggml.IQ4_XS }

// TestLowBitWeightedDeterministic checks that the weighted quantizers give
// the same bytes whatever the worker count, and that the weights matter
// exactly where ggml uses them.
func TestLowBitWeightedDeterministic(t *testing.T) {
	const rows, cols = 19, 512
	r := rand.New(rand.NewPCG(12, 34))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	w := make([]float32, cols)
	for i := range w {
		w[i] = float32(r.ExpFloat64())
	}
	for _, typ := range lowBitTypes {
		t.Run(typ.String(), func(t *testing.T) {
			size, err := typ.RowSize(int64(len(x)))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, size)
			if err := QuantizeRowsWeighted(typ, x, cols, w, want, 1); err != nil {
				t.Fatal(err)
			}
			for workers := range 6 {
				got := make([]byte, size)
				if err := QuantizeRowsWeighted(typ, x, cols, w, got, workers); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("workers=%d: bytes differ from one worker", workers)
				}
			}
			plain := make([]byte, size)
			if err := QuantizeRows(typ, x, cols, plain, 2); err != nil {
				t.Fatal(err)
			}
			if UsesWeights(typ) == bytes.Equal(plain, want) {
				t.Fatalf("UsesWeights = %v, but weighted and plain bytes equal: %v", UsesWeights(typ), bytes.Equal(plain, want))
			}
		})
	}
}

// FuzzLowBitWeighted quantizes arbitrary finite rows (|x| ≤ 1e4) with
// arbitrary positive weights: nothing may panic and the dequantized values
// must be finite.
func FuzzLowBitWeighted(f *testing.F) {
	edge := loadF32LE(f, filepath.Join(imatrixGoldenDir, "edge.f32"))
	qw := loadF32LE(f, filepath.Join(imatrixGoldenDir, "edge.qwskew.f32"))
	for r := 0; r < len(edge)/propCols; r += 3 {
		seed := make([]byte, 8*propCols)
		for i, v := range edge[r*propCols:][:propCols] {
			binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(v))
			binary.LittleEndian.PutUint32(seed[4*(propCols+i):], math.Float32bits(qw[i]))
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		word := func(i int) float32 {
			if 4*i+4 > len(data) {
				return 0
			}
			return math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		x := make([]float32, propCols)
		w := make([]float32, propCols)
		for i := range x {
			v := word(i)
			if !(abs32(v) <= 1e4) {
				v = 0
			}
			x[i] = v
			// Positive weights in [1e-3, 1e3].
			u := abs32(word(propCols + i))
			if !(u >= 1e-3 && u <= 1e3) {
				u = 1
			}
			w[i] = u
		}
		for _, typ := range lowBitTypes {
			size, err := typ.RowSize(propCols)
			if err != nil {
				t.Fatal(err)
			}
			enc := make([]byte, size)
			y := make([]float32, propCols)
			for _, weights := range [][]float32{nil, w} {
				if err := QuantizeRowsWeighted(typ, x, propCols, weights, enc, 1); err != nil {
					t.Fatal(err)
				}
				if err := Dequantize(typ, enc, y); err != nil {
					t.Fatal(err)
				}
				if i, ok := FindNonFinite(y); !ok {
					t.Fatalf("%s (weights %v): element %d of a finite row dequantized to %g", typ, weights != nil, i, y[i])
				}
			}
		}
	})
}

// iq4IndexSearch is best_index_int8 as ggml writes it: a binary search
// for the bracketing levels, then the nearer of the two.
func iq4IndexSearch(x float32) uint8 {
	if x <= float32(iq4Levels[0]) {
		return 0
	}
	if x >= float32(iq4Levels[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if x < float32(iq4Levels[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if x-float32(iq4Levels[hi-1]) < float32(iq4Levels[hi])-x {
		return uint8(hi - 1)
	}
	return uint8(hi)
}

// TestIQ4Index compares the table lookup with ggml's binary search on
// every level, every midpoint and their float32 neighbours, a fine grid,
// random values and the non-finite ones.
func TestIQ4Index(t *testing.T) {
	var xs []float32
	around := func(v float32) {
		xs = append(xs, v, math.Nextafter32(v, -1000), math.Nextafter32(v, 1000))
	}
	for k, l := range iq4Levels {
		around(float32(l))
		if k > 0 {
			around((float32(l) + float32(iq4Levels[k-1])) / 2)
		}
	}
	for v := float32(-140); v <= 130; v += 1.0 / 64 {
		around(v)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		xs = append(xs, float32(r.NormFloat64()*60))
	}
	xs = append(xs, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1)))
	for _, x := range xs {
		if got, want := iq4Index(x), iq4IndexSearch(x); got != want {
			t.Fatalf("iq4Index(%g) = %d, binary search gives %d", x, got, want)
		}
	}
}

// TestMXFP4Nearest compares the midpoint shortcut with ggml's search over
// all 16 scaled levels, for every exponent the shortcut is used with, on
// values at, next to and between the levels and midpoints of each scale,
// up to the largest magnitude a block with that exponent holds (< 16·d).
func TestMXFP4Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var scaled [16]float32
	for e := 2; e <= 252; e++ {
		d := e8m0Half(uint8(e))
		for k, l := range mxfp4Levels {
			scaled[k] = float32(l) * d
		}
		var xs []float32
		for u := float32(0); u < 16; u += 0.25 {
			v := u * d
			xs = append(xs, v, math.Nextafter32(v, 0), math.Nextafter32(v, float32(math.Inf(1))))
		}
		for range 64 {
			xs = append(xs, float32(r.Float64()*16)*d)
		}
		xs = append(xs, 0, float32(math.NaN()), math.SmallestNonzeroFloat32)
		for _, v := range xs {
			for _, x := range []float32{v, -v} {
				if got, want := mxfp4Nearest(x, 2/d), mxfp4Code(&scaled, x); got != want {
					t.Fatalf("e=%d x=%g: code %d, ggml's search gives %d", e, x, got, want)
				}
			}
		}
	}
}

// TestMXFP4Exponent checks the exponent shortcut against log2f (the
// float64 logarithm rounded to float32) on every binade, at and around the
// mantissas where the shortcut hands over, and on subnormals.
func TestMXFP4Exponent(t *testing.T) {
	slow := func(a float32) uint8 {
		l := float32(math.Log2(float64(a)))
		return uint8(int32(float32(float32(math.Floor(float64(l)))-2) + 127))
	}
	r := rand.New(rand.NewPCG(7, 8))
	for exp := uint32(0); exp < 255; exp++ {
		for _, mant := range []uint32{0, 1, 0x400000, 0x7fdfff, 0x7fe000, 0x7ffffe, 0x7fffff, r.Uint32() & 0x7fffff} {
			a := math.Float32frombits(exp<<23 | mant)
			if a == 0 {
				continue
			}
			if got, want := mxfp4Exponent(a), slow(a); got != want {
				t.Fatalf("amax %g (%#08x): exponent %d, log2f gives %d", a, math.Float32bits(a), got, want)
			}
		}
	}
	if mxfp4Exponent(0) != 0 {
		t.Error("a zero block has a non-zero exponent")
	}
}

// TestTernaryTrits compares the ternary rounding with lroundf(x·id)+1,
// d and id computed by C's MAX loop, on blocks with halves, values next to
// them, zeros, a NaN, an infinity and a scale whose reciprocal overflows.
func TestTernaryTrits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var blocks [][256]float32
	half := func(d float32) (b [256]float32) {
		for i := range b {
			v := []float32{d, d / 2, math.Nextafter32(d/2, 0), math.Nextafter32(d/2, d), 0, float32(r.NormFloat64()) * d / 3}[i%6]
			if i%5 == 0 {
				v = -v
			}
			b[i] = v
		}
		return b
	}
	for _, d := range []float32{1, 0.02, 3e4, 1e-30, 1e-39, 1e-45} {
		blocks = append(blocks, half(d))
	}
	nan, inf := half(1), half(1)
	nan[17] = float32(math.NaN())
	inf[40] = float32(math.Inf(-1))
	blocks = append(blocks, nan, inf, [256]float32{})
	var got [256]uint8
	for n, x := range blocks {
		d := ternaryTrits(&x, &got)
		wantD := cAbsMax(x[:])
		var id float32
		if wantD != 0 {
			id = 1 / wantD
		}
		if math.Float32bits(d) != math.Float32bits(wantD) {
			t.Fatalf("block %d: d = %g, C's loop gives %g", n, d, wantD)
		}
		for i, v := range x {
			if want := uint8(int64(math.Round(float64(v*id))) + 1); got[i] != want {
				t.Fatalf("block %d element %d (%g, id %g): trit %d, lroundf gives %d", n, i, v, id, got[i], want)
			}
		}
	}
}

// TestMXFP4CodesLanes checks the SIMD code search of a block against
// mxfp4Nearest value by value, for every exponent it is used with, on
// blocks of values at, next to and between the levels and midpoints, with
// zeros, NaNs and both signs mixed in.
func TestMXFP4CodesLanes(t *testing.T) {
	if !simdGridLanes {
		t.Skip("no SIMD MXFP4 search on this CPU")
	}
	r := rand.New(rand.NewPCG(7, 8))
	var x [32]float32
	var got [16]byte
	for e := 2; e <= 252; e++ {
		d := e8m0Half(uint8(e))
		inv2 := 2 / d
		for range 40 {
			for j := range x {
				var v float32
				switch r.IntN(6) {
				case 0:
					v = float32(r.IntN(64)) * 0.25 * d
				case 1:
					v = math.Nextafter32(float32(r.IntN(64))*0.25*d, 0)
				case 2:
					v = math.Nextafter32(float32(r.IntN(64))*0.25*d, float32(math.Inf(1)))
				case 3:
					v = [...]float32{0, float32(math.NaN()), math.SmallestNonzeroFloat32}[r.IntN(3)]
				default:
					v = float32(r.Float64()*16) * d
				}
				if r.IntN(2) == 0 {
					v = -v
				}
				x[j] = v
			}
			mxfp4CodesLanes(&x, inv2, &got)
			for j := range 16 {
				want := mxfp4Nearest(x[j], inv2) | mxfp4Nearest(x[j+16], inv2)<<4
				if got[j] != want {
					t.Fatalf("e=%d byte %d (values %g, %g): SIMD %#x, scalar %#x", e, j, x[j], x[j+16], got[j], want)
				}
			}
		}
	}
}

// TestTernaryTritsLanes checks the SIMD rounding of a ternary block against
// the scalar loop, on blocks of values at, next to and between ±0.5·d and
// ±d, zeros of both signs and tiny values.
func TestTernaryTritsLanes(t *testing.T) {
	if !simdGridLanes {
		t.Skip("no SIMD ternary rounding on this CPU")
	}
	r := rand.New(rand.NewPCG(9, 10))
	var x [256]float32
	for round := range 4000 {
		scale := float32(math.Ldexp(1, r.IntN(200)-100))
		for j := range x {
			var v float32
			switch r.IntN(6) {
			case 0:
				v = scale * 0.5
			case 1:
				v = math.Nextafter32(scale*0.5, float32(r.IntN(2)*2-1))
			case 2:
				v = [...]float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32}[r.IntN(3)]
			default:
				v = float32(r.NormFloat64()) * scale
			}
			if r.IntN(2) == 0 {
				v = -v
			}
			x[j] = v
		}
		x[r.IntN(256)] = scale * float32(1+r.IntN(2)) // the largest magnitude: d = scale or 2·scale
		var simd, scalar [256]uint8
		restore := useNeighbourPath(true)
		ds := ternaryTrits(&x, &simd)
		useNeighbourPath(false)
		dg := ternaryTrits(&x, &scalar)
		restore()
		if ds != dg || simd != scalar {
			t.Fatalf("round %d: SIMD trits differ from the scalar loop's (d %g, %g)", round, ds, dg)
		}
	}
}
