package forward

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/mxq-dev/mxq/model"
)

// MoEResult is what one sparse MoE block (or dense MLP) computed.
type MoEResult struct {
	Out [][]float32 // [T][Hidden], before the residual is added
	// RouterLogits are gate·h, [T][Experts]; nil for a dense layer.
	RouterLogits [][]float32
	// TopK are the chosen experts per token, most probable first, and
	// Weights their renormalised routing weights, both [T][TopK]. A dense
	// layer reports expert 0 with weight 1.
	TopK    [][]int
	Weights [][]float32
}

// MoE runs the feed-forward half of a decoder layer on x, the output of the
// post-attention norm ([T][Hidden]): the router and top-k experts for a
// Mixtral layer, the single MLP for a dense one. workers <= 0 means
// GOMAXPROCS.
func MoE(lw *LayerWeights, d Dims, x [][]float32, workers int) (*MoEResult, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if err := lw.checkMoE(d); err != nil {
		return nil, err
	}
	if err := checkRows("moe input", x, d.Hidden); err != nil {
		return nil, err
	}
	return moe(context.Background(), lw.Router, d, x, lw.expert, exec{workers: workers}, tap{})
}

// MoEBlock is MoE with default parallelism, returning the block output, the
// chosen experts and their routing weights.
func MoEBlock(lw *LayerWeights, d Dims, h [][]float32) (out [][]float32, topk [][]int, weights [][]float32, err error) {
	r, err := MoE(lw, d, h, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	return r.Out, r.TopK, r.Weights, nil
}

// expert hands out expert e of a layer held in memory, as an ExpertFunc.
func (lw *LayerWeights) expert(e int) (*Expert, error) { return &lw.Experts[e], nil }

// moe routes x through the gate matrix router (nil when dense) and runs the
// chosen experts, calling expert once for each expert some token is routed
// to. obs sees the inputs of the router and of each expert's matrices. It
// stops with ctx's error before each expert. The router's product is in
// float32 whatever ex's arithmetic: it decides which experts run.
func moe(ctx context.Context, router []float32, d Dims, x [][]float32, expert ExpertFunc, ex exec, obs tap) (*MoEResult, error) {
	T := len(x)
	r := &MoEResult{TopK: make([][]int, T), Weights: make([][]float32, T)}
	if d.Dense() {
		for t := range T {
			r.TopK[t], r.Weights[t] = []int{0}, []float32{1}
		}
	} else {
		r.RouterLogits = newMatrix(T, d.Experts)
		obs.see(model.RoleRouter, -1, x)
		matmul(ctx, router, d.Experts, d.Hidden, x, r.RouterLogits, ex.workers)
		for t := range T {
			r.TopK[t], r.Weights[t] = route(r.RouterLogits[t], d.TopK, !d.TopKUnnormalized)
		}
	}

	// Experts run in ascending order and each adds its weighted output to
	// the tokens it serves, as transformers' index_add_ loop does, so the
	// float32 sums happen in the same order.
	r.Out = newMatrix(T, d.Hidden)
	var scratch mlpScratch
	for e := range d.numExperts() {
		var toks []int
		var ws []float32
		for t := range T {
			for k, ex := range r.TopK[t] {
				if ex == e {
					toks = append(toks, t)
					ws = append(ws, r.Weights[t][k])
				}
			}
		}
		if len(toks) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w, err := expert(e)
		if err != nil {
			return nil, fmt.Errorf("forward: expert %d: %w", e, err)
		}
		if err := checkExpert(w, d, e); err != nil {
			return nil, err
		}
		xs := make([][]float32, len(toks))
		for i, t := range toks {
			xs[i] = x[t]
		}
		y := expertMLP(ctx, w, d, xs, ex, obs.expert(d, e), &scratch)
		if err := w.readErr(); err != nil {
			return nil, fmt.Errorf("forward: expert %d: %w", e, err)
		}
		for i, t := range toks {
			out, wt := r.Out[t], ws[i]
			for j, v := range y[i] {
				out[j] += float32(v * wt) // rounded before the add, as in transformers
			}
		}
	}
	// The last expert's products may have been cut short.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// route turns one token's router logits into its top-k experts and their
// weights: softmax over all experts in float32, keep the k largest, divide
// by their sum when renormalise is set (transformers' Mixtral routing, and
// Qwen3-MoE's with norm_topk_prob).
func route(logits []float32, k int, renormalise bool) ([]int, []float32) {
	m := logits[0]
	for _, l := range logits[1:] {
		m = max(m, l)
	}
	probs := make([]float32, len(logits))
	var sum float32
	for i, l := range logits {
		probs[i] = float32(math.Exp(float64(l - m)))
		sum += probs[i]
	}
	inv := 1 / sum
	for i := range probs {
		probs[i] *= inv
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	// Order by probability; equal probabilities fall back to the logit,
	// then to the lower expert index, so the choice is deterministic.
	sort.SliceStable(idx, func(a, b int) bool {
		pa, pb := probs[idx[a]], probs[idx[b]]
		if pa != pb {
			return pa > pb
		}
		return logits[idx[a]] > logits[idx[b]]
	})
	top := idx[:k:k]
	w := make([]float32, k)
	var tsum float32
	for i, e := range top {
		w[i] = probs[e]
		tsum += w[i]
	}
	if renormalise {
		for i := range w {
			w[i] /= tsum
		}
	}
	return top, w
}

// mlpScratch is the memory of one expert's products, which the next
// expert of the block reuses: fresh matrices of megabytes for every expert
// would cost more in page faults than their products' stores.
type mlpScratch struct {
	act, up, y []float32
	in, mid    tokens
}

// matrix returns rows×cols values in buf's memory (grown if too small),
// not cleared: every product that uses it sets each value.
func (s *mlpScratch) matrix(buf *[]float32, rows, cols int) [][]float32 {
	if cap(*buf) < rows*cols {
		*buf = make([]float32, rows*cols)
	}
	b := (*buf)[:rows*cols]
	m := make([][]float32, rows)
	for r := range m {
		m[r] = b[r*cols : (r+1)*cols : (r+1)*cols]
	}
	return m
}

// expertMLP computes w2(silu(w1·x) ⊙ w3·x) for each row of xs, packing
// the rows once for the gate and up products, in s's memory (the result
// too: it lives until s's next use). obs sees the inputs of the three
// matrices.
func expertMLP(ctx context.Context, w *Expert, d Dims, xs [][]float32, ex exec, obs expertTap, s *mlpScratch) [][]float32 {
	I, H := d.Intermediate, d.Hidden
	T := len(xs)
	obs.see(obs.gate, xs)
	obs.see(obs.up, xs)
	gate, down, upw := w.panels(d)
	px := ex.packInto(&s.in, xs, H)
	act, up := s.matrix(&s.act, T, I), s.matrix(&s.up, T, I)
	ex.gemm(ctx, gate, I, H, px, act)
	ex.gemm(ctx, upw, I, H, px, up)
	parallelFor(ctx, T, 4, ex.workers, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			for o, u := range up[t] {
				act[t][o] = silu(act[t][o]) * u
			}
		}
	})
	obs.see(obs.down, act)
	y := s.matrix(&s.y, T, H)
	ex.gemm(ctx, down, H, I, ex.packInto(&s.mid, act, I), y)
	return y
}

// silu is x·sigmoid(x), rounded once to float32.
func silu(x float32) float32 {
	v := float64(x)
	return float32(v / (1 + math.Exp(-v)))
}
