package forward

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/quant"
)

// quantMatrix quantizes a random rows×cols matrix to typ.
func quantMatrix(t testing.TB, r *rng, typ ggml.Type, rows, cols int) *QuantMatrix {
	t.Helper()
	rb, err := typ.RowSize(int64(cols))
	if err != nil {
		t.Fatal(err)
	}
	q := &QuantMatrix{Type: typ, Rows: rows, Cols: cols, Data: make([]byte, rows*int(rb))}
	w := r.vec(rows*cols, 0.05)
	if quant.RequiresWeights(typ) {
		imp := make([]float32, cols)
		for i := range imp {
			imp[i] = 1 + float32(i%7)
		}
		err = quant.QuantizeRowsWeighted(typ, w, cols, imp, q.Data, 1)
	} else {
		err = quant.QuantizeRows(typ, w, cols, q.Data, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Every panel of every type a matrix can be kept in decodes to exactly the
// values DequantizeRows gives its rows, full panels and partial ones
// (fewer rows, a shorter last panel) alike.
func TestDecodePanelMatchesDequantizeRows(t *testing.T) {
	r := &rng{s: 47}
	for _, typ := range quant.SupportedTypes() {
		if typ == ggml.BF16 || panelLen%typ.BlockSize() != 0 {
			continue // BF16 packs directly; check refuses the others
		}
		t.Run(typ.String(), func(t *testing.T) {
			const rows = 45
			cols := 3 * panelLen
			if typ.BlockSize() < panelLen {
				cols += typ.BlockSize() // a short last panel
			}
			q := quantMatrix(t, r, typ, rows, cols)
			if err := q.check("w", rows, cols); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, rows*cols)
			if err := quant.DequantizeRows(typ, q.Data, cols, want, 2); err != nil {
				t.Fatal(err)
			}
			tmp := make([]float32, tileCols*panelLen)
			for o0 := 0; o0 < rows; o0 += tileCols {
				n := min(tileCols, rows-o0)
				for k0 := 0; k0 < cols; k0 += panelLen {
					kc := min(panelLen, cols-k0)
					q.decodePanel(tmp, o0, n, k0, kc)
					for j := range n {
						for k := range kc {
							g, w := tmp[j*kc+k], want[(o0+j)*cols+k0+k]
							if math.Float32bits(g) != math.Float32bits(w) {
								t.Fatalf("row %d input %d: panel %v, DequantizeRows %v", o0+j, k0+k, g, w)
							}
						}
					}
				}
			}
		})
	}
}

// Decoding a panel allocates nothing, whatever the type.
func TestDecodePanelAllocs(t *testing.T) {
	r := &rng{s: 53}
	tmp := make([]float32, tileCols*panelLen)
	for _, typ := range quant.SupportedTypes() {
		if typ == ggml.BF16 || panelLen%typ.BlockSize() != 0 {
			continue
		}
		q := quantMatrix(t, r, typ, tileCols, 2*panelLen)
		if a := testing.AllocsPerRun(10, func() { q.decodePanel(tmp, 0, tileCols, panelLen, panelLen) }); a != 0 {
			t.Errorf("%s: %v allocations per panel", typ, a)
		}
	}
}

// BenchmarkPack decodes and packs the panels of a 14336×4096 matrix (the
// shape of a Mixtral expert's gate, larger than the caches, so its bytes
// come from memory as in a forward pass) in the block formats of Q4_K_M,
// Q5_K_M and Q6_K files and of Q8_0, Q4_0 and F16 ones, in gemm's order
// ("decode": the decoding alone), and reports Mweights/s of wall and of
// CPU time.
func BenchmarkPack(b *testing.B) {
	const out, in, distinct = 14336, 4096, 256
	r := &rng{s: 59}
	for _, typ := range []ggml.Type{ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.Q8_0, ggml.Q4_0, ggml.F16} {
		// distinct quantized rows, repeated: the values do not change the
		// time, the addresses do.
		q := quantMatrix(b, r, typ, distinct, in)
		q.Rows, q.Data = out, bytes.Repeat(q.Data, out/distinct)
		for _, decodeOnly := range []bool{false, true} {
			name := typ.String()
			if decodeOnly {
				name += "/decode"
			}
			b.Run(name, func(b *testing.B) {
				wp, tmp := make([]float32, panelLen*tileCols), make([]float32, panelLen*tileCols)
				c0 := cpuTime()
				for b.Loop() {
					for o0 := 0; o0 < out; o0 += tileCols {
						for k0 := 0; k0 < in; k0 += panelLen {
							if decodeOnly {
								q.decodePanel(tmp, o0, tileCols, k0, panelLen)
							} else {
								q.pack(wp, tmp, o0, tileCols, k0, panelLen)
							}
						}
					}
				}
				weights := float64(out * in * b.N)
				b.ReportMetric(weights/b.Elapsed().Seconds()/1e6, "Mweights/s")
				if c := cpuTime() - c0; c > 0 {
					b.ReportMetric(weights/c.Seconds()/1e6, "Mweights/cpu-s")
				}
			})
		}
	}
}

// BenchmarkGemmQuant multiplies 128 tokens (a Mixtral expert's share of a
// 512-token prompt) by a 14336×4096 block-format matrix, decoding included,
// on GOMAXPROCS workers, and reports GFLOP/s of wall and of CPU time: the
// decoding's cost shows against the tiles' on weights that come from
// memory.
func BenchmarkGemmQuant(b *testing.B) {
	const T, out, in, distinct = 128, 14336, 4096, 256
	r := &rng{s: 61}
	x := packRows(r.matrix(T, in, 1), in)
	y := newMatrix(T, out)
	for _, typ := range []ggml.Type{ggml.Q4_K, ggml.Q6_K} {
		// Three matrices in turn, as an expert's gate, down and up, so
		// that none is still in the caches when its turn comes.
		var qs [3]*QuantMatrix
		for i := range qs {
			qs[i] = quantMatrix(b, r, typ, distinct, in)
			qs[i].Rows, qs[i].Data = out, bytes.Repeat(qs[i].Data, out/distinct)
		}
		b.Run(typ.String(), func(b *testing.B) {
			c0 := cpuTime()
			i := 0
			for b.Loop() {
				gemm(context.Background(), qs[i%len(qs)], out, in, x, y, 0)
				i++
			}
			flop := 2 * T * out * in * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if c := cpuTime() - c0; c > 0 {
				b.ReportMetric(flop/c.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
