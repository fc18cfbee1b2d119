package forward

import (
	"context"
	"fmt"
)

// Options select what Run collects besides the logits.
type Options struct {
	// Workers bounds the goroutines of each matrix product; <= 0 means
	// GOMAXPROCS. Results are identical for every value.
	Workers int
	// Arithmetic of the products with the weight matrices: Float32 (the
	// zero value) or BF16, faster and coarser (see BF16).
	Arithmetic Arithmetic
	// Router collects RouterLogits, TopK and TopKWeights.
	Router bool
	// Hidden collects Hidden.
	Hidden bool
	// MoEInputs collects MoEInputs.
	MoEInputs bool
	// Observe, if set, sees the input of every product with a decoder
	// layer's weight matrices (not the output head).
	Observe Observer
}

// Result is the output of Run. Per-layer slices are indexed [layer][pos].
type Result struct {
	Logits [][]float32 // [T][Vocab]
	// RouterLogits [layer][pos][Experts], TopK and TopKWeights
	// [layer][pos][TopK]; only with Options.Router and a MoE model.
	RouterLogits [][][]float32
	TopK         [][][]int
	TopKWeights  [][][]float32
	// Hidden follows transformers' output_hidden_states: Layers+1 entries,
	// the embeddings, then the output of each layer except the last, then
	// the last layer's output after the final norm.
	Hidden [][][]float32
	// MoEInputs are the inputs of each layer's MoE block (after the
	// post-attention norm), for feeding MoE directly.
	MoEInputs [][][]float32
}

// LayerResult is the output of one decoder layer.
type LayerResult struct {
	Out      [][]float32 // [T][Hidden], residuals included
	MoEInput [][]float32 // the MoE block's input
	MoE      *MoEResult
}

// DecoderLayer runs one decoder layer on h, the hidden states of positions
// 0..len(h)-1: attention with its residual, then the MoE block (or MLP)
// with its residual. workers <= 0 means GOMAXPROCS.
func DecoderLayer(lw *LayerWeights, d Dims, h [][]float32, workers int) (*LayerResult, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if err := lw.Check(d); err != nil {
		return nil, err
	}
	if err := checkRows("layer input", h, d.Hidden); err != nil {
		return nil, err
	}
	return decoderLayer(context.Background(), lw, d, h, lw.expert, exec{workers: workers}, tap{})
}

// decoderLayer runs one layer whose norms, attention weights and router lw
// holds, fetching its experts through expert; obs sees its matrix inputs. It
// stops with ctx's error.
func decoderLayer(ctx context.Context, lw *LayerWeights, d Dims, h [][]float32, expert ExpertFunc, ex exec, obs tap) (*LayerResult, error) {
	a, x := attentionHalf(ctx, lw, d, h, ex, obs)
	m, err := moe(ctx, lw.Router, d, x, expert, ex, obs)
	if err != nil {
		return nil, err
	}
	// A separate matrix keeps m.Out the block's own output.
	out := newMatrix(len(h), d.Hidden)
	for t := range out {
		for i, v := range m.Out[t] {
			out[t][i] = a[t][i] + v
		}
	}
	return &LayerResult{Out: out, MoEInput: x, MoE: m}, nil
}

// Run computes the logits of tokens (positions 0..len-1) under the model src
// supplies. It holds the embeddings only while looking tokens up, one layer
// at a time, and the output head only at the end.
func Run(src Source, tokens []int, opts Options) (*Result, error) {
	d := src.Dims()
	return run(context.Background(), src, d, tokens, StreamOptions{Options: opts}, func(l int) (*LayerWeights, ExpertFunc, error) {
		lw, err := src.Layer(l)
		if err != nil {
			return nil, nil, err
		}
		return lw, lw.expert, lw.Check(d)
	})
}

// layerFunc reads decoder layer l and checks the weights it holds. The
// ExpertFunc hands out the layer's experts.
type layerFunc func(l int) (*LayerWeights, ExpertFunc, error)

// run is the forward pass of Run and RunStreamed; d is src.Dims() and layer
// supplies the decoder layers. A cancelled ctx stops it within one chunk of
// a matrix product and it returns ctx's error.
func run(ctx context.Context, src Source, d Dims, tokens []int, opts StreamOptions, layer layerFunc) (*Result, error) {
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
	if err := opts.Arithmetic.check(); err != nil {
		return nil, err
	}
	ex := exec{workers: opts.Workers, arith: opts.Arithmetic}
	h, err := embed(src, d, tokens)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if opts.Hidden {
		res.Hidden = append(res.Hidden, cloneMatrix(h))
	}
	for l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lw, expert, err := layer(l)
		if err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", l, err)
		}
		lr, err := decoderLayer(ctx, lw, d, h, expert, ex, tap{fn: opts.Observe, layer: l})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("forward: layer %d: %w", l, err)
		}
		h = lr.Out
		if opts.Router && !d.Dense() {
			res.RouterLogits = append(res.RouterLogits, lr.MoE.RouterLogits)
			res.TopK = append(res.TopK, lr.MoE.TopK)
			res.TopKWeights = append(res.TopKWeights, lr.MoE.Weights)
		}
		if opts.MoEInputs {
			res.MoEInputs = append(res.MoEInputs, lr.MoEInput)
		}
		if opts.Hidden && (l < d.Layers-1 || layers < d.Layers) {
			res.Hidden = append(res.Hidden, cloneMatrix(h))
		}
		if opts.OnLayer != nil {
			if err := opts.OnLayer(l, lr); err != nil {
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
	ex.matmul(ctx, head, d.Vocab, d.Hidden, h, res.Logits)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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

func cloneMatrix(m [][]float32) [][]float32 {
	c := newMatrix(len(m), len(m[0]))
	for i := range m {
		copy(c[i], m[i])
	}
	return c
}
