package arch

import (
	"fmt"
	"strconv"
	"strings"
)

// Part is the accounting bucket a tensor's parameters fall into.
type Part int

// The zero Part is PartUnknown, so an unclassified tensor never passes for
// a real one.
const (
	PartUnknown      Part = iota
	PartEmbedding         // token embedding table
	PartAttention         // projections, biases, q/k norms, sinks
	PartNorm              // layer norms and the final norm
	PartRouter            // expert gate (and its bias)
	PartExperts           // routed experts: each token uses top-k of them
	PartSharedExpert      // always-on experts of a mixture-of-experts layer
	PartDenseFFN          // MLP of a dense layer
	PartOutput            // LM head
	PartProjection        // a multi-token-prediction module's input projection
)

var partNames = [...]string{"unknown", "embedding", "attention", "norms", "router", "experts", "shared_experts", "dense_ffn", "output_head", "projection"}

func (p Part) String() string {
	if p >= 0 && int(p) < len(partNames) {
		return partNames[p]
	}
	return fmt.Sprintf("part(%d)", int(p))
}

// Scope says how many tensors of a declaration a model has.
type Scope int

const (
	ScopeModel  Scope = iota // one per model
	ScopeLayer               // one per layer (a stacked expert tensor is one per layer too)
	ScopeExpert              // one per layer and routed expert
)

// Packing names how a checkpoint stores a tensor when it is not a plain
// array of its parameters.
type Packing string

const (
	// PackMXFP4 is OpenAI's MXFP4 layout: NAME_blocks (U8, two 4-bit values
	// per byte, rows × cols/32 × 16) and NAME_scales (U8, one E8M0 exponent
	// per 32 values, rows × cols/32), the last dimension being the one the
	// blocks run along.
	PackMXFP4 Packing = "mxfp4"
)

// Tensor declares one weight of a family: its role, its names in the
// Hugging Face and GGUF layouts, the bucket it counts toward, its scope,
// the layers that have it and its shape. Name templates use {L} for the
// layer and {E} for the expert.
type Tensor struct {
	Role string
	HF   string
	GGUF string // llama.cpp's name; "" where mxq does not write this family
	// GGUFSplit is the older per-expert GGUF name of a routed expert's
	// tensor (blk.{L}.ffn_gate.{E}.weight), from before llama.cpp stacked
	// the experts of a layer; llama.cpp still reads it.
	GGUFSplit string
	Part      Part
	Scope     Scope
	// Tail marks a model-scope tensor stored after the layers.
	Tail bool
	// In reports whether layer has the tensor (nil: every layer, the
	// multi-token-prediction ones included). For model-scope tensors it is
	// called with layer -1.
	In func(m *Model, layer int) bool
	// Shape is the Hugging Face (row-major) shape of one tensor.
	Shape func(m *Model) []int64
	// Keys are the config keys the shape derives from, named when a
	// checkpoint disagrees.
	Keys []string
	// Packed is the checkpoint storage when the config's quantization
	// method matches it ("" for plain arrays).
	Packed Packing
	// DType is the safetensors dtype the checkpoint keeps this tensor in
	// whatever torch_dtype says ("" for torch_dtype).
	DType string
}

// maxIndex bounds layer and expert numbers parsed from names, so a hostile
// name cannot make a caller size a table from it.
const maxIndex = 1 << 16

// Expected is one tensor a checkpoint of a model must hold.
type Expected struct {
	Name   string
	Shape  []int64
	Role   string
	Part   Part
	Layer  int // -1 for model-scope tensors
	Expert int // -1 unless per expert
	MTP    bool
	Keys   []string
	Packed Packing
	DType  string
}

// Elements is the product of the shape.
func (e Expected) Elements() int64 {
	n := int64(1)
	for _, d := range e.Shape {
		n *= d
	}
	return n
}

// format fills a name template.
func format(tmpl string, layer, expert int) string {
	var b strings.Builder
	b.Grow(len(tmpl) + 8)
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 || i+3 > len(tmpl) || tmpl[i+2] != '}' || (tmpl[i+1] != 'L' && tmpl[i+1] != 'E') {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		if tmpl[i+1] == 'L' {
			b.WriteString(strconv.Itoa(layer))
		} else {
			b.WriteString(strconv.Itoa(expert))
		}
		tmpl = tmpl[i+3:]
	}
}

// match compares a dotted name with a template segment by segment; {L} and
// {E} segments must be canonical decimal numbers below maxIndex.
func match(tmpl, name string) (layer, expert int, ok bool) {
	layer, expert = -1, -1
	for {
		ts, trest, tmore := strings.Cut(tmpl, ".")
		ns, nrest, nmore := strings.Cut(name, ".")
		switch ts {
		case "{L}", "{E}":
			n, good := index(ns)
			if !good {
				return -1, -1, false
			}
			if ts == "{L}" {
				layer = n
			} else {
				expert = n
			}
		default:
			if ts != ns {
				return -1, -1, false
			}
		}
		if tmore != nmore {
			return -1, -1, false
		}
		if !tmore {
			return layer, expert, true
		}
		tmpl, name = trest, nrest
	}
}

func index(s string) (int, bool) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n >= maxIndex {
		return 0, false
	}
	return n, true
}
