package convert

import (
	"fmt"
	"slices"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// hfTensor is one tensor of the Hugging Face layout of the source's model
// and the stored rows it is read from.
type hfTensor struct {
	model.ExpectedTensor
	src part
}

// hfView maps the source onto the Hugging Face tensors its config implies,
// in state_dict order: one to one for a safetensors checkpoint, and for a
// GGUF with merged experts split into their slabs and the q/k rows put
// back in Hugging Face order (see hfFromGGUF).
func hfView(src *Source) ([]hfTensor, error) {
	if src.IsGGUF() {
		return hfFromGGUF(src)
	}
	return hfFromCheckpoint(src.Config, src.ckpt)
}

// hfFromCheckpoint finds every tensor cfg implies in ckpt, checks its
// shape, and checks that ckpt holds nothing else.
func hfFromCheckpoint(cfg *model.Config, ckpt *safetensors.Checkpoint) ([]hfTensor, error) {
	used := map[string]bool{}
	var out []hfTensor
	for _, e := range cfg.HFTensors() {
		t, ok := ckpt.Lookup(e.Name)
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: tensor %s is missing", ckpt.Dir, e.Name)
		}
		if !slices.Equal(t.Shape, e.Shape) {
			return nil, fmt.Errorf("%s: tensor %s: shape %v, but config.json implies %v", t.File.Name, e.Name, t.Shape, e.Shape)
		}
		m, err := hfMatrix(t)
		if err != nil {
			return nil, err
		}
		used[e.Name] = true
		out = append(out, hfTensor{ExpectedTensor: e, src: part{src: m}})
	}
	var names []string
	for _, t := range ckpt.Tensors() {
		names = append(names, t.Name)
	}
	if err := checkAllUsed("checkpoint "+ckpt.Dir, cfg.Architecture, names, used); err != nil {
		return nil, err
	}
	return out, nil
}

// sourceDType is the dtype an HF source is stored in, when every tensor
// shares one of F16 and BF16; otherwise "".
func sourceDType(view []hfTensor) safetensors.DType {
	var d safetensors.DType
	for i, t := range view {
		var x safetensors.DType
		switch t.src.src.typ {
		case ggml.BF16:
			x = safetensors.BF16
		case ggml.F16:
			x = safetensors.F16
		default:
			return ""
		}
		if i > 0 && x != d {
			return ""
		}
		d = x
	}
	return d
}
