package intq

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// Helpers here decode safetensors dtypes from their definitions, without
// the package's own converters, so the layout tests check the package
// against an independent reading of the bytes.

func u32At(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
func i32At(b []byte, i int) int32  { return int32(binary.LittleEndian.Uint32(b[4*i:])) }
func i64At(b []byte, i int) int64  { return int64(binary.LittleEndian.Uint64(b[8*i:])) }

// floatAt reads element i of a BF16, F16 or F32 tensor.
func floatAt(t *testing.T, dtype string, b []byte, i int) float32 {
	t.Helper()
	switch dtype {
	case "BF16":
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
	case "F16":
		return float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
	case "F32":
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	t.Fatalf("unexpected dtype %q", dtype)
	return 0
}

// refBF16 rounds to the nearer bfloat16 neighbour, ties to even, by
// measuring both distances in float64.
func refBF16(x float32) float32 {
	b := math.Float32bits(x)
	lo := math.Float32frombits(b &^ 0xffff)
	hi := math.Float32frombits((b &^ 0xffff) + 0x10000)
	dlo := math.Abs(float64(x) - float64(lo))
	dhi := math.Abs(float64(x) - float64(hi))
	if dlo < dhi || dlo == dhi && (b>>16)&1 == 0 {
		return lo
	}
	return hi
}

// tensorMap indexes tensors by suffix and checks each one's byte length.
func tensorMap(t *testing.T, stored []Stored) map[string]Stored {
	t.Helper()
	size := map[string]int{"I32": 4, "U32": 4, "I64": 8, "F16": 2, "BF16": 2, "F32": 4}
	m := map[string]Stored{}
	for _, s := range stored {
		n := int64(1)
		for _, d := range s.Shape {
			n *= d
		}
		if int64(len(s.Data)) != n*int64(size[s.DType]) {
			t.Fatalf("%s: %d bytes for %s %v", s.Suffix, len(s.Data), s.DType, s.Shape)
		}
		m[s.Suffix] = s
	}
	return m
}

func wantTensor(t *testing.T, m map[string]Stored, suffix, dtype string, shape ...int64) Stored {
	t.Helper()
	s, ok := m[suffix]
	if !ok {
		t.Fatalf("tensor %q missing", suffix)
	}
	if s.DType != dtype || !equalShape(s.Shape, shape) {
		t.Fatalf("tensor %q is %s %v, want %s %v", suffix, s.DType, s.Shape, dtype, shape)
	}
	return s
}

// testMatrix returns an out×in weight in bfloat16 precision, like real
// checkpoints, with rows 0..5 made of the cases that test the corners:
// zeros, all positive, all negative, a constant, tiny values and exact
// half steps.
func testMatrix(out, in int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	w := make([]float32, out*in)
	for i := range w {
		v := float32(r.NormFloat64() * 0.02)
		switch r.IntN(64) {
		case 0:
			v *= 25
		case 1:
			v = 0
		case 2:
			v = float32(r.IntN(15)-7) * 0.0625
		}
		w[i] = refBF16(v)
	}
	for c := 0; c < in && out > 5; c++ {
		w[0*in+c] = 0
		w[1*in+c] = refBF16(float32(r.Float64()*0.1 + 0.001))
		w[2*in+c] = -refBF16(float32(r.Float64()*0.1 + 0.001))
		w[3*in+c] = 0.5
		w[4*in+c] = float32(r.NormFloat64() * 1e-9)
		w[5*in+c] = float32(c%16-8) * 0.25
	}
	return w
}

// checkStep checks one element against the rounding bound of a uniform
// quantizer: t is x in units of the step, measured from the grid origin,
// and qd the chosen grid index. Inside the grid the error is at most half
// a step; outside it the element sits at the nearer end.
func checkStep(t *testing.T, where string, x, deq float32, step, tt float64, qd, qlo, qhi int) {
	t.Helper()
	step = math.Abs(step)
	switch {
	case tt >= float64(qlo)-0.5 && tt <= float64(qhi)+0.5:
		// Slack for the float32 quotient (and sum with a zero point) and,
		// with F32 scales, the rounded product: far below one step.
		if d := math.Abs(float64(x) - float64(deq)); d > step*(0.5+1e-4) {
			t.Fatalf("%s: x %g deq %g error %g > step/2 %g", where, x, deq, d, step/2)
		}
	case tt < float64(qlo):
		if qd != qlo {
			t.Fatalf("%s: x %g below the grid but q %d, want %d", where, x, qd, qlo)
		}
	default:
		if qd != qhi {
			t.Fatalf("%s: x %g above the grid but q %d, want %d", where, x, qd, qhi)
		}
	}
}

func sameFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func sameTensors(t *testing.T, a, b []Stored) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d tensors vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Suffix != b[i].Suffix || a[i].DType != b[i].DType || !equalShape(a[i].Shape, b[i].Shape) || string(a[i].Data) != string(b[i].Data) {
			t.Fatalf("tensor %d (%s) differs", i, a[i].Suffix)
		}
	}
}
