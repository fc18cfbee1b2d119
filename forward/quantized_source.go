package forward

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/quant/intq"
)

// qSource reads a safetensors checkpoint whose Linear weights may be
// stored quantized (compressed-tensors, GPTQ or MLX), dequantizing each one
// through quant/intq when it is asked for.
type qSource struct {
	roleSource
	ckpt *safetensors.Checkpoint
	cfg  *model.Config
	q    *intq.Quantization
}

// FromQuantizedSafetensors returns a Source over a safetensors checkpoint
// with Hugging Face names whose weights are stored as q describes (nil: all
// floating point, as FromSafetensors). For each weight, a floating-point
// "<module>.weight" is read as is; otherwise the module's quantized tensors
// are decoded with q's layout: weight_packed/weight_scale/weight_shape
// (compressed-tensors), qweight/qzeros/scales/g_idx (GPTQ), or a U32
// weight with scales and biases (MLX, which also stacks each layer's
// experts into block_sparse_moe.switch_mlp.{gate,down,up}_proj tensors;
// one expert's slab is read at a time). The checkpoint must stay open while
// the Source is used.
func FromQuantizedSafetensors(ckpt *safetensors.Checkpoint, cfg *model.Config, q *intq.Quantization) (ExpertSource, error) {
	d := DimsFromConfig(cfg)
	if err := d.Check(); err != nil {
		return nil, err
	}
	s := &qSource{ckpt: ckpt, cfg: cfg, q: q}
	s.roleSource = roleSource{dims: d, get: s.tensor}
	return s, nil
}

func isFloatDType(d safetensors.DType) bool {
	switch d {
	case "F32", "F16", "BF16", "F64":
		return true
	}
	return false
}

func (s *qSource) tensor(r model.TensorRole) ([]float32, error) {
	name, want, err := hfTarget(s.cfg, r)
	if err != nil {
		return nil, err
	}
	if t, ok := s.ckpt.Lookup(name); ok && isFloatDType(t.DType) {
		return readFloat(t, name, want)
	}
	if s.q == nil || len(want) != 2 {
		return nil, fmt.Errorf("forward: checkpoint %s: tensor %q missing", s.ckpt.Dir, name)
	}
	out, in := int(want[0]), int(want[1])
	if s.q.Method == "mlx" && r.Expert >= 0 {
		module := model.MLXExpertModule(r.Layer, r.Role)
		if t, ok := s.ckpt.Lookup(module + ".weight"); ok {
			if !isFloatDType(t.DType) {
				return s.decode(module, r.Expert, out, in)
			}
			// a stacked weight MLX left unquantized
			st, err := readStored(t, "weight", r.Expert, s.cfg.NumExperts)
			if err != nil {
				return nil, err
			}
			return floatSlab(st, t.File.Name, module, out, in)
		}
	}
	return s.decode(strings.TrimSuffix(name, ".weight"), -1, out, in)
}

// decode reads and dequantizes the out×in weight of module; expert >= 0
// selects that slab of stacked tensors (MLX switch_mlp).
func (s *qSource) decode(module string, expert, out, in int) ([]float32, error) {
	scheme, ok := s.q.SchemeFor(module)
	if !ok {
		return nil, fmt.Errorf("forward: checkpoint %s: %s.weight missing, and the quantization config leaves %s unquantized", s.ckpt.Dir, module, module)
	}
	layout := s.q.Layout()
	names, scaleName := layout.Suffixes(scheme), layout.ScaleSuffix()
	if names == nil {
		return nil, fmt.Errorf("forward: checkpoint %s: module %s: the quantization config gives it %s, which %s cannot store", s.ckpt.Dir, module, scheme, layout.Name())
	}
	stored := make([]intq.Stored, 0, len(names))
	file := s.ckpt.Dir
	for _, suffix := range names {
		t, ok := s.ckpt.Lookup(module + "." + suffix)
		if !ok {
			return nil, fmt.Errorf("forward: checkpoint %s: %s.weight missing, and so is its quantized tensor %s.%s", s.ckpt.Dir, module, module, suffix)
		}
		file = t.File.Name
		st, err := readStored(t, suffix, expert, s.cfg.NumExperts)
		if err != nil {
			return nil, err
		}
		if suffix == scaleName {
			scheme.ScaleDType = st.DType
		}
		stored = append(stored, st)
	}
	if s.q.Method == "compressed-tensors" {
		if err := checkWeightShape(&stored[2], out, in); err != nil {
			return nil, fmt.Errorf("forward: %s: %s.weight_shape: %w", file, module, err)
		}
	}
	w, err := layout.Dequantize(stored, out, in, scheme)
	if err != nil {
		return nil, fmt.Errorf("forward: %s: module %s: %w", file, module, err)
	}
	return w, nil
}

// readStored reads one stored tensor, or slab expert of a stacked one.
func readStored(t safetensors.Tensor, suffix string, expert, experts int) (intq.Stored, error) {
	st := intq.Stored{Suffix: suffix, DType: string(t.DType), Shape: slices.Clone(t.Shape)}
	r := io.Reader(t.Open())
	n := t.End - t.Begin
	if expert >= 0 {
		if len(t.Shape) < 2 || t.Shape[0] != int64(experts) {
			return st, fmt.Errorf("forward: %s: tensor %q has shape %v, want %d stacked experts first", t.File.Name, t.Name, t.Shape, experts)
		}
		n /= int64(experts)
		r = io.NewSectionReader(t.Open(), int64(expert)*n, n)
		st.Shape = st.Shape[1:]
	}
	st.Data = make([]byte, n)
	if _, err := io.ReadFull(r, st.Data); err != nil {
		return st, fmt.Errorf("forward: %s: tensor %q: %w", t.File.Name, t.Name, err)
	}
	return st, nil
}

// checkWeightShape verifies compressed-tensors' weight_shape and turns an
// I32 one (which some writers store) into the I64 intq expects.
func checkWeightShape(st *intq.Stored, out, in int) error {
	if len(st.Shape) != 1 || st.Shape[0] != 2 {
		return fmt.Errorf("shape %v, want [2]", st.Shape)
	}
	var v [2]int64
	switch st.DType {
	case "I64":
		v[0], v[1] = int64(binary.LittleEndian.Uint64(st.Data)), int64(binary.LittleEndian.Uint64(st.Data[8:]))
	case "I32":
		v[0], v[1] = int64(int32(binary.LittleEndian.Uint32(st.Data))), int64(int32(binary.LittleEndian.Uint32(st.Data[4:])))
		st.DType = "I64"
		st.Data = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(v[0])), uint64(v[1]))
	default:
		return fmt.Errorf("dtype %s, want I64 or I32", st.DType)
	}
	if v[0] != int64(out) || v[1] != int64(in) {
		return fmt.Errorf("says %v, but the config implies [%d %d]", v, out, in)
	}
	return nil
}

// floatSlab decodes one expert's slab of a floating-point stacked tensor.
func floatSlab(st intq.Stored, file, module string, out, in int) ([]float32, error) {
	typ, ok := map[string]ggml.Type{"F32": ggml.F32, "F16": ggml.F16, "BF16": ggml.BF16}[st.DType]
	if !ok || !sameShape(st.Shape, []int64{int64(out), int64(in)}) {
		return nil, fmt.Errorf("forward: %s: %s.weight is %s %v per expert, want U32 or a float type [%d %d]", file, module, st.DType, st.Shape, out, in)
	}
	dst := make([]float32, out*in)
	if err := quant.DequantizeRows(typ, st.Data, in, dst, runtime.GOMAXPROCS(0)); err != nil {
		return nil, fmt.Errorf("forward: %s: %s.weight: %w", file, module, err)
	}
	return dst, nil
}

func (s *qSource) Output() ([]float32, error) {
	if !s.cfg.TieWordEmbeddings {
		name := s.cfg.HFName(globalRole(model.RoleOutput))
		module := strings.TrimSuffix(name, ".weight")
		names := []string{name}
		if s.q != nil {
			// the packed weight, which the layout names first
			if suffixes := s.q.Layout().Suffixes(s.q.Scheme); len(suffixes) > 0 {
				names = append(names, module+"."+suffixes[0])
			}
		}
		for _, n := range names {
			if _, ok := s.ckpt.Lookup(n); ok {
				return s.tensor(globalRole(model.RoleOutput))
			}
		}
	}
	return s.Embedding()
}
