package quant

import (
	"fmt"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// ggml's outputs with and without importance weights for the IQ4, MXFP4 and
// ternary types (testdata/ggml-golden-imatrix/README.md), checked as the
// grid types' are.

var lowBitTypes = []ggml.Type{ggml.IQ4_NL, ggml.IQ4_XS, ggml.MXFP4, ggml.TQ1_0, ggml.TQ2_0}

func TestLowBitGolden(t *testing.T) {
	for _, typ := range lowBitTypes {
		for _, in := range imatrixGoldenInputs {
			for _, wname := range imatrixGoldenWeights {
				name := in.name + "." + typ.String()
				if wname != "" {
					name += "." + wname
				}
				for _, simd := range neighbourPaths() {
					t.Run(fmt.Sprintf("%s/simd=%v", name, simd), func(t *testing.T) {
						defer useNeighbourPath(simd)()
						checkImatrixGolden(t, typ, in.name, in.cols, wname)
					})
				}
			}
		}
	}
}
