package quant

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// propCols is the row length used by the property tests: one K-quant super
// block, eight legacy blocks.
const propCols = 256

func TestSupportedTypesComplete(t *testing.T) {
	got := SupportedTypes()
	want := []ggml.Type{
		ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1,
		ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K,
		ggml.IQ4_NL, ggml.IQ4_XS, ggml.MXFP4, ggml.TQ1_0, ggml.TQ2_0,
	}
	want = append(want, iqGridTypes...)
	for _, typ := range want {
		if !slices.Contains(got, typ) {
			t.Errorf("SupportedTypes() = %v lacks %s", got, typ)
		}
		if !Supported(typ) {
			t.Errorf("Supported(%s) = false", typ)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("SupportedTypes() = %v, not in id order", got)
	}
	for _, typ := range []ggml.Type{ggml.Q8_1, ggml.Type(1000)} {
		if Supported(typ) {
			t.Errorf("Supported(%s) = true", typ)
		}
	}
}

// kBound describes the K-quants' tolerance. Their scales come from a
// least-squares search whose only firm promise is a low total error, so
// no per-element worst case follows from the algorithm. The tolerance is an
// empirical envelope instead: with step = (max(x,0)-min(x,0))/(2^bits-1)
// for the types with a min, or max|x|/2^(bits-1) for the symmetric ones,
// ggml's reference quantizers stayed within 1.23 steps over 40,000 random
// super-blocks per type, of nine shapes (normal, offset, heavy-tailed,
// one-signed, sub-blocks of wildly different scale). The test allows 2
// steps: a scale search gone wrong (or a misread scale) exceeds that.
var kBound = map[ggml.Type]struct {
	bits      int
	symmetric bool
}{
	ggml.Q2_K: {2, false},
	ggml.Q3_K: {3, true},
	ggml.Q4_K: {4, false},
	ggml.Q5_K: {5, false},
	ggml.Q6_K: {6, true},
	ggml.Q8_K: {8, true},
}

const kBoundSteps = 2

// blockTolerance returns the largest |x - x̂| each element of one block x
// may show after a round trip through typ, given the block's encoding enc.
// The legacy bounds are exact consequences of ggml's algorithms: half a
// step (a whole step where Q4_0/Q5_0 clamp the code opposite the max),
// plus what rounding the scale (and min) to float16 can add.
func blockTolerance(typ ggml.Type, x []float32, enc []byte) ([]float64, error) {
	tol := make([]float64, len(x))
	var amax, vmax, lo, hi float64
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range x {
		f := float64(v)
		if math.Abs(f) > amax {
			amax, vmax = math.Abs(f), f
		}
		lo, hi = min(lo, f), max(hi, f)
	}
	// Room for float32 rounding of the multiplier, codes and products.
	eps := 1e-6 * amax
	h16 := func(off int) float64 { return float64(F16ToF32(binary.LittleEndian.Uint16(enc[off:]))) }

	switch typ {
	case ggml.F32:
		// exact: tolerance 0
	case ggml.F16:
		for i, v := range x {
			tol[i] = max(math.Abs(float64(v))*0x1p-11, 0x1p-25)
		}
	case ggml.BF16:
		for i, v := range x {
			tol[i] = math.Abs(float64(v))*0x1p-8 + 0x1p-134
		}
	case ggml.Q8_0:
		d := amax / 127
		b := d/2 + 127*math.Abs(d-h16(0)) + eps
		for i := range tol {
			tol[i] = b
		}
	case ggml.Q4_0, ggml.Q5_0:
		half := 8.0
		if typ == ggml.Q5_0 {
			half = 16
		}
		d := vmax / -half
		fp := half * math.Abs(d-h16(0))
		for i, v := range x {
			step := math.Abs(d) / 2
			if d != 0 && float64(v)/d > half-0.5 { // code clamped to 2·half-1
				step = math.Abs(d)
			}
			tol[i] = step + fp + eps
		}
	case ggml.Q4_1, ggml.Q5_1:
		levels := 15.0
		if typ == ggml.Q5_1 {
			levels = 31
		}
		d := (hi - lo) / levels
		b := d/2 + levels*math.Abs(d-h16(0)) + math.Abs(lo-h16(2)) + eps + 1e-6*math.Abs(lo)
		for i := range tol {
			tol[i] = b
		}
	case ggml.IQ4_NL, ggml.IQ4_XS, ggml.MXFP4, ggml.TQ1_0, ggml.TQ2_0:
		lowBitTolerance(typ, x, enc, tol, eps)
	default:
		kb, ok := kBound[typ]
		if !ok {
			return nil, fmt.Errorf("no round-trip tolerance defined for %s", typ)
		}
		step := (max(hi, 0) - min(lo, 0)) / float64(int(1)<<kb.bits-1)
		if kb.symmetric {
			step = amax / float64(int(1)<<(kb.bits-1))
		}
		for i := range tol {
			tol[i] = kBoundSteps*step + eps
		}
	}
	return tol, nil
}

// checkRoundTrip quantizes rows of propCols elements and checks every
// block of the dequantization against blockTolerance.
func checkRoundTrip(t *testing.T, typ ggml.Type, x []float32) {
	t.Helper()
	rowBytes, err := typ.RowSize(propCols)
	if err != nil {
		t.Fatal(err)
	}
	enc := make([]byte, int64(len(x)/propCols)*rowBytes)
	if err := QuantizeRows(typ, x, propCols, enc, 1); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	if err := DequantizeRows(typ, enc, propCols, y, 1); err != nil {
		t.Fatal(err)
	}
	// Tolerances are per block; F32/F16/BF16 use one 256-element stretch.
	bs, ts := typ.BlockSize(), typ.TypeSize()
	if bs == 1 {
		bs, ts = propCols, propCols*ts
	}
	for b := 0; b < len(x)/bs; b++ {
		xb, yb := x[b*bs:][:bs], y[b*bs:][:bs]
		tol, err := blockTolerance(typ, xb, enc[b*ts:][:ts])
		if err != nil {
			t.Fatal(err)
		}
		for i := range xb {
			if e := math.Abs(float64(xb[i]) - float64(yb[i])); !(e <= tol[i]) {
				t.Fatalf("block %d element %d: x=%g x̂=%g, error %g > tolerance %g", b, i, xb[i], yb[i], e, tol[i])
			}
		}
	}
}

type genFunc func(r *rand.Rand, i int) float32

var roundTripInputs = []struct {
	name string
	gen  genFunc
}{
	{"normal", func(r *rand.Rand, _ int) float32 { return float32(r.NormFloat64()) }},
	{"weights", func(r *rand.Rand, _ int) float32 { return float32(r.NormFloat64() * 0.02) }},
	{"offset", func(r *rand.Rand, _ int) float32 { return float32(r.NormFloat64()*0.01 + 0.05) }},
	{"negative", func(r *rand.Rand, _ int) float32 { return -float32(r.ExpFloat64()) }},
	{"heavy-tailed", func(r *rand.Rand, _ int) float32 {
		return float32(r.NormFloat64() * math.Exp(2*r.NormFloat64()))
	}},
	{"uniform", func(r *rand.Rand, _ int) float32 { return float32(r.Float64()*3 - 1) }},
	{"sub-block-scales", func(r *rand.Rand, i int) float32 {
		// Each 16-element sub-block has its own magnitude, 1 to 1e-4.
		return float32(r.NormFloat64() * math.Pow(10, -float64(i/16%5)))
	}},
	{"outliers", func(r *rand.Rand, _ int) float32 {
		v := r.NormFloat64() * 0.02
		if r.IntN(64) == 0 {
			v *= 30
		}
		return float32(v)
	}},
}

func genRows(rows int, seed uint64, gen genFunc) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, rows*propCols)
	for i := range x {
		x[i] = gen(r, i)
	}
	return x
}

func TestRoundTripBound(t *testing.T) {
	for _, typ := range SupportedTypes() {
		if iqGridType(typ) {
			continue // no per-element bound: iq_property_test.go
		}
		for k, in := range roundTripInputs {
			t.Run(typ.String()+"/"+in.name, func(t *testing.T) {
				checkRoundTrip(t, typ, genRows(64, uint64(k), in.gen))
			})
		}
	}
}

// specialBlock builds one propCols-element row.
func specialBlock(f func(i int) float32) []float32 {
	x := make([]float32, propCols)
	for i := range x {
		x[i] = f(i)
	}
	return x
}

func roundTrip(t *testing.T, typ ggml.Type, x []float32) ([]byte, []float32) {
	t.Helper()
	size, err := typ.RowSize(int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	enc := make([]byte, size)
	if err := quantizeOneRow(typ, x, enc); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	if err := Dequantize(typ, enc, y); err != nil {
		t.Fatal(err)
	}
	return enc, y
}

func TestSpecialBlocks(t *testing.T) {
	for _, typ := range SupportedTypes() {
		if iqGridType(typ) {
			continue // their grids have no zero: iq_property_test.go
		}
		t.Run(typ.String(), func(t *testing.T) {
			t.Run("zero", func(t *testing.T) {
				_, y := roundTrip(t, typ, make([]float32, propCols))
				for i, v := range y {
					if v != 0 {
						t.Fatalf("element %d: got %g, want 0", i, v)
					}
				}
			})
			for _, c := range []float32{1.25, -1.25, 1e-3, -7, 3e4} {
				t.Run(fmt.Sprintf("constant%g", c), func(t *testing.T) {
					checkRoundTrip(t, typ, specialBlock(func(int) float32 { return c }))
				})
			}
			t.Run("outlier", func(t *testing.T) {
				x := specialBlock(func(i int) float32 {
					if i == 37 {
						return 50
					}
					return 0
				})
				checkRoundTrip(t, typ, x)
				_, y := roundTrip(t, typ, x)
				for i, v := range y {
					if i != 37 && v != 0 && (hasZeroLevel(typ) || i/32 != 37/32) {
						t.Fatalf("element %d: zero came back as %g", i, v)
					}
				}
			})
			t.Run("integers", func(t *testing.T) {
				checkRoundTrip(t, typ, specialBlock(func(i int) float32 { return float32(i%16 - 8) }))
			})
			t.Run("subnormal", func(t *testing.T) {
				// float32 subnormals: every scale underflows float16, so
				// the block may flush to zero, but nothing may blow up.
				x := specialBlock(func(i int) float32 { return float32(i%7-3) * 1e-40 })
				_, y := roundTrip(t, typ, x)
				for i := range x {
					if e := math.Abs(float64(x[i] - y[i])); !(e <= 4e-40) {
						t.Fatalf("element %d: x=%g x̂=%g", i, x[i], y[i])
					}
				}
			})
			t.Run("large", func(t *testing.T) { checkLarge(t, typ) })
			t.Run("nan", func(t *testing.T) {
				x := specialBlock(func(i int) float32 { return float32(i%5) - 2 })
				x[9] = float32(math.NaN())
				_, y := roundTrip(t, typ, x) // must not panic
				if !typ.IsQuantized() && !math.IsNaN(float64(y[9])) {
					t.Fatalf("NaN came back as %g", y[9])
				}
			})
		})
	}
}

// checkLarge documents what 1e30 does. F32 and BF16 keep it, and so does
// MXFP4 (its scale is an 8-bit exponent); F16 cannot (CheckF16Range flags
// it up front). Q3_K, Q6_K and IQ4_XS weight their scale search by x²,
// which overflows float32, so ggml's search yields a NaN scale and the
// block is stored as zeros: silent, and only the error metrics reveal it. Every other type overflows its float16 scale to Inf,
// as ggml does, which shows as non-finite dequantized values (ggml's row
// validation rejects such rows).
func checkLarge(t *testing.T, typ ggml.Type) {
	x := specialBlock(func(i int) float32 { return float32(i%3-1) * 1e30 })
	if i, ok := CheckF16Range(x); ok || i != 0 {
		t.Fatalf("CheckF16Range = %d, %v; want 0, false", i, ok)
	}
	_, y := roundTrip(t, typ, x)
	_, finite := FindNonFinite(y)
	switch typ {
	case ggml.F32, ggml.BF16, ggml.MXFP4:
		checkRoundTrip(t, typ, x)
	case ggml.F16:
		if !math.IsInf(float64(y[0]), -1) || y[1] != 0 || !math.IsInf(float64(y[2]), 1) {
			t.Fatalf("F16 of -1e30, 0, 1e30 = %g, %g, %g; want -Inf, 0, +Inf", y[0], y[1], y[2])
		}
	case ggml.Q3_K, ggml.Q6_K, ggml.IQ4_XS:
		for i, v := range y {
			if v != 0 {
				t.Fatalf("element %d: got %g, want the zeroed block ggml stores", i, v)
			}
		}
	default:
		if finite {
			t.Fatalf("float16 scale of a 1e30 block did not overflow: %g ...", y[:4])
		}
	}
}

func TestWrongLengths(t *testing.T) {
	for _, typ := range SupportedTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			bs := typ.BlockSize()
			n := 2 * bs
			size := int(2 * int64(typ.TypeSize()))
			src, dst := make([]float32, n), make([]byte, size)
			if err := quantizeOneRow(typ, src, dst); err != nil {
				t.Fatalf("valid lengths: %v", err)
			}
			if err := Dequantize(typ, dst, src); err != nil {
				t.Fatalf("valid lengths: %v", err)
			}
			bad := []struct {
				name string
				err  error
			}{
				{"quantize dst short", Quantize(typ, src, dst[:size-1])},
				{"quantize dst long", Quantize(typ, src, make([]byte, size+1))},
				{"dequantize src short", Dequantize(typ, dst[:size-1], src)},
				{"dequantize src long", Dequantize(typ, make([]byte, size+1), src)},
				{"rows: zero row length", QuantizeRows(typ, src, 0, dst, 1)},
				{"rows: negative row length", DequantizeRows(typ, dst, -bs, src, 1)},
				{"rows: dst short", QuantizeRows(typ, src, bs, dst[:size-1], 2)},
				{"rows: src short", DequantizeRows(typ, dst[:size-1], bs, src, 2)},
				{"rows: partial row", QuantizeRows(typ, src[:n-1], bs, dst, 1)},
			}
			if bs > 1 {
				bad = append(bad, []struct {
					name string
					err  error
				}{
					{"quantize partial block", Quantize(typ, src[:n-1], dst)},
					{"dequantize partial block", Dequantize(typ, dst, src[:n-1])},
					{"rows: row not whole blocks", QuantizeRows(typ, src, n/2+1, dst, 1)},
					{"dequantize rows: row not whole blocks", DequantizeRows(typ, dst, n/2+1, src, 1)},
				}...)
			}
			for _, c := range bad {
				if c.err == nil {
					t.Errorf("%s: no error", c.name)
				}
			}
		})
	}
	for _, typ := range []ggml.Type{ggml.IQ2_XXS, ggml.Type(1000)} {
		if err := Quantize(typ, make([]float32, 256), make([]byte, 1024)); err == nil {
			t.Errorf("Quantize(%s): no error", typ)
		}
		if err := DequantizeRows(typ, make([]byte, 1024), 256, make([]float32, 256), 1); err == nil {
			t.Errorf("DequantizeRows(%s): no error", typ)
		}
	}
}

func TestRowsDeterministic(t *testing.T) {
	const rows = 37 // not a multiple of any worker count tried
	x := genRows(rows, 99, roundTripInputs[7].gen)
	for _, typ := range SupportedTypes() {
		t.Run(typ.String(), func(t *testing.T) {
			want, wantDeq := roundTrip(t, typ, x)
			for w := range 9 { // 0 = GOMAXPROCS
				got := make([]byte, len(want))
				if err := QuantizeRowsWeighted(typ, x, propCols, unitWeights(typ, propCols), got, w); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("workers=%d: bytes differ from a single Quantize call", w)
				}
				deq := make([]float32, len(x))
				if err := DequantizeRows(typ, got, propCols, deq, w); err != nil {
					t.Fatal(err)
				}
				for i := range deq {
					if math.Float32bits(deq[i]) != math.Float32bits(wantDeq[i]) {
						t.Fatalf("workers=%d: dequantized element %d differs", w, i)
					}
				}
			}
		})
	}
	// No rows at all is valid and does nothing.
	if err := QuantizeRows(ggml.Q8_0, nil, 32, nil, 4); err != nil {
		t.Errorf("empty QuantizeRows: %v", err)
	}
}

func TestQ8_1(t *testing.T) {
	x := genRows(4, 5, roundTripInputs[0].gen)
	q8 := make([]byte, len(x)/32*blockQ8_0Len)
	if err := Quantize(ggml.Q8_0, x, q8); err != nil {
		t.Fatal(err)
	}
	q81 := make([]byte, len(x)/32*blockQ8_1Len)
	quantizeQ8_1(x, q81)
	for b := range len(x) / 32 {
		a, c := q8[b*blockQ8_0Len:][:blockQ8_0Len], q81[b*blockQ8_1Len:][:blockQ8_1Len]
		if !bytes.Equal(a[:2], c[:2]) || !bytes.Equal(a[2:], c[4:]) {
			t.Fatalf("block %d: Q8_1 d/qs differ from Q8_0", b)
		}
		var sum int32
		for _, q := range c[4:] {
			sum += int32(int8(q))
		}
		amax := float32(0)
		for _, v := range x[b*32:][:32] {
			amax = max(amax, abs32(v))
		}
		if want := F32ToF16(float32(sum) * (amax / 127)); binary.LittleEndian.Uint16(c[2:]) != want {
			t.Fatalf("block %d: s = %#04x, want %#04x", b, binary.LittleEndian.Uint16(c[2:]), want)
		}
	}
}
