package forward

import (
	"errors"
	"fmt"
)

// RopeStyle selects how rotary embeddings pair the dimensions of a head.
type RopeStyle int

const (
	// RopeNeoX rotates dimension i with dimension i+headDim/2
	// (transformers' rotate_half). Hugging Face checkpoints use it.
	RopeNeoX RopeStyle = iota
	// RopeNormal rotates adjacent pairs (2i, 2i+1). llama.cpp's converter
	// permutes q/k rows so that GGUF weights expect this style.
	RopeNormal
)

func (s RopeStyle) String() string {
	switch s {
	case RopeNeoX:
		return "neox"
	case RopeNormal:
		return "normal"
	}
	return fmt.Sprintf("RopeStyle(%d)", int(s))
}

// Dims are the shape hyperparameters of a model.
type Dims struct {
	Hidden, Intermediate, Layers int
	Heads, KVHeads, HeadDim      int
	// Experts is the number of local experts; 0 or 1 means a dense MLP.
	Experts, TopK int
	Vocab         int
	// SlidingWindow limits attention to the last SlidingWindow positions
	// (the query's own included); 0 means unlimited.
	SlidingWindow int
	RopeTheta     float64
	RMSEps        float64
	RopeStyle     RopeStyle
	// QKNorm: each head of q and k is RMS-normalised (weights QNorm,
	// KNorm) before RoPE, as in Qwen3.
	QKNorm bool
	// TopKUnnormalized keeps the chosen experts' softmax weights as they
	// are instead of renormalising them to sum to 1.
	TopKUnnormalized bool
}

// Dense reports whether the layers hold one MLP instead of routed experts.
func (d Dims) Dense() bool { return d.Experts <= 1 }

// Check rejects dimensions the forward pass cannot run with.
func (d Dims) Check() error {
	switch {
	case d.Hidden <= 0, d.Intermediate <= 0, d.Layers <= 0, d.Vocab <= 0:
		return fmt.Errorf("forward: hidden, intermediate, layers and vocab must be positive (%+v)", d)
	case d.Heads <= 0, d.KVHeads <= 0, d.Heads%d.KVHeads != 0:
		return fmt.Errorf("forward: %d heads not divisible into %d kv heads", d.Heads, d.KVHeads)
	case d.HeadDim <= 0, d.HeadDim%2 != 0:
		return fmt.Errorf("forward: head dim %d must be positive and even", d.HeadDim)
	case !d.Dense() && (d.TopK <= 0 || d.TopK > d.Experts):
		return fmt.Errorf("forward: top-k %d out of range for %d experts", d.TopK, d.Experts)
	case d.SlidingWindow < 0:
		return fmt.Errorf("forward: negative sliding window %d", d.SlidingWindow)
	case !(d.RopeTheta > 0), !(d.RMSEps >= 0):
		return fmt.Errorf("forward: bad rope theta %v or rms eps %v", d.RopeTheta, d.RMSEps)
	case d.RopeStyle != RopeNeoX && d.RopeStyle != RopeNormal:
		return fmt.Errorf("forward: unknown %v", d.RopeStyle)
	}
	return nil
}

// numExperts is the number of expert MLPs per layer (1 when dense).
func (d Dims) numExperts() int {
	if d.Dense() {
		return 1
	}
	return d.Experts
}

// Expert is one SwiGLU MLP in Hugging Face orientation: each matrix is
// row-major [out][in], in float32 or, when its QuantMatrix is set instead,
// in its stored block format.
type Expert struct {
	Gate []float32 // w1 / gate_proj [Intermediate][Hidden]
	Down []float32 // w2 / down_proj [Hidden][Intermediate]
	Up   []float32 // w3 / up_proj   [Intermediate][Hidden]

	QGate, QDown, QUp *QuantMatrix
}

// readErr returns the first error reading the expert's lazily read
// matrices, if any.
func (x *Expert) readErr() error {
	return errors.Join(x.QGate.readErr(), x.QDown.readErr(), x.QUp.readErr())
}

// panels returns the expert's matrices for gemm.
func (x *Expert) panels(d Dims) (gate, down, up weightPanels) {
	return panelsOf(x.QGate, x.Gate, d.Hidden), panelsOf(x.QDown, x.Down, d.Intermediate), panelsOf(x.QUp, x.Up, d.Hidden)
}

// panelsOf is the matrix q if set, else the float32 matrix w with rows of
// in values, for gemm.
func panelsOf(q *QuantMatrix, w []float32, in int) weightPanels {
	if q != nil {
		return q
	}
	return denseWeights{w, in}
}

// LayerWeights holds one decoder layer in Hugging Face orientation
// (matrices row-major [out][in]).
type LayerWeights struct {
	AttnNorm []float32 // input_layernorm [Hidden]
	Q        []float32 // [Heads*HeadDim][Hidden]
	K        []float32 // [KVHeads*HeadDim][Hidden]
	V        []float32 // [KVHeads*HeadDim][Hidden]
	O        []float32 // [Hidden][Heads*HeadDim]
	// QQ, QK, QV and QO, when set, hold the attention matrices in their
	// stored block format instead (Q, K, V and O are then nil), decoded
	// panel by panel by the products.
	QQ, QK, QV, QO *QuantMatrix
	FFNNorm        []float32 // post_attention_layernorm [Hidden]
	// QNorm and KNorm are the per-head q_norm and k_norm [HeadDim], only
	// with Dims.QKNorm.
	QNorm, KNorm []float32
	// Router is the gate [Experts][Hidden]; nil for a dense layer.
	Router []float32
	// Experts holds Experts entries, or exactly one for a dense layer.
	Experts []Expert
}

// Source supplies a model's weights. Layer is called once per layer, in
// order, and the forward pass drops each layer before asking for the next,
// so an implementation should read weights on demand rather than cache them.
type Source interface {
	Dims() Dims
	Embedding() ([]float32, error)  // [Vocab][Hidden]
	OutputNorm() ([]float32, error) // [Hidden]
	Output() ([]float32, error)     // lm_head [Vocab][Hidden]
	Layer(i int) (*LayerWeights, error)
}

func checkLen(what string, got []float32, want int) error {
	if len(got) != want {
		return fmt.Errorf("forward: %s has %d elements, want %d", what, len(got), want)
	}
	return nil
}

// checkAttention verifies the sizes of the norms and attention weights.
func (lw *LayerWeights) checkAttention(d Dims) error {
	h, q, kv := d.Hidden, d.Heads*d.HeadDim, d.KVHeads*d.HeadDim
	for _, c := range []struct {
		name       string
		w          []float32
		stored     *QuantMatrix
		rows, cols int
	}{
		{"attention norm", lw.AttnNorm, nil, 1, h},
		{"q", lw.Q, lw.QQ, q, h},
		{"k", lw.K, lw.QK, kv, h},
		{"v", lw.V, lw.QV, kv, h},
		{"attention output", lw.O, lw.QO, h, q},
		{"ffn norm", lw.FFNNorm, nil, 1, h},
	} {
		if c.stored != nil {
			if err := c.stored.check(c.name, c.rows, c.cols); err != nil {
				return err
			}
			continue
		}
		if err := checkLen(c.name, c.w, c.rows*c.cols); err != nil {
			return err
		}
	}
	if d.QKNorm {
		if err := checkLen("q norm", lw.QNorm, d.HeadDim); err != nil {
			return err
		}
		return checkLen("k norm", lw.KNorm, d.HeadDim)
	}
	return nil
}

// checkMoE verifies the sizes of the router and expert weights.
func (lw *LayerWeights) checkMoE(d Dims) error {
	if err := checkRouter(lw.Router, d); err != nil {
		return err
	}
	if len(lw.Experts) != d.numExperts() {
		return fmt.Errorf("forward: layer has %d experts, want %d", len(lw.Experts), d.numExperts())
	}
	for e := range lw.Experts {
		if err := checkExpert(&lw.Experts[e], d, e); err != nil {
			return err
		}
	}
	return nil
}

// checkRouter verifies the gate matrix: [Experts][Hidden], or nil for a
// dense layer.
func checkRouter(router []float32, d Dims) error {
	if d.Dense() {
		if router != nil {
			return fmt.Errorf("forward: dense layer has a router")
		}
		return nil
	}
	return checkLen("router", router, d.Experts*d.Hidden)
}

// checkExpert verifies the sizes of expert e's matrices.
func checkExpert(x *Expert, d Dims, e int) error {
	h, in := d.Hidden, d.Intermediate
	for _, c := range []struct {
		name      string
		w         []float32
		q         *QuantMatrix
		rows, col int
	}{{"gate", x.Gate, x.QGate, in, h}, {"down", x.Down, x.QDown, h, in}, {"up", x.Up, x.QUp, in, h}} {
		what := fmt.Sprintf("expert %d %s", e, c.name)
		if c.q != nil {
			if err := c.q.check(what, c.rows, c.col); err != nil {
				return err
			}
			continue
		}
		if err := checkLen(what, c.w, c.rows*c.col); err != nil {
			return err
		}
	}
	return nil
}

// Check verifies that every weight of the layer has the size d implies.
func (lw *LayerWeights) Check(d Dims) error {
	if err := lw.checkAttention(d); err != nil {
		return err
	}
	return lw.checkMoE(d)
}
