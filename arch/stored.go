package arch

import "strings"

// Stored is one tensor as the model's Hugging Face checkpoint stores it.
// A quantized checkpoint stores some weights as several tensors (MXFP4
// blocks and scales, FP8 values and block scales); Params is the number of
// model parameters a stored tensor carries (0 for scales).
type Stored struct {
	Name   string
	Shape  []int64
	DType  string // safetensors dtype
	Params int64
	Bytes  int64
	Of     *Expected
}

// DTypeBytes maps a config torch_dtype to the safetensors dtype and its
// width; an absent or unknown one is taken as bfloat16.
func DTypeBytes(torchDType string) (string, int64) {
	switch strings.TrimPrefix(torchDType, "torch.") {
	case "float32":
		return "F32", 4
	case "float16":
		return "F16", 2
	}
	return "BF16", 2
}

// fp8Quantized reports whether a DeepSeek-style block-scaled FP8 checkpoint
// stores e in FP8: every linear weight of attention and the feed-forward
// blocks; embeddings, norms, routers, the MTP projection and the head stay
// in the model dtype.
func fp8Quantized(e *Expected) bool {
	if len(e.Shape) != 2 || !strings.HasSuffix(e.Name, ".weight") {
		return false
	}
	switch e.Part {
	case PartAttention, PartExperts, PartSharedExpert, PartDenseFFN:
		return true
	}
	return false
}

// StoredTensors lists the checkpoint's tensors as a config describes them,
// packed weights expanded to what is really stored.
func (m *Model) StoredTensors() []Stored { return m.StoredOf(m.HFTensors()) }

// StoredOf is StoredTensors for a list HFTensors already made.
func (m *Model) StoredOf(exp []Expected) []Stored {
	dtype, width := DTypeBytes(m.TorchDType)
	out := make([]Stored, 0, len(exp)+len(exp)/2)
	for i := range exp {
		e := &exp[i]
		n := e.Elements()
		if e.Packed != "" && string(e.Packed) == m.Quantization {
			if blocks, scales, ok := PackedShapes(e.Packed, e.Shape); ok {
				out = append(out,
					Stored{Name: e.Name + "_blocks", Shape: blocks, DType: "U8", Params: n, Bytes: n / 2, Of: e},
					Stored{Name: e.Name + "_scales", Shape: scales, DType: "U8", Bytes: n / 32, Of: e})
				continue
			}
		}
		if m.Quantization == "fp8" && len(m.BlockSize) == 2 && m.BlockSize[0] > 0 && m.BlockSize[1] > 0 && fp8Quantized(e) {
			br, bc := int64(m.BlockSize[0]), int64(m.BlockSize[1])
			sr, sc := (e.Shape[0]+br-1)/br, (e.Shape[1]+bc-1)/bc
			out = append(out,
				Stored{Name: e.Name, Shape: e.Shape, DType: "F8_E4M3", Params: n, Bytes: n, Of: e},
				Stored{Name: e.Name + "_scale_inv", Shape: []int64{sr, sc}, DType: "F32", Bytes: 4 * sr * sc, Of: e})
			continue
		}
		dt, w := dtype, width
		if e.DType == "F32" {
			dt, w = "F32", 4
		}
		out = append(out, Stored{Name: e.Name, Shape: e.Shape, DType: dt, Params: n, Bytes: n * w, Of: e})
	}
	return out
}
