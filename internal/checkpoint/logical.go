package checkpoint

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant/intq"
)

// Tensor is one logical tensor: a weight as the model uses it, whatever
// number of stored tensors hold it.
type Tensor struct {
	// Name is the Hugging Face name ("….weight") or the GGUF name.
	Name string
	// Shape is the logical shape: outermost first for safetensors, ggml's
	// ne (innermost first) for GGUF.
	Shape  []int64
	Params int64
	// DType is the stored dtype, or for a quantized weight its layout,
	// bits and group ("gptq int4 g128").
	DType string
	// DTypes are the dtypes of the stored tensors, in their order.
	DTypes []string
	// Bytes is the stored data: packed weights, scales, zero points, shapes
	// and group indices included; one expert's share of a stacked tensor.
	Bytes int64
	// File is the base name of the file holding its first stored tensor.
	File string
	// Stored names the stored tensors.
	Stored []string
}

// Logical groups stored tensors (a checkpoint's, in file order) into
// logical tensors. With q nil
// every stored tensor is one. Otherwise the tensors a layout writes for one
// module (qweight, qzeros, scales, g_idx for GPTQ, …) become the module's
// weight with the shape the layout's own codec reads from them, and MLX's
// stacked experts (block_sparse_moe.switch_mlp.*) become one weight per
// expert under its Hugging Face name. Only compressed-tensors' 16-byte
// weight_shape values are read from the data.
func Logical(stored []safetensors.Tensor, q *intq.Quantization) ([]Tensor, error) {
	if q == nil {
		out := make([]Tensor, 0, len(stored))
		for _, t := range stored {
			out = append(out, plain(t))
		}
		return out, nil
	}
	suffixes := quantizedSuffixes(q)
	type module struct {
		name    string
		tensors []safetensors.Tensor
	}
	var order []*module
	modules := map[string]*module{}
	var out []Tensor
	at := map[string]int{} // module → index in out of its first tensor
	for _, t := range stored {
		name, ok := quantizedPart(t, suffixes)
		if !ok {
			out = append(out, plain(t))
			continue
		}
		m := modules[name]
		if m == nil {
			m = &module{name: name}
			modules[name] = m
			order = append(order, m)
			at[name] = len(out)
			out = append(out, Tensor{}) // filled below, keeping file order
		}
		m.tensors = append(m.tensors, t)
	}
	expanded := map[int][]Tensor{}
	for _, m := range order {
		ts, err := logicalModule(m.name, m.tensors, q)
		if err != nil {
			return nil, err
		}
		expanded[at[m.name]] = ts
	}
	var result []Tensor
	for i, t := range out {
		if ts, ok := expanded[i]; ok {
			result = append(result, ts...)
			continue
		}
		if layer, role, ok := model.ClassifyMLXExpertModule(strings.TrimSuffix(t.Name, ".weight")); ok && q.Method == "mlx" {
			// An unquantized stacked MLX weight.
			ts, err := splitExperts(t, layer, role, t.Shape)
			if err != nil {
				return nil, err
			}
			result = append(result, ts...)
			continue
		}
		result = append(result, t)
	}
	return result, nil
}

func plain(t safetensors.Tensor) Tensor { return FromInfo(&t.TensorInfo, filepath.Base(t.File.Name)) }

// FromInfo is the logical tensor of a stored tensor that holds a weight as
// it is, in file.
func FromInfo(t *safetensors.TensorInfo, file string) Tensor {
	return Tensor{
		Name: t.Name, Shape: slices.Clone(t.Shape), Params: t.NumElements(), DType: string(t.DType),
		DTypes: []string{string(t.DType)}, Bytes: t.ByteSize(), File: file, Stored: []string{t.Name},
	}
}

// quantizedSuffixes lists every tensor name the layout writes after a
// module path, over symmetric and asymmetric schemes.
func quantizedSuffixes(q *intq.Quantization) []string {
	var all []string
	for _, sym := range []bool{true, false} {
		s := q.Scheme
		s.Symmetric = sym
		for _, suffix := range q.Layout().Suffixes(s) {
			if !slices.Contains(all, suffix) {
				all = append(all, suffix)
			}
		}
	}
	return all
}

// quantizedPart returns the module path of a stored tensor of a quantized
// module. A floating-point ".weight" is a weight left unquantized, not part
// of a quantized module.
func quantizedPart(t safetensors.Tensor, suffixes []string) (module string, ok bool) {
	for _, s := range suffixes {
		m, found := strings.CutSuffix(t.Name, "."+s)
		if !found || m == "" {
			continue
		}
		if s == "weight" && isFloat(t.DType) {
			return "", false
		}
		return m, true
	}
	return "", false
}

func isFloat(d safetensors.DType) bool {
	switch d {
	case "F64", "F32", "F16", "BF16":
		return true
	}
	return false
}

// maxShapeBytes bounds what is read of weight_shape: two I64 values.
const maxShapeBytes = 16

// logicalModule is the logical weight (or, for MLX's stacked experts, the
// weights) that a quantized module's stored tensors hold.
func logicalModule(module string, tensors []safetensors.Tensor, q *intq.Quantization) ([]Tensor, error) {
	file := tensors[0].File.Name
	fail := func(format string, args ...any) ([]Tensor, error) {
		return nil, fmt.Errorf("checkpoint: %s: module %s: %s", file, module, fmt.Sprintf(format, args...))
	}
	scheme, ok := q.SchemeFor(module)
	if !ok {
		return fail("stored as %s tensors, but the quantization config leaves it unquantized", q.Method)
	}
	layout := q.Layout()
	layer, role, stacked := model.ClassifyMLXExpertModule(module)
	stacked = stacked && q.Method == "mlx"
	experts := int64(1)
	if stacked {
		experts = -1
	}
	var parts []intq.Stored
	t := Tensor{DType: label(q.Method, scheme), File: filepath.Base(file)}
	for _, st := range tensors {
		suffix := strings.TrimPrefix(st.Name, module+".")
		shape := slices.Clone(st.Shape)
		if stacked {
			if len(shape) < 2 || (experts > 0 && shape[0] != experts) {
				return fail("tensor %s has shape %v; stacked experts need the same expert count first in every tensor", st.Name, st.Shape)
			}
			experts, shape = shape[0], shape[1:]
		}
		p := intq.Stored{Suffix: suffix, DType: string(st.DType), Shape: shape}
		if suffix == "weight_shape" && st.ByteSize() <= maxShapeBytes {
			p.Data = make([]byte, st.ByteSize())
			if _, err := io.ReadFull(st.Open(), p.Data); err != nil {
				return fail("tensor %s: %v", st.Name, err)
			}
		}
		if suffix == layout.ScaleSuffix() {
			scheme.ScaleDType = p.DType
		}
		parts = append(parts, p)
		t.DTypes = append(t.DTypes, p.DType)
		t.Bytes += st.ByteSize()
		t.Stored = append(t.Stored, st.Name)
	}
	out, in, err := layout.LogicalShape(parts, scheme)
	if err != nil {
		return fail("%v", err)
	}
	t.Shape = []int64{int64(out), int64(in)}
	t.Params = int64(out) * int64(in)
	if !stacked {
		t.Name = module + ".weight"
		return []Tensor{t}, nil
	}
	t.Params *= experts
	t.Shape = []int64{experts, int64(out), int64(in)}
	return splitExperts(t, layer, role, t.Shape)
}

// maxExperts bounds the experts a stacked tensor may claim (the largest
// published MoE has 384), so that a hostile shape cannot make the list of
// logical tensors huge.
const maxExperts = 1 << 12

// splitExperts divides a tensor stacking every expert of role in layer
// (shape [experts, …]) into one tensor per expert under its Hugging Face
// name.
func splitExperts(t Tensor, layer int, role model.Role, shape []int64) ([]Tensor, error) {
	if len(shape) < 2 || shape[0] <= 0 || shape[0] > maxExperts || t.Bytes%shape[0] != 0 || t.Params%shape[0] != 0 {
		return nil, fmt.Errorf("checkpoint: %s: tensor %s: shape %v does not stack up to %d experts evenly", t.File, t.Stored[0], shape, maxExperts)
	}
	n := shape[0]
	out := make([]Tensor, 0, n)
	for e := range n {
		x := t
		x.Name = model.HFName(model.TensorRole{Role: role, Layer: layer, Expert: int(e)})
		if x.Name == "" {
			return nil, fmt.Errorf("checkpoint: %s: tensor %s: layer %d expert %d has no Hugging Face name", t.File, t.Stored[0], layer, e)
		}
		x.Shape = slices.Clone(shape[1:])
		x.Params, x.Bytes = t.Params/n, t.Bytes/n
		out = append(out, x)
	}
	return out, nil
}
