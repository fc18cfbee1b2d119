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
func attention(ctx context.Context, lw *LayerWeights, d Dims, x [][]float32, workers int, obs tap) [][]float32 {
	T := len(x)
	qDim, kvDim, hd := d.Heads*d.HeadDim, d.KVHeads*d.HeadDim, d.HeadDim
	q, k, v := newMatrix(T, qDim), newMatrix(T, kvDim), newMatrix(T, kvDim)
	obs.see(model.RoleAttnQ, -1, x)
	obs.see(model.RoleAttnK, -1, x)
	obs.see(model.RoleAttnV, -1, x)
	matmul(ctx, lw.Q, qDim, d.Hidden, x, q, workers)
	matmul(ctx, lw.K, kvDim, d.Hidden, x, k, workers)
	matmul(ctx, lw.V, kvDim, d.Hidden, x, v, workers)

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
	// One task per (position, head); each writes its own slice of mixed.
	parallelFor(ctx, T*d.Heads, 4, workers, func(lo, hi int) {
		scores := make([]float64, T)
		acc := make([]float64, hd)
		for task := lo; task < hi; task++ {
			t, h := task/d.Heads, task%d.Heads
			g := h / group
			first := 0
			if d.SlidingWindow > 0 {
				first = max(0, t-d.SlidingWindow+1)
			}
			qh := q[t][h*hd : (h+1)*hd]
			m := math.Inf(-1)
			for j := first; j <= t; j++ {
				s := dot(qh, k[j][g*hd:(g+1)*hd]) * scale
				scores[j] = s
				m = max(m, s)
			}
			var sum float64
			for j := first; j <= t; j++ {
				scores[j] = math.Exp(scores[j] - m)
				sum += scores[j]
			}
			clear(acc)
			for j := first; j <= t; j++ {
				p := scores[j] / sum
				for i, vv := range v[j][g*hd : (g+1)*hd] {
					acc[i] += p * float64(vv)
				}
			}
			out := mixed[t][h*hd : (h+1)*hd]
			for i, a := range acc {
				out[i] = float32(a)
			}
		}
	})

	obs.see(model.RoleAttnOutput, -1, mixed)
	o := newMatrix(T, d.Hidden)
	matmul(ctx, lw.O, d.Hidden, qDim, mixed, o, workers)
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
