package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// simdPath is one way the quantizers can run: which lane kernels and
// which legacy block kernels they use.
type simdPath struct {
	name   string
	lanes  laneKernels
	legacy legacyKernels
}

// lanePaths are the ways the quantizers can run on this machine: scalar,
// the side-by-side fits with the Go lane kernels, and the SIMD kernels
// when the CPU has them.
func lanePaths() []simdPath {
	paths := []simdPath{{name: "scalar"}, {name: "go-lanes", lanes: goLaneKernels}}
	if simdLanes.qkx2Sums != nil {
		paths = append(paths, simdPath{"simd", simdLanes, simdLegacy})
	}
	return paths
}

// use makes the quantizers run on path p and returns a function that
// restores the previous setting.
func (p simdPath) use() (restore func()) {
	wasLanes, wasLegacy := lanes, legacy
	lanes, legacy = p.lanes, p.legacy
	return func() { lanes, legacy = wasLanes, wasLegacy }
}

// Every golden through every path.
func TestGoldenEveryPath(t *testing.T) {
	for _, p := range lanePaths() {
		t.Run(p.name, func(t *testing.T) {
			t.Cleanup(p.use())
			TestGolden(t)
			TestKGolden(t)
			TestWeightedGolden(t)
		})
	}
}

// laneTestValue draws one value of a kind of lane data: ordinary,
// ties on the rounding grid, zeros, subnormals, huge, or mixed.
func laneTestValue(r *rand.Rand, kind int) float32 {
	switch kind {
	case 0:
		return float32(r.NormFloat64())
	case 1:
		return float32(r.IntN(33)-16) * 0.5
	case 2:
		return 0
	case 3:
		return float32(r.NormFloat64()) * 1e-40
	case 4:
		return float32(r.NormFloat64()) * 1e30
	default:
		switch r.IntN(5) {
		case 0:
			return 0
		case 1:
			return float32(r.IntN(9) - 4)
		case 2:
			return float32(r.NormFloat64()) * 1e-39
		default:
			return float32(r.NormFloat64() * math.Pow(10, r.Float64()*12-6))
		}
	}
}

func laneTestScalars(r *rand.Rand, kind int) (v [16]float32) {
	for j := range v {
		v[j] = laneTestValue(r, kind)
		if r.IntN(4) == 0 {
			v[j] = float32(r.Float64() * 40)
		}
	}
	return v
}

// The SIMD lane kernels are bit-identical to the Go ones on random and
// adversarial data, every lane count and clamp range used.
func TestLaneKernelsMatchGo(t *testing.T) {
	if simdLanes.qkx2Sums == nil {
		t.Skip("no SIMD lane kernels on this machine")
	}
	r := rand.New(rand.NewPCG(13, 17))
	var x, w, wx [32 * laneCount]float32
	for iter := range 4000 {
		kind := iter % 6
		n := []int{16, 32, 1, 7}[iter/6%4]
		for i := range x {
			x[i] = laneTestValue(r, kind)
			w[i] = abs32(laneTestValue(r, kind))
			wx[i] = float32(w[i] * x[i])
		}
		if iter%11 == 0 {
			// Signed zeros and NaNs, for the C min and max loops.
			for range 8 {
				x[r.IntN(len(x))] = []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN())}[r.IntN(3)]
			}
		}
		is, mn, s, m := laneTestScalars(r, kind), laneTestScalars(r, kind), laneTestScalars(r, kind), laneTestScalars(r, kind)
		nmax := []int32{3, 15, 31, 4, 32, 8, 16}[iter%7]
		for _, b := range [][16]int32{laneBounds(0, nmax), laneBounds(-nmax, nmax-1)} {
			var got, want [48]float32
			simdLanes.qkx2Sums(x[:], w[:], n, &is, &mn, &b, &got)
			goLaneKernels.qkx2Sums(x[:], w[:], n, &is, &mn, &b, &want)
			sameBits(t, "qkx2Sums", iter, got[:], want[:])

			var gr, wr [64]float32
			simdLanes.qkx2Range(x[:], w[:], n, &gr)
			goLaneKernels.qkx2Range(x[:], w[:], n, &wr)
			sameBits(t, "qkx2Range", iter, gr[:], wr[:])

			var ge, we [16]float32
			simdLanes.qkx2Err(x[:], w[:], n, &is, &mn, &s, &m, &b, &ge)
			goLaneKernels.qkx2Err(x[:], w[:], n, &is, &mn, &s, &m, &b, &we)
			sameBits(t, "qkx2Err", iter, ge[:], we[:])
			simdLanes.qkx2Mad(x[:], w[:], n, &is, &mn, &s, &m, &b, &ge)
			goLaneKernels.qkx2Mad(x[:], w[:], n, &is, &mn, &s, &m, &b, &we)
			sameBits(t, "qkx2Mad", iter, ge[:], we[:])

			var gq, wq [32]float32
			var gcodes, wcodes [32 * laneCount]float32
			simdLanes.qxSums(x[:], w[:], wx[:], n, &is, &b, &gq, gcodes[:])
			goLaneKernels.qxSums(x[:], w[:], wx[:], n, &is, &b, &wq, wcodes[:])
			sameBits(t, "qxSums", iter, gq[:], wq[:])
			sameBits(t, "qxSums codes", iter, gcodes[:], wcodes[:])

			// A pass of makeQ3 from codes and sums that may or may not
			// match the values.
			var gl, wl [32 * laneCount]float32
			for i := range gl {
				gl[i] = float32(max(b[0], min(b[8], int32(r.IntN(9)-4))))
			}
			wl = gl
			gs, ws := gq, gq
			gc := simdLanes.q3Pass(x[:], w[:], wx[:], gl[:], n, &b, &gs)
			wc := goLaneKernels.q3Pass(x[:], w[:], wx[:], wl[:], n, &b, &ws)
			sameBits(t, "q3Pass codes", iter, gl[:], wl[:])
			sameBits(t, "q3Pass sums", iter, gs[:], ws[:])
			if gc != wc {
				t.Fatalf("q3Pass iter %d: changed %v, want %v", iter, gc, wc)
			}
		}
	}
}

func sameBits(t *testing.T, what string, iter int, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s iter %d: lane %d: got %g (%#08x), want %g (%#08x)",
				what, iter, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// The quantizers give the same bytes on every path, on blocks of every
// test kind mixed in one row, including a row with an odd block count.
func TestQuantizeEveryPathAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 23))
	iters := 400
	if testing.Short() {
		iters = 60
	}
	types := []ggml.Type{ggml.Q2_K, ggml.Q3_K, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.Q4_0, ggml.Q8_0, ggml.Q4_1, ggml.Q5_0, ggml.Q5_1, ggml.F16, ggml.BF16}
	paths := lanePaths()
	for iter := range iters {
		blocks := 1 + iter%5
		src := make([]float32, 256*blocks)
		for b := range blocks {
			kTestBlock(r, (iter*5+b)%kTestKinds, (*[256]float32)(src[256*b:]))
		}
		if iter%3 == 0 {
			// Values only the legacy types meet finite-checked: NaN, ±Inf,
			// signed zeros at the extremes of a block.
			for range 1 + r.IntN(4) {
				src[r.IntN(len(src))] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0, math.MaxFloat32, -math.MaxFloat32}[r.IntN(7)]
			}
		}
		qw := make([]float32, len(src))
		for i := range qw {
			qw[i] = abs32(laneTestValue(r, iter%6)) + float32(r.Float64())
		}
		for _, typ := range types {
			size, _ := typ.RowSize(int64(len(src)))
			var want []byte
			for _, p := range paths {
				got := make([]byte, size)
				restore := p.use()
				kernels[typ].quantize(src, got)
				if qz := kernels[typ].quantizeWeighted; qz != nil {
					wq := make([]byte, size)
					qz(src, wq, qw)
					got = append(got, wq...)
				}
				restore()
				if want == nil {
					want = got
				} else if !bytes.Equal(got, want) {
					t.Fatalf("%s iter %d (%d blocks): %s path differs from %s", typ, iter, blocks, p.name, paths[0].name)
				}
			}
		}
	}
}

// The SIMD float16 and bfloat16 conversions agree with the scalar ones on
// a spread of every float32 bit pattern (both signs, every exponent, NaN
// payloads, subnormals, the rounding boundaries), at every offset of a
// row whose length is not a multiple of the vector width.
func TestFloatConversionsEveryPath(t *testing.T) {
	var src []float32
	for u := uint64(0); u < 1<<32; u += 65521 {
		for _, d := range []uint32{0, 1, 0xfff, 0x1000, 0x1001, 0x7fff, 0x8000, 0x8001} {
			src = append(src, math.Float32frombits(uint32(u)^d))
		}
	}
	src = append(src, 65504, 65519.996, 65520, 6.1035156e-05, 6.1035153e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08)
	src = src[:len(src)-len(src)%16+7]
	for _, p := range lanePaths() {
		restore := p.use()
		f16 := make([]byte, 2*len(src))
		bf16 := make([]byte, 2*len(src))
		encodeF16(src, f16)
		encodeBF16(src, bf16)
		restore()
		for i, v := range src {
			if got, want := binary.LittleEndian.Uint16(f16[2*i:]), F32ToF16(v); got != want {
				t.Fatalf("%s: F16 of %#08x: got %#04x, want %#04x", p.name, math.Float32bits(v), got, want)
			}
			if got, want := binary.LittleEndian.Uint16(bf16[2*i:]), F32ToBF16(v); got != want {
				t.Fatalf("%s: BF16 of %#08x: got %#04x, want %#04x", p.name, math.Float32bits(v), got, want)
			}
		}
	}
}

// requantizeGroups' SIMD kernel agrees with the Go loop, zero, NaN and
// subnormal scales included, for the clamps and biases the K-quants use.
func TestRequantizeGroupsMatchesGo(t *testing.T) {
	if !simdLegacy.requant {
		t.Skip("no SIMD kernel on this machine")
	}
	r := rand.New(rand.NewPCG(29, 31))
	var x [256]float32
	for iter := range 3000 {
		kind := iter % 6
		for i := range x {
			x[i] = laneTestValue(r, kind)
		}
		var sd, dm [16]float32
		for g := range sd {
			sd[g] = float32(r.NormFloat64()) * float32(math.Pow(10, r.Float64()*6-4))
			switch r.IntN(8) {
			case 0:
				sd[g] = 0
			case 1:
				sd[g] = float32(math.NaN())
			case 2:
				sd[g] = 1e-40
			}
			if r.IntN(2) == 0 {
				dm[g] = laneTestValue(r, kind)
			}
		}
		for _, c := range []struct{ lo, hi, bias int32 }{{0, 3, 0}, {0, 15, 0}, {0, 31, 0}, {-4, 3, 4}, {-32, 31, 32}} {
			var got, want [256]uint8
			var goti, wanti [256]int8
			for i := range got {
				got[i] = uint8(r.IntN(256))
				goti[i] = int8(got[i])
			}
			want, wanti = got, goti
			requantizeGroups(&x, &sd, &dm, c.lo, c.hi, c.bias, &got)
			requantizeGroupsGo(&x, &sd, &dm, c.lo, c.hi, c.bias, &want)
			requantizeGroups(&x, &sd, &dm, c.lo, c.hi, c.bias, &goti)
			requantizeGroupsGo(&x, &sd, &dm, c.lo, c.hi, c.bias, &wanti)
			if got != want || goti != wanti {
				t.Fatalf("iter %d clamp %v: SIMD differs from Go\n got  %v\n want %v", iter, c, got, want)
			}
		}
	}
}

// The SIMD 32-value block quantizers agree with the scalar ones on blocks
// built to split them: ties in magnitude of either sign, signed zeros at
// the extremes, constant blocks, subnormal and huge scales, NaN and ±Inf
// at every position.
func TestLegacyKernelsMatchScalar(t *testing.T) {
	if simdLegacy.q40 == nil {
		t.Skip("no SIMD kernels on this machine")
	}
	kinds := []struct {
		typ          ggml.Type
		simd, scalar func(src []float32, dst []byte)
	}{
		{ggml.Q4_0, quantizeQ4_0, quantizeQ4_0Go},
		{ggml.Q5_0, quantizeQ5_0, quantizeQ5_0Go},
		{ggml.Q4_1, quantizeQ4_1, quantizeQ4_1Go},
		{ggml.Q5_1, quantizeQ5_1, quantizeQ5_1Go},
		{ggml.Q8_0, quantizeQ8_0, quantizeQ8_0Go},
	}
	r := rand.New(rand.NewPCG(37, 41))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-38, -1e-38}
	src := make([]float32, 32*70)
	for iter := range 400 {
		for b := range len(src) / 32 {
			x := src[32*b : 32*b+32]
			mag := float32(math.Pow(10, r.Float64()*76-38))
			switch (iter + b) % 7 {
			case 0: // one magnitude, random signs: ties for the extreme
				for i := range x {
					x[i] = mag * float32(1-2*r.IntN(2))
				}
			case 1: // small integers
				for i := range x {
					x[i] = float32(r.IntN(9) - 4)
				}
			case 2: // constant
				for i := range x {
					x[i] = mag
				}
			case 3: // one-signed with a zero extreme
				for i := range x {
					x[i] = mag * r.Float32()
				}
				x[r.IntN(32)] = special[r.IntN(2)]
			default:
				for i := range x {
					x[i] = float32(r.NormFloat64()) * mag
				}
			}
			if (iter+b)%5 == 0 {
				x[r.IntN(32)] = special[r.IntN(len(special))]
			}
		}
		for _, k := range kinds {
			size, _ := k.typ.RowSize(int64(len(src)))
			got, want := make([]byte, size), make([]byte, size)
			k.simd(src, got)
			k.scalar(src, want)
			if i := firstByteDiff(got, want); i >= 0 {
				bs := k.typ.TypeSize()
				t.Fatalf("%s iter %d block %d: SIMD % x, scalar % x (input %v)", k.typ, iter, i/bs,
					goldenBlockAt(got, i/bs, bs), goldenBlockAt(want, i/bs, bs), src[32*(i/bs):32*(i/bs)+32])
			}
		}
	}
}
