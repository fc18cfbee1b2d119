package forward

import "fmt"

// AttentionBlock runs the first half of a decoder layer on h: the attention
// block with its residual (resid, the residual stream the MoE output is
// added to) and the post-attention norm (moeIn, the MoE block's input). Only
// lw's norms and attention weights are used. workers <= 0 means GOMAXPROCS.
func AttentionBlock(lw *LayerWeights, d Dims, h [][]float32, workers int) (resid, moeIn [][]float32, err error) {
	if err := d.Check(); err != nil {
		return nil, nil, err
	}
	if err := lw.checkAttention(d); err != nil {
		return nil, nil, err
	}
	if err := checkRows("layer input", h, d.Hidden); err != nil {
		return nil, nil, err
	}
	resid, moeIn = attentionHalf(lw, d, h, workers)
	return resid, moeIn, nil
}

// attentionHalf is the first half of decoderLayer, operation for operation.
func attentionHalf(lw *LayerWeights, d Dims, h [][]float32, workers int) (resid, moeIn [][]float32) {
	a := attention(lw, d, rmsNormRows(h, lw.AttnNorm, d.RMSEps), workers)
	for t := range a {
		for i, v := range h[t] {
			a[t][i] += v
		}
	}
	return a, rmsNormRows(a, lw.FFNNorm, d.RMSEps)
}

// ExpertFunc returns one expert's weights, read when called.
type ExpertFunc func(e int) (*Expert, error)

// MoEStreamed is MoE with the experts fetched on demand: expert is called
// once for each expert that some token is routed to, in ascending order,
// and its weights are dropped before the next one is fetched, so memory
// holds a single expert. router is the gate matrix [Experts][Hidden] (nil
// for a dense model). The result is bit for bit that of MoE.
func MoEStreamed(router []float32, d Dims, x [][]float32, expert ExpertFunc, workers int) (*MoEResult, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if d.Dense() {
		if router != nil {
			return nil, fmt.Errorf("forward: dense layer has a router")
		}
	} else if err := checkLen("router", router, d.Experts*d.Hidden); err != nil {
		return nil, err
	}
	if err := checkRows("moe input", x, d.Hidden); err != nil {
		return nil, err
	}
	return moeStreamed(router, d, x, expert, workers)
}

func moeStreamed(router []float32, d Dims, x [][]float32, expert ExpertFunc, workers int) (*MoEResult, error) {
	T := len(x)
	r := &MoEResult{TopK: make([][]int, T), Weights: make([][]float32, T)}
	if d.Dense() {
		for t := range T {
			r.TopK[t], r.Weights[t] = []int{0}, []float32{1}
		}
	} else {
		r.RouterLogits = newMatrix(T, d.Experts)
		matmul(router, d.Experts, d.Hidden, x, r.RouterLogits, workers)
		for t := range T {
			r.TopK[t], r.Weights[t] = route(r.RouterLogits[t], d.TopK)
		}
	}
	// The same order of experts and of additions as moe.
	r.Out = newMatrix(T, d.Hidden)
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
		y := expertMLP(w, d, xs, workers)
		for i, t := range toks {
			out, wt := r.Out[t], ws[i]
			for j, v := range y[i] {
				out[j] += float32(v * wt)
			}
		}
	}
	return r, nil
}

func checkExpert(x *Expert, d Dims, e int) error {
	h, in := d.Hidden, d.Intermediate
	for _, c := range []struct {
		name string
		w    []float32
		n    int
	}{{"gate", x.Gate, in * h}, {"down", x.Down, h * in}, {"up", x.Up, in * h}} {
		if err := checkLen(fmt.Sprintf("expert %d %s", e, c.name), c.w, c.n); err != nil {
			return err
		}
	}
	return nil
}

// StreamOptions extend Options for RunStreamed.
type StreamOptions struct {
	Options
	// Layers stops the run after the first Layers decoder layers; 0 runs
	// them all. A stopped run computes no logits, and its Hidden ends with
	// the last layer's output, unnormalised.
	Layers int
	// OnLayer, if set, receives each layer's result as soon as it is
	// computed; an error stops the run.
	OnLayer func(layer int, r *LayerResult) error
}

// RunStreamed is Run over an ExpertSource that holds one expert at a time:
// each layer's shared weights are read, then its experts one by one as the
// MoE block needs them. Its results are bit for bit those of Run.
func RunStreamed(src ExpertSource, tokens []int, opts StreamOptions) (*Result, error) {
	d := src.Dims()
	if err := d.Check(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("forward: no tokens")
	}
	layers := d.Layers
	if opts.Layers < 0 || opts.Layers > d.Layers {
		return nil, fmt.Errorf("forward: cannot stop after %d of %d layers", opts.Layers, d.Layers)
	}
	if opts.Layers > 0 {
		layers = opts.Layers
	}
	h, err := embed(src, d, tokens)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if opts.Hidden {
		res.Hidden = append(res.Hidden, cloneMatrix(h))
	}
	for l := range layers {
		lw, err := src.LayerShared(l)
		if err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", l, err)
		}
		if err := lw.checkAttention(d); err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", l, err)
		}
		a, x := attentionHalf(lw, d, h, opts.Workers)
		m, err := MoEStreamed(lw.Router, d, x, func(e int) (*Expert, error) { return src.Expert(l, e) }, opts.Workers)
		if err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", l, err)
		}
		out := newMatrix(len(h), d.Hidden)
		for t := range out {
			for i, v := range m.Out[t] {
				out[t][i] = a[t][i] + v
			}
		}
		h = out
		if opts.Router && !d.Dense() {
			res.RouterLogits = append(res.RouterLogits, m.RouterLogits)
			res.TopK = append(res.TopK, m.TopK)
			res.TopKWeights = append(res.TopKWeights, m.Weights)
		}
		if opts.MoEInputs {
			res.MoEInputs = append(res.MoEInputs, x)
		}
		if opts.Hidden && (l < d.Layers-1 || layers < d.Layers) {
			res.Hidden = append(res.Hidden, cloneMatrix(h))
		}
		if opts.OnLayer != nil {
			if err := opts.OnLayer(l, &LayerResult{Out: out, MoEInput: x, MoE: m}); err != nil {
				return nil, err
			}
		}
	}
	if layers < d.Layers {
		return res, nil
	}

	norm, err := src.OutputNorm()
	if err != nil {
		return nil, fmt.Errorf("forward: output norm: %w", err)
	}
	if err := checkLen("output norm", norm, d.Hidden); err != nil {
		return nil, err
	}
	h = rmsNormRows(h, norm, d.RMSEps)
	if opts.Hidden {
		res.Hidden = append(res.Hidden, h)
	}
	head, err := src.Output()
	if err != nil {
		return nil, fmt.Errorf("forward: output: %w", err)
	}
	if err := checkLen("output", head, d.Vocab*d.Hidden); err != nil {
		return nil, err
	}
	res.Logits = newMatrix(len(tokens), d.Vocab)
	matmul(head, d.Vocab, d.Hidden, h, res.Logits, opts.Workers)
	return res, nil
}

// embed looks the tokens up in the embedding table, which it drops again.
func embed(src Source, d Dims, tokens []int) ([][]float32, error) {
	emb, err := src.Embedding()
	if err != nil {
		return nil, fmt.Errorf("forward: embedding: %w", err)
	}
	if err := checkLen("embedding", emb, d.Vocab*d.Hidden); err != nil {
		return nil, err
	}
	h := newMatrix(len(tokens), d.Hidden)
	for t, id := range tokens {
		if id < 0 || id >= d.Vocab {
			return nil, fmt.Errorf("forward: token %d at position %d outside vocabulary of %d", id, t, d.Vocab)
		}
		copy(h[t], emb[id*d.Hidden:(id+1)*d.Hidden])
	}
	return h, nil
}
