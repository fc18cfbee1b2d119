package forward

import (
	"context"
	"math"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// TestToBF16 checks the rounding on the cases that decide it.
func TestToBF16(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint32
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above the tie
		{0xbf80ffff, 0xbf81}, // negative, rounds away
		{0x7f7fffff, 0x7f80}, // largest float32 rounds to infinity
		{0x7f800000, 0x7f80}, // infinity
		{0xff800000, 0xff80},
		{0x7f800001, 0x7fc0}, // signalling NaN made quiet
		{0xffc12345, 0xffc1},
		{0x00000000, 0x0000},
		{0x80000000, 0x8000},
		{0x007fffff, 0x0000}, // subnormals to zero
		{0x807fffff, 0x8000},
		{0x00800000, 0x0080}, // smallest normal kept
	} {
		if got := toBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("toBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

// refProductBF16 is one output of gemmBF16 computed the slow way, in the
// order gemmBF16 documents.
func refProductBF16(w, x []float32) float32 {
	var total float32
	for k0 := 0; k0 < len(x); k0 += panelLen {
		var acc float32
		for k := k0; k < min(k0+panelLen, len(x)); k += 2 {
			if k+1 < len(x) {
				acc += bf16Value(x[k+1]) * bf16Value(w[k+1])
			}
			acc += bf16Value(x[k]) * bf16Value(w[k])
		}
		total += acc
	}
	return total
}

// bf16Value is f rounded to bfloat16, as float32.
func bf16Value(f float32) float32 { return math.Float32frombits(toBF16(f) << 16) }

// bf16Kernels are the bf16 tile kernels to test: Go, the default and
// each SIMD one this CPU runs.
func bf16Kernels() map[string]func(kp int, x, w []uint32, c []float32) {
	k := map[string]func(kp int, x, w []uint32, c []float32){"go": tileBF16Go, "default": tileBF16}
	for name, f := range simdKernelsBF16() {
		k[name] = f
	}
	return k
}

// TestGemmBF16Order checks every output of gemmBF16 bit for bit against
// refProductBF16, for each kernel, across sizes with partial tiles, odd
// input counts and several panels.
func TestGemmBF16Order(t *testing.T) {
	saved := tileBF16
	defer func() { tileBF16 = saved }()
	r := &rng{s: 19}
	for name, k := range bf16Kernels() {
		tileBF16 = k
		for _, sz := range []struct{ T, out, in int }{
			{1, 1, 1}, {5, 17, 3}, {6, 16, 256}, {7, 33, 257}, {13, 40, 600}, {12, 64, 512},
		} {
			w := r.vec(sz.out*sz.in, 1)
			x := r.matrix(sz.T, sz.in, 1)
			y := newMatrix(sz.T, sz.out)
			gemmBF16(context.Background(), denseWeights{w, sz.in}, sz.out, sz.in, packPairs(x, sz.in), y, 3)
			for t0 := range sz.T {
				for o := range sz.out {
					want := refProductBF16(w[o*sz.in:(o+1)*sz.in], x[t0])
					if y[t0][o] != want {
						t.Fatalf("%s %+v: y[%d][%d] = %g, want %g", name, sz, t0, o, y[t0][o], want)
					}
				}
			}
		}
	}
}

// TestTileBF16Bits runs the SIMD kernels and the Go one on random pairs
// and expects the same sums bit for bit: moderate normal values, then
// subnormal inputs (taken as zero) among tiny ones whose products and
// sums straddle the smallest normal (below it they are flushed to zero).
func TestTileBF16Bits(t *testing.T) {
	r := &rng{s: 53}
	for name, k := range simdKernelsBF16() {
		for _, kp := range []int{1, 3, 128} {
			for trial := range 20 {
				x, w := make([]uint32, kp*tileRows), make([]uint32, kp*tileCols)
				for i := range x {
					x[i] = randomPair(r, trial)
				}
				for i := range w {
					w[i] = randomPair(r, trial)
				}
				want, got := make([]float32, tileRows*tileCols), make([]float32, tileRows*tileCols)
				tileBF16Go(kp, x, w, want)
				k(kp, x, w, got)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s kp %d trial %d: sum %d is %g (%#08x), Go %g (%#08x)", name, kp, trial, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// randomPair draws two bfloat16 values: normal ones of moderate size in
// even trials; in odd ones, subnormals and zeros among normal values
// whose products lie around the smallest normal float32, 2^-126.
func randomPair(r *rng, trial int) uint32 {
	half := func() uint32 {
		v := uint32(r.next() >> 48)
		if trial%2 == 0 {
			return v&0x807f | (0x3c00+v%0x800)&0x7f80 // exponent around 1
		}
		if v%3 == 0 {
			return v & 0x807f // subnormal or zero
		}
		return v&0x807f | (0x2080+v%0x780)&0x7f80 // 2^-70 to 2^-56
	}
	return half() | half()<<16
}

// TestGemmBF16BatchInvariant checks that a token's outputs do not depend
// on the other tokens of its batch nor on the number of workers.
func TestGemmBF16BatchInvariant(t *testing.T) {
	r := &rng{s: 29}
	const out, in, T = 45, 701, 17
	w := r.vec(out*in, 0.1)
	x := r.matrix(T, in, 1)
	all := newMatrix(T, out)
	mul := func(batch, y [][]float32, workers int) {
		gemmBF16(context.Background(), denseWeights{w, in}, out, in, packPairs(batch, in), y, workers)
	}
	mul(x, all, 1)
	for _, workers := range []int{2, 5} {
		y := newMatrix(T, out)
		mul(x, y, workers)
		if d := maxDiff(y, all); d != 0 {
			t.Fatalf("workers %d: differs by %g from one worker", workers, d)
		}
	}
	for t0 := range T {
		for _, batch := range [][][]float32{{x[t0]}, {x[(t0+5)%T], x[t0]}, x[:t0+1]} {
			y := newMatrix(len(batch), out)
			mul(batch, y, 2)
			i := len(batch) - 1
			for o := range out {
				if y[i][o] != all[t0][o] {
					t.Fatalf("token %d in a batch of %d: output %d is %g, alone %g", t0, len(batch), o, y[i][o], all[t0][o])
				}
			}
		}
	}
}

// TestGemmBF16QuantMatrix checks that a matrix kept in its block format
// gives exactly the bf16 products of its dequantized float32 values, BF16
// taken as stored included.
func TestGemmBF16QuantMatrix(t *testing.T) {
	r := &rng{s: 37}
	const T, out, in = 7, 45, 768
	w := r.vec(out*in, 0.05)
	x := r.matrix(T, in, 1)
	for _, typ := range []ggml.Type{ggml.F32, ggml.BF16, ggml.Q8_0, ggml.Q4_K, ggml.Q6_K} {
		q, deq := quantizedMatrix(t, typ, w, out, in)
		want, got := newMatrix(T, out), newMatrix(T, out)
		gemmBF16(context.Background(), denseWeights{deq, in}, out, in, packPairs(x, in), want, 2)
		gemmBF16(context.Background(), q, out, in, packPairs(x, in), got, 3)
		if d := maxDiff(got, want); d != 0 {
			t.Errorf("%s: differs from the dequantized matrix by %g", typ, d)
		}
	}
}

// TestPackPairsPortable checks the SIMD pair layouts against the portable
// loops, for float32 rows (special values included) and BF16 rows, full
// and partial panels.
func TestPackPairsPortable(t *testing.T) {
	if packRows8Pairs == nil && packRows8ToPairs == nil {
		t.Skip("no SIMD pair packing on this CPU")
	}
	r := &rng{s: 43}
	const out, in = 45, 512
	w := r.vec(out*in, 1)
	for i := 0; i < len(w); i += 7 {
		// Every bit pattern: NaNs, infinities, subnormals.
		w[i] = math.Float32frombits(uint32(r.next()))
	}
	q := &QuantMatrix{Type: ggml.BF16, Rows: out, Cols: in, Data: make([]byte, 2*out*in)}
	if err := quant.QuantizeRows(ggml.BF16, r.vec(out*in, 1), in, q.Data, 1); err != nil {
		t.Fatal(err)
	}
	pack := func(bf16 bool, c [4]int) []uint32 {
		wp := make([]uint32, panelLen/2*tileCols)
		if bf16 {
			q.packPairs(wp, nil, c[0], c[1], c[2], c[3])
		} else {
			packPairsPanel(wp, w, in, c[0], c[1], c[2], c[3])
		}
		return wp
	}
	comparePackPaths(t, [][4]int{{0, 32, 0, 256}, {32, 13, 256, 256}, {8, 32, 128, 112}, {0, 32, 256, 255}}, pack, func() func() {
		a, b := packRows8Pairs, packRows8ToPairs
		packRows8Pairs, packRows8ToPairs = nil, nil
		return func() { packRows8Pairs, packRows8ToPairs = a, b }
	})
}

// BenchmarkTileBF16 runs the bf16 tile kernel alone on one panel held in
// the L1 cache: the ceiling of gemmBF16's arithmetic on this CPU.
func BenchmarkTileBF16(b *testing.B) {
	r := &rng{s: 41}
	x, w := make([]uint32, panelLen/2*tileRows), make([]uint32, panelLen/2*tileCols)
	for i := range x {
		x[i] = randomPair(r, 0)
	}
	for i := range w {
		w[i] = randomPair(r, 0)
	}
	c := make([]float32, tileRows*tileCols)
	kernels := bf16Kernels()
	for name, k := range kernels {
		b.Run(name, func(b *testing.B) {
			c0 := cpuTime()
			for b.Loop() {
				k(panelLen/2, x, w, c)
			}
			flop := 2 * panelLen * tileRows * tileCols * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if c := cpuTime() - c0; c > 0 {
				b.ReportMetric(flop/c.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// BenchmarkGemmBF16 is BenchmarkGemm in the bf16 arithmetic: 128 tokens
// by a 2048×4096 float32 matrix, rounding and packing included, by the
// same matrix stored as BF16, and by a 14336×4096 BF16 matrix (117 MB,
// larger than the caches, as one of a Mixtral expert's matrices).
func BenchmarkGemmBF16(b *testing.B) {
	const T, in = 128, 4096
	r := &rng{s: 29}
	x := r.matrix(T, in, 1)
	for _, m := range []struct {
		name string
		out  int
		bf16 bool
	}{{"f32", 2048, false}, {"bf16", 2048, true}, {"bf16-large", 14336, true}} {
		w := r.vec(m.out*in, 0.02)
		var wp weightPanels = denseWeights{w, in}
		if m.bf16 {
			q := &QuantMatrix{Type: ggml.BF16, Rows: m.out, Cols: in, Data: make([]byte, 2*m.out*in)}
			if err := quant.QuantizeRows(ggml.BF16, w, in, q.Data, 1); err != nil {
				b.Fatal(err)
			}
			wp = q
		}
		y := newMatrix(T, m.out)
		b.Run(m.name, func(b *testing.B) {
			c0 := cpuTime()
			for b.Loop() {
				gemmBF16(context.Background(), wp, m.out, in, packPairs(x, in), y, 0)
			}
			flop := 2 * T * float64(m.out) * in * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if c := cpuTime() - c0; c > 0 {
				b.ReportMetric(flop/c.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// BenchmarkPackPairsBF16 packs the panels of a 14336×4096 BF16 matrix
// (117 MB, larger than the caches, as an expert's matrices are) into
// bfloat16 pairs, as gemmBF16 does once per product.
func BenchmarkPackPairsBF16(b *testing.B) {
	const out, in = 14336, 4096
	q := &QuantMatrix{Type: ggml.BF16, Rows: out, Cols: in, Data: make([]byte, 2*out*in)}
	for i := range q.Data {
		q.Data[i] = byte(i * 13)
	}
	wp := make([]uint32, panelLen/2*tileCols)
	benchmarkPanels(b, out, in, func(o0, k0 int) { q.packPairs(wp, nil, o0, tileCols, k0, panelLen) })
}
