package quantplan

import "github.com/mxq-dev/mxq/ggml"

// isIQ4 reports the two non-linear 4-bit file types, which share their
// per-tensor rules.
func isIQ4(f ggml.FileType) bool { return f == ggml.FileTypeIQ4_NL || f == ggml.FileTypeIQ4_XS }

// isTernary reports the TQ1_0 and TQ2_0 file types.
func isTernary(f ggml.FileType) bool { return f == ggml.FileTypeTQ1_0 || f == ggml.FileTypeTQ2_0 }

// mxfp4MoEType is MXFP4_MOE's rule for every quantizable tensor but the
// output: MXFP4 for merged expert tensors (ne[2] > 1), Q8_0 for the rest,
// token embedding included.
func mxfp4MoEType(t TensorDesc) (ggml.Type, string) {
	if len(t.Dims) > 2 && t.Dims[2] > 1 {
		return ggml.MXFP4, "MXFP4_MOE: expert tensor (ne[2] > 1) → MXFP4"
	}
	return ggml.Q8_0, "MXFP4_MOE: not an expert tensor → Q8_0"
}
