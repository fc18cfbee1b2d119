package forward

import (
	"context"
	"math"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/quant"
)

// refProduct is one output of gemm computed the slow way, in the order gemm
// documents: each panel's products summed from zero in input order (fused
// multiply-adds when fused is set), each panel's sum added to the total.
func refProduct(w, x []float32, fused bool) float32 {
	var total float32
	for k0 := 0; k0 < len(x); k0 += panelLen {
		var acc float32
		for k := k0; k < min(k0+panelLen, len(x)); k++ {
			if fused {
				// x·w is exact in float64, so this rounds the sum once
				// to float64 and once to float32; for these values that
				// equals the float32 fused multiply-add.
				acc = float32(math.FMA(float64(x[k]), float64(w[k]), float64(acc)))
			} else {
				acc += float32(x[k] * w[k])
			}
		}
		total += acc
	}
	return total
}

// TestGemmOrder checks every output of gemm bit for bit against refProduct,
// for each tile kernel, across sizes with partial tiles and panels.
func TestGemmOrder(t *testing.T) {
	type kernel struct {
		f     func(kc int, x, w, c []float32)
		fused bool
	}
	kernels := map[string]kernel{"go": {tileGo, false}, "default": {tile, tileFused}}
	for name, k := range simdKernels() {
		kernels[name] = kernel{k, true}
	}
	saved := tile
	defer func() { tile = saved }()
	r := &rng{s: 17}
	for name, k := range kernels {
		tile = k.f
		for _, sz := range []struct{ T, out, in int }{
			{1, 1, 1}, {5, 17, 3}, {6, 16, 256}, {7, 33, 257}, {13, 40, 600},
		} {
			w := r.vec(sz.out*sz.in, 1)
			x := r.matrix(sz.T, sz.in, 1)
			y := newMatrix(sz.T, sz.out)
			matmul(context.Background(), w, sz.out, sz.in, x, y, 3)
			for t0 := range sz.T {
				for o := range sz.out {
					want := refProduct(w[o*sz.in:(o+1)*sz.in], x[t0], k.fused)
					if y[t0][o] != want {
						t.Fatalf("%s %+v: y[%d][%d] = %g, want %g", name, sz, t0, o, y[t0][o], want)
					}
				}
			}
		}
	}
}

// TestGemmBatchInvariant checks that a token's outputs do not depend on the
// other tokens of its batch nor on the number of workers.
func TestGemmBatchInvariant(t *testing.T) {
	r := &rng{s: 23}
	const out, in, T = 45, 700, 17
	w := r.vec(out*in, 0.1)
	x := r.matrix(T, in, 1)
	all := newMatrix(T, out)
	matmul(context.Background(), w, out, in, x, all, 1)
	for _, workers := range []int{2, 5} {
		y := newMatrix(T, out)
		matmul(context.Background(), w, out, in, x, y, workers)
		if d := maxDiff(y, all); d != 0 {
			t.Fatalf("workers %d: differs by %g from one worker", workers, d)
		}
	}
	for t0 := range T {
		for _, batch := range [][][]float32{{x[t0]}, {x[(t0+5)%T], x[t0]}, x[:t0+1]} {
			y := newMatrix(len(batch), out)
			matmul(context.Background(), w, out, in, batch, y, 2)
			for i, row := range batch {
				if &row[0] != &x[t0][0] {
					continue
				}
				for o := range out {
					if y[i][o] != all[t0][o] {
						t.Fatalf("token %d in a batch of %d: output %d is %g, alone %g", t0, len(batch), o, y[i][o], all[t0][o])
					}
				}
			}
		}
	}
}

// BenchmarkGemm multiplies 128 tokens by a 2048×4096 matrix with each tile
// kernel, packing included, and reports GFLOP/s of wall time and of CPU
// time (the latter is steadier on a shared machine).
func BenchmarkGemm(b *testing.B) {
	const T, out, in = 128, 2048, 4096
	r := &rng{s: 29}
	w := r.vec(out*in, 0.02)
	x := r.matrix(T, in, 1)
	y := newMatrix(T, out)
	kernels := simdKernels()
	kernels["go"] = tileGo
	saved := tile
	defer func() { tile = saved }()
	for name, k := range kernels {
		b.Run(name, func(b *testing.B) {
			tile = k
			c0 := cpuTime()
			for b.Loop() {
				matmul(context.Background(), w, out, in, x, y, 0)
			}
			flop := 2 * T * out * in * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if c := cpuTime() - c0; c > 0 {
				b.ReportMetric(flop/c.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// TestGemmQuantMatrix checks that a matrix kept in its block format gives
// exactly the products of its dequantized float32 values.
func TestGemmQuantMatrix(t *testing.T) {
	r := &rng{s: 31}
	const T, out, in = 7, 21, 768
	w := r.vec(out*in, 0.05)
	x := r.matrix(T, in, 1)
	for _, typ := range []ggml.Type{ggml.F32, ggml.BF16, ggml.Q8_0, ggml.Q4_K, ggml.Q6_K} {
		q, deq := quantizedMatrix(t, typ, w, out, in)
		if err := q.check("w", out, in); err != nil {
			t.Fatal(err)
		}
		want, got := newMatrix(T, out), newMatrix(T, out)
		matmul(context.Background(), deq, out, in, x, want, 2)
		gemm(context.Background(), q, out, in, packRows(x, in), got, 3)
		if d := maxDiff(got, want); d != 0 {
			t.Errorf("%s: differs from the dequantized matrix by %g", typ, d)
		}
	}
	bad := &QuantMatrix{Type: ggml.Q4_K, Rows: out, Cols: in, Data: make([]byte, 10)}
	if err := bad.check("w", out, in); err == nil {
		t.Error("short data accepted")
	}
	if err := bad.check("w", out+1, in); err == nil {
		t.Error("wrong shape accepted")
	}
}

// BenchmarkPackBF16 packs the panels of a 2048×4096 BF16 matrix, as gemm
// does once per product.
func BenchmarkPackBF16(b *testing.B) {
	const out, in = 2048, 4096
	q := &QuantMatrix{Type: ggml.BF16, Rows: out, Cols: in, Data: make([]byte, 2*out*in)}
	wp := make([]float32, panelLen*tileCols)
	benchmarkPanels(b, out, in, func(o0, k0 int) { q.pack(wp, nil, o0, tileCols, k0, panelLen) })
}

// benchmarkPanels calls pack for every panel of an out×in matrix, as a
// product does once, and reports weights per second and per CPU-second.
func benchmarkPanels(b *testing.B, out, in int, pack func(o0, k0 int)) {
	c0 := cpuTime()
	for b.Loop() {
		for o0 := 0; o0 < out; o0 += tileCols {
			for k0 := 0; k0 < in; k0 += panelLen {
				pack(o0, k0)
			}
		}
	}
	b.ReportMetric(float64(out*in*b.N)/b.Elapsed().Seconds()/1e6, "Mweights/s")
	if c := cpuTime() - c0; c > 0 {
		b.ReportMetric(float64(out*in*b.N)/c.Seconds()/1e6, "Mweights/cpu-s")
	}
}

// BenchmarkTile runs the tile kernel alone on one panel held in the L1
// cache: the ceiling of gemm's arithmetic on this CPU.
func BenchmarkTile(b *testing.B) {
	r := &rng{s: 37}
	x, w := r.vec(panelLen*tileRows, 1), r.vec(panelLen*tileCols, 1)
	c := make([]float32, tileRows*tileCols)
	c0 := cpuTime()
	for b.Loop() {
		tile(panelLen, x, w, c)
	}
	flop := 2 * panelLen * tileRows * tileCols * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if c := cpuTime() - c0; c > 0 {
		b.ReportMetric(flop/c.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// TestPackPanelPortable checks the SIMD row layouts against the portable
// loops, for float32 and BF16 rows, full and partial panels.
func TestPackPanelPortable(t *testing.T) {
	if packRows8 == nil {
		t.Skip("no SIMD packing on this CPU")
	}
	r := &rng{s: 41}
	const out, in = 45, 512
	w := r.vec(out*in, 1)
	q := &QuantMatrix{Type: ggml.BF16, Rows: out, Cols: in, Data: make([]byte, 2*out*in)}
	if err := quant.QuantizeRows(ggml.BF16, w, in, q.Data, 1); err != nil {
		t.Fatal(err)
	}
	pack := func(bf16 bool, c [4]int) []float32 {
		wp := make([]float32, panelLen*tileCols)
		if bf16 {
			q.pack(wp, nil, c[0], c[1], c[2], c[3])
		} else {
			packPanel(wp, w, in, c[0], c[1], c[2], c[3])
		}
		return wp
	}
	comparePackPaths(t, [][4]int{{0, 32, 0, 256}, {32, 13, 256, 256}, {8, 32, 128, 120}}, pack, func() func() {
		f, b := packRows8, packRows8BF16
		packRows8, packRows8BF16 = nil, nil
		return func() { packRows8, packRows8BF16 = f, b }
	})
}

// comparePackPaths packs each panel {o0, cols, k0, kc} of a float32 and of
// a BF16 matrix with the SIMD row layouts and again after portable has
// turned them off (it returns what restores them), and fails on the first
// value that differs.
func comparePackPaths[P comparable](t *testing.T, panels [][4]int, pack func(bf16 bool, panel [4]int) []P, portable func() (restore func())) {
	t.Helper()
	for _, c := range panels {
		for _, bf16 := range []bool{false, true} {
			simd := pack(bf16, c)
			restore := portable()
			want := pack(bf16, c)
			restore()
			for i := range simd {
				if simd[i] != want[i] {
					t.Fatalf("bf16 %v panel %v: element %d is %v, portable %v", bf16, c, i, simd[i], want[i])
				}
			}
		}
	}
}

// TestAttentionBlocks checks that splitting the queries into blocks changes
// no attention output, with and without a sliding window.
func TestAttentionBlocks(t *testing.T) {
	d := Dims{Hidden: 32, Intermediate: 48, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Experts: 4, TopK: 2, Vocab: 8, RopeTheta: 1e4, RMSEps: 1e-5}
	r := &rng{s: 43}
	q, kv := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	lw := &LayerWeights{Q: r.vec(q*d.Hidden, 0.3), K: r.vec(kv*d.Hidden, 0.3), V: r.vec(kv*d.Hidden, 0.3), O: r.vec(d.Hidden*q, 0.3)}
	x := r.matrix(300, d.Hidden, 1)
	saved := attnBlock
	defer func() { attnBlock = saved }()
	for _, window := range []int{0, 37} {
		d.SlidingWindow = window
		attnBlock = 1000
		want := attention(context.Background(), lw, d, x, exec{workers: 2}, tap{})
		for _, b := range []int{1, 7, 128, 256} {
			attnBlock = b
			if diff := maxDiff(attention(context.Background(), lw, d, x, exec{workers: 3}, tap{}), want); diff != 0 {
				t.Errorf("window %d, blocks of %d: differs by %g from one block", window, b, diff)
			}
		}
	}
}

// TestRunWorkersIdentical runs the tiny checkpoint with different worker
// counts and expects the same logits bit for bit.
func TestRunWorkersIdentical(t *testing.T) {
	ref := testutil.TinyReference(t)
	src, _ := openTiny(t)
	var want [][]float32
	for _, workers := range []int{1, 3} {
		res, err := Run(src, ref.InputIDs, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = res.Logits
			continue
		}
		if d := maxDiff(res.Logits, want); d != 0 {
			t.Errorf("%d workers: logits differ by %g from one worker", workers, d)
		}
	}
}
