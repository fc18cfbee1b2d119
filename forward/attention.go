package forward

import (
	"context"
	"fmt"
	"math"

	"github.com/mxq-dev/mxq/model"
)

// attention runs the self-attention block on the normalised input x
// ([T][Hidden], positions 0..T-1) and returns the o_proj output, before the
// residual is added.
func attention(ctx context.Context, lw *LayerWeights, d Dims, x [][]float32, ex exec, obs tap) [][]float32 {
	T := len(x)
	qDim, kvDim, hd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim, d.HeadDim
	q, k, v := newMatrix(T, qDim), newMatrix(T, kvDim), newMatrix(T, kvDim)
	obs.see(model.RoleAttnQ, -1, x)
	obs.see(model.RoleAttnK, -1, x)
	obs.see(model.RoleAttnV, -1, x)
	px := ex.pack(x, d.Hidden)
	ex.gemm(ctx, panelsOf(lw.QQ, lw.Q, d.Hidden), qDim, d.Hidden, px, q)
	ex.gemm(ctx, panelsOf(lw.QK, lw.K, d.Hidden), kvDim, d.Hidden, px, k)
	ex.gemm(ctx, panelsOf(lw.QV, lw.V, d.Hidden), kvDim, d.Hidden, px, v)

	if d.QKNorm {
		// Qwen3 normalises each head before RoPE.
		for t := range T {
			for h := range d.Heads {
				rmsNorm(q[t][h*hd:(h+1)*hd], q[t][h*hd:(h+1)*hd], lw.QNorm, d.RMSEps)
			}
			for h := range d.KVHeads {
				rmsNorm(k[t][h*hd:(h+1)*hd], k[t][h*hd:(h+1)*hd], lw.KNorm, d.RMSEps)
			}
		}
	}
	rt := newRopeTable(d, T)
	for t := range T {
		for h := range d.Heads {
			rt.apply(q[t][h*hd:(h+1)*hd], t, d.RopeStyle)
		}
		for h := range d.KVHeads {
			rt.apply(k[t][h*hd:(h+1)*hd], t, d.RopeStyle)
		}
	}

	mixed := newMatrix(T, qDim)
	group := d.Heads / d.KVHeads
	scale := 1 / math.Sqrt(float64(hd))
	// Each group's keys ([T][hd]) and values transposed ([hd][T]) serve
	// as the weights of two products per head, in float32 whatever the
	// arithmetic: the scores q·k of every
	// pair of positions, then the probabilities times the values. Future
	// positions and those outside the window get probability 0, which
	// adds exactly nothing. One task per head; each writes its own slice
	// of mixed.
	keys, valsT := make([][]float32, d.KVHeads), make([][]float32, d.KVHeads)
	parallelFor(ctx, d.KVHeads, 1, ex.workers, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			kg, vt := make([]float32, T*hd), make([]float32, hd*T)
			for j := range T {
				copy(kg[j*hd:(j+1)*hd], k[j][g*hd:(g+1)*hd])
				for i, vv := range v[j][g*hd : (g+1)*hd] {
					vt[i*T+j] = vv
				}
			}
			keys[g], valsT[g] = kg, vt
		}
	})
	// Queries go in blocks of attnBlock positions, which see the keys up to
	// the block's last position only, so scratch memory stays linear in T.
	parallelFor(ctx, d.Heads, 1, ex.workers, func(lo, hi int) {
		qh, out := make([][]float32, attnBlock), make([][]float32, attnBlock)
		scores, probs := newMatrix(attnBlock, T), newMatrix(attnBlock, T)
		e := make([]float64, T)
		for h := lo; h < hi; h++ {
			g := h / group
			for t0 := 0; t0 < T; t0 += attnBlock {
				if ctx.Err() != nil {
					return // the caller checks ctx before using the result
				}
				t1 := min(t0+attnBlock, T)
				n := t1 - t0
				for i := range n {
					qh[i], out[i] = q[t0+i][h*hd:(h+1)*hd], mixed[t0+i][h*hd:(h+1)*hd]
					scores[i], probs[i] = scores[i][:t1], probs[i][:t1]
				}
				gemm(ctx, denseWeights{keys[g], hd}, t1, hd, packRows(qh[:n], hd), scores[:n], 1)
				for i := range n {
					t := t0 + i
					first := 0
					if d.SlidingWindow > 0 {
						first = max(0, t-d.SlidingWindow+1)
					}
					softmaxRow(probs[i], scores[i], e, first, t, scale)
				}
				// valsT rows are T long; the product reads the first t1.
				gemm(ctx, denseWeights{valsT[g], T}, hd, t1, packRows(probs[:n], t1), out[:n], 1)
			}
		}
	})

	obs.see(model.RoleAttnOutput, -1, mixed)
	o := newMatrix(T, d.Hidden)
	ex.gemm(ctx, panelsOf(lw.QO, lw.O, qDim), d.Hidden, qDim, ex.pack(mixed, qDim), o)
	return o
}

// checkRows verifies that x is a non-empty [T][n] matrix.
func checkRows(what string, x [][]float32, n int) error {
	if len(x) == 0 {
		return fmt.Errorf("forward: %s is empty", what)
	}
	for t, row := range x {
		if len(row) != n {
			return fmt.Errorf("forward: %s row %d has %d values, want %d", what, t, len(row), n)
		}
	}
	return nil
}

// attnBlock is how many query positions share one pair of attention
// products. Probabilities of positions past a query are exact zeros, so the
// block size does not change any result.
var attnBlock = 128

// softmaxRow sets p[first..last] to the softmax of scale·s[first..last]
// (in float64, e is scratch as long as s) and every other entry of p to 0.
func softmaxRow(p, s []float32, e []float64, first, last int, scale float64) {
	clear(p)
	m := math.Inf(-1)
	for j := first; j <= last; j++ {
		m = max(m, float64(s[j])*scale)
	}
	var sum float64
	for j := first; j <= last; j++ {
		e[j] = math.Exp(float64(s[j])*scale - m)
		sum += e[j]
	}
	for j := first; j <= last; j++ {
		p[j] = float32(e[j] / sum)
	}
}
