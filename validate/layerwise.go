package validate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/internal/safetext"
)

// LayerWiseOptions choose what LayerWise compares.
type LayerWiseOptions struct {
	Options
	// Layers are the layers to compare; nil means all.
	Layers []int
	// States is "reference" (the reference model's hidden states on
	// Tokens), "random" (seeded synthetic states) or "" to choose: the
	// reference states when the reference run up to the deepest chosen
	// layer reads at most AutoStatesBudget weights, else random ones.
	States string
	// Tokens feed the reference run.
	Tokens []int
	// Samples is the number of random states per layer (default 64).
	Samples int
	// Seed seeds the random states; layer l uses the stream (Seed, l).
	Seed uint64
}

// AutoStatesBudget is the most weights an automatic choice of states lets
// the reference run read before the deepest chosen layer is compared: the
// embeddings and about two full-width Mixtral layers.
const AutoStatesBudget = 4e9

// DefaultSamples is the number of random states when none is given.
const DefaultSamples = 64

// LayerWise feeds the same MoE inputs through the reference and candidate
// MoE blocks of each chosen layer and compares outputs and routing. It
// never holds more than one layer's shared weights and one expert of each
// model: experts are read one at a time and dropped after use. A cancelled
// ctx stops it within a fraction of a layer, with ctx's error.
func LayerWise(ctx context.Context, ref, cand *Model, o LayerWiseOptions) (_ *Report, err error) {
	defer func() { err = safetext.Error(err) }() // names from the files may be quoted
	if err := compatible(ref, cand); err != nil {
		return nil, err
	}
	d := ref.Source.Dims()
	layers, err := checkLayers(o.Layers, d.Layers)
	if err != nil {
		return nil, err
	}
	states := o.States
	deepest := layers[len(layers)-1]
	if states == "" {
		states = "random"
		if len(o.Tokens) > 0 && weightsThrough(d, deepest) <= AutoStatesBudget {
			states = "reference"
		}
	}
	r := &Report{Mode: "layer-wise", Reference: ref.info(), Candidate: cand.info(), Arithmetic: o.Arithmetic.String()}
	start := time.Now()
	switch states {
	case "reference":
		if len(o.Tokens) == 0 {
			return nil, fmt.Errorf("validate: reference states need tokens")
		}
		r.States = &StatesInfo{Source: "reference"}
		r.Tokens = len(o.Tokens)
		var compareErr error // already names its model
		want := map[int]bool{}
		for _, l := range layers {
			want[l] = true
		}
		_, err := forward.RunStreamed(ctx, ref.Source, o.Tokens, forward.StreamOptions{
			Options: forward.Options{Workers: o.Workers, Arithmetic: o.Arithmetic},
			Layers:  deepest + 1,
			OnLayer: func(l int, lr *forward.LayerResult) error {
				defer o.progress(l+1, deepest+1)
				if !want[l] {
					return nil
				}
				st, err := compareLayer(ctx, l, lr.MoEInput, lr.MoE, ref, cand, o.Options)
				if err != nil {
					compareErr = err
					return err
				}
				r.Layers = append(r.Layers, st)
				if l == deepest {
					return errDone // the output head is not needed
				}
				return nil
			},
		})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if compareErr != nil {
			return nil, compareErr
		}
		if err != nil && !errors.Is(err, errDone) {
			return nil, fmt.Errorf("%s: %w", ref.Path, err)
		}
	case "random":
		n := o.Samples
		if n <= 0 {
			n = DefaultSamples
		}
		r.States = &StatesInfo{Source: "random", Seed: o.Seed}
		r.Tokens = n
		for i, l := range layers {
			x, m, err := randomLayer(ctx, ref, l, n, o.Seed, o.Options)
			if err != nil {
				return nil, err
			}
			st, err := compareLayer(ctx, l, x, m, ref, cand, o.Options)
			if err != nil {
				return nil, err
			}
			r.Layers = append(r.Layers, st)
			o.progress(i+1, len(layers))
		}
	default:
		return nil, fmt.Errorf("validate: states %q: want reference, random or empty", states)
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// pieces runs layer l's blocks with o's workers and arithmetic.
func (o Options) pieces(l int) forward.LayerPieces {
	return forward.LayerPieces{Layer: l, Workers: o.Workers, Arithmetic: o.Arithmetic}
}

// errDone ends a reference run once the deepest chosen layer is compared.
var errDone = errors.New("done")

// randomLayer draws n random states for layer l of ref and runs ref's MoE
// block on them.
func randomLayer(ctx context.Context, ref *Model, l, n int, seed uint64, o Options) ([][]float32, *forward.MoEResult, error) {
	d := ref.Source.Dims()
	lw, err := ref.Source.LayerShared(l)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: layer %d: %w", ref.Path, l, err)
	}
	if len(lw.FFNNorm) != d.Hidden {
		return nil, nil, fmt.Errorf("%s: layer %d: ffn norm has %d values, want %d", ref.Path, l, len(lw.FFNNorm), d.Hidden)
	}
	x, err := RandomStates(ctx, lw.FFNNorm, n, seed, uint64(l))
	if err != nil {
		return nil, nil, err
	}
	m, err := o.pieces(l).MoE(ctx, lw.Router, d, x, func(e int) (*forward.Expert, error) { return ref.Source.Expert(l, e) })
	if err != nil {
		return nil, nil, fmt.Errorf("%s: layer %d: %w", ref.Path, l, err)
	}
	return x, m, nil
}

// compareLayer runs the candidate's MoE block of layer l on x and compares
// it with the reference block's result m.
func compareLayer(ctx context.Context, l int, x [][]float32, m *forward.MoEResult, ref, cand *Model, o Options) (LayerStats, error) {
	if t, i, bad := firstNonFinite(m.Out); bad {
		return LayerStats{}, fmt.Errorf("validate: %s: layer %d MoE output [%d][%d] is %v", ref.Path, l, t, i, m.Out[t][i])
	}
	cw, err := cand.Source.LayerShared(l)
	if err != nil {
		return LayerStats{}, fmt.Errorf("%s: layer %d: %w", cand.Path, l, err)
	}
	cm, err := o.pieces(l).MoE(ctx, cw.Router, cand.Source.Dims(), x, func(e int) (*forward.Expert, error) { return cand.Source.Expert(l, e) })
	if err != nil {
		return LayerStats{}, fmt.Errorf("%s: layer %d: %w", cand.Path, l, err)
	}
	if t, i, bad := firstNonFinite(cm.Out); bad {
		return LayerStats{}, fmt.Errorf("validate: %s: layer %d MoE output [%d][%d] is %v", cand.Path, l, t, i, cm.Out[t][i])
	}
	st := LayerStats{RoutingStats: compareRouting(l, m.TopK, cm.TopK, m.Weights, cm.Weights)}
	st.RelError, st.Cosine, st.MaxAbsError = compareOutputs(m.Out, cm.Out)
	return st, nil
}

// checkLayers validates and sorts a layer list; nil means all layers.
func checkLayers(layers []int, n int) ([]int, error) {
	if layers == nil {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("validate: no layers chosen")
	}
	out := slices.Sorted(slices.Values(layers))
	out = slices.Compact(out)
	if out[0] < 0 || out[len(out)-1] >= n {
		return nil, fmt.Errorf("validate: layers %v: the model has layers 0..%d", layers, n-1)
	}
	return out, nil
}

// weightsThrough counts the weights a reference run reads to reach the
// end of layer l: the embeddings and layers 0..l.
func weightsThrough(d forward.Dims, l int) float64 {
	h, q, kv := float64(d.Hidden), float64(d.Heads*d.HeadDim), float64(d.KVHeads*d.HeadDim)
	experts := float64(max(d.Experts, 1))
	layer := 2*h*q + 2*h*kv + 2*h + experts*h + experts*3*h*float64(d.Intermediate)
	return float64(d.Vocab)*h + float64(l+1)*layer
}

// RandomStates returns n synthetic MoE inputs for a layer whose
// post-attention norm has weight normW: x = normW ⊙ z / rms(z) with z a
// standard normal vector drawn from the PCG stream (seed, stream). The
// norm's output always has this form (a vector of RMS 1 scaled by the norm
// weight), so each dimension has the spread real inputs have on average,
// |normW_i|; what random directions lack is the structure of real
// activations (outlier dimensions, correlation with the router), which is
// why reference states are preferred when the reference can be run.
// Drawing millions of normals takes a while, so ctx is checked as it goes.
func RandomStates(ctx context.Context, normW []float32, n int, seed, stream uint64) ([][]float32, error) {
	rng := rand.New(rand.NewPCG(seed, stream))
	out := make([][]float32, n)
	z := make([]float64, len(normW))
	for t := range out {
		if t%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ss float64
		for i := range z {
			z[i] = rng.NormFloat64()
			ss += z[i] * z[i]
		}
		inv := 1 / math.Sqrt(ss/float64(len(z)))
		out[t] = make([]float32, len(normW))
		for i, w := range normW {
			out[t][i] = w * float32(z[i]*inv)
		}
	}
	return out, nil
}
