package forward

import "context"

// AttentionBlock runs the first half of a decoder layer on h: the attention
// block with its residual (resid, the residual stream the MoE output is
// added to) and the post-attention norm (moeIn, the MoE block's input). Only
// lw's norms and attention weights are used. workers <= 0 means GOMAXPROCS.
func AttentionBlock(lw *LayerWeights, d Dims, h [][]float32, workers int) (resid, moeIn [][]float32, err error) {
	return LayerPieces{Workers: workers}.Attention(context.Background(), lw, d, h)
}

// LayerPieces runs the two halves of decoder layer Layer separately, as
// AttentionBlock and MoEStreamed do, and reports the input of every matrix
// product to Observe (nil: none), as Run does.
type LayerPieces struct {
	Layer      int
	Workers    int        // <= 0 means GOMAXPROCS
	Arithmetic Arithmetic // of the products with weight matrices
	Observe    Observer
}

// exec is how p's products run.
func (p LayerPieces) exec() exec { return exec{workers: p.Workers, arith: p.Arithmetic} }

// Attention is AttentionBlock for the layer.
func (p LayerPieces) Attention(ctx context.Context, lw *LayerWeights, d Dims, h [][]float32) (resid, moeIn [][]float32, err error) {
	if err := d.Check(); err != nil {
		return nil, nil, err
	}
	if err := p.Arithmetic.check(); err != nil {
		return nil, nil, err
	}
	if err := lw.checkAttention(d); err != nil {
		return nil, nil, err
	}
	if err := checkRows("layer input", h, d.Hidden); err != nil {
		return nil, nil, err
	}
	resid, moeIn = attentionHalf(ctx, lw, d, h, p.exec(), tap{fn: p.Observe, layer: p.Layer})
	return resid, moeIn, nil
}

// attentionHalf is the first half of decoderLayer.
func attentionHalf(ctx context.Context, lw *LayerWeights, d Dims, h [][]float32, ex exec, obs tap) (resid, moeIn [][]float32) {
	a := attention(ctx, lw, d, rmsNormRows(h, lw.AttnNorm, d.RMSEps), ex, obs)
	for t := range a {
		for i, v := range h[t] {
			a[t][i] += v
		}
	}
	return a, rmsNormRows(a, lw.FFNNorm, d.RMSEps)
}

// ExpertFunc returns one expert's weights, read when called.
type ExpertFunc func(e int) (*Expert, error)

// StreamedExpert is src.Expert(l, e) for an expert that a MoE block uses
// once, while src stays open: from a GGUF its matrices are then read a
// block of rows at a time by the products themselves, never whole, which
// saves memory and time (and a failed read fails the block). Other
// sources read the expert as Expert does.
func StreamedExpert(src ExpertSource, l, e int) (*Expert, error) {
	if g, ok := src.(*ggufSource); ok {
		return g.streamedExpert(l, e)
	}
	return src.Expert(l, e)
}

// MoEStreamed is MoE with the experts fetched on demand: expert is called
// once for each expert that some token is routed to, in ascending order,
// and its weights are dropped before the next one is fetched, so memory
// holds a single expert. router is the gate matrix [Experts][Hidden] (nil
// for a dense model). The result is bit for bit that of MoE. A cancelled
// ctx stops it with ctx's error.
func MoEStreamed(ctx context.Context, router []float32, d Dims, x [][]float32, expert ExpertFunc, workers int) (*MoEResult, error) {
	return LayerPieces{Workers: workers}.MoE(ctx, router, d, x, expert)
}

// MoE is MoEStreamed for the layer. Each token's result is independent of
// the other rows of x, so the rows may come from several runs.
func (p LayerPieces) MoE(ctx context.Context, router []float32, d Dims, x [][]float32, expert ExpertFunc) (*MoEResult, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if err := p.Arithmetic.check(); err != nil {
		return nil, err
	}
	if err := checkRouter(router, d); err != nil {
		return nil, err
	}
	if err := checkRows("moe input", x, d.Hidden); err != nil {
		return nil, err
	}
	return moe(ctx, router, d, x, expert, p.exec(), tap{fn: p.Observe, layer: p.Layer})
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
// MoE block needs them (from a GGUF a block of rows at a time, see
// StreamedExpert). Its results are bit for bit those of Run. A cancelled
// ctx stops it within one chunk of a matrix product, with ctx's error.
func RunStreamed(ctx context.Context, src ExpertSource, tokens []int, opts StreamOptions) (*Result, error) {
	d := src.Dims()
	return run(ctx, src, d, tokens, opts, func(l int) (*LayerWeights, ExpertFunc, error) {
		lw, err := src.LayerShared(l)
		if err != nil {
			return nil, nil, err
		}
		if err := lw.checkAttention(d); err != nil {
			return nil, nil, err
		}
		return lw, func(e int) (*Expert, error) { return StreamedExpert(src, l, e) }, checkRouter(lw.Router, d)
	})
}
