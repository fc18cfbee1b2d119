package validate

import (
	"context"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// TestLowBitGGUF reads tiny-mixtral's IQ4_XS, IQ4_NL and MXFP4_MOE files
// back through the forward pass and compares them with the original: a
// real, moderate loss, at the bits per weight of the type mix.
func TestLowBitGGUF(t *testing.T) {
	ref := testutil.TinyReference(t)
	tests := []struct {
		ft       ggml.FileType
		min, max float64 // bits per weight of the whole file
	}{
		{ggml.FileTypeIQ4_XS, 4.25, 5.5},
		{ggml.FileTypeIQ4_NL, 4.5, 5.5},
		{ggml.FileTypeMXFP4_MOE, 4.25, 5.5},
	}
	for _, tt := range tests {
		t.Run(tt.ft.String(), func(t *testing.T) {
			cand := open(t, writeGGUF(t, tinyDir, tt.ft))
			r, err := EndToEnd(context.Background(), open(t, tinyDir), cand, ref.InputIDs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			l := r.Logits
			t.Logf("%v: KLD mean %.4g p99 %.4g max %.4g, top-1 %.3f, ppl %.3f → %.3f, %.2f bits/weight",
				tt.ft, l.KLD.Mean, l.KLD.P99, l.KLD.Max, l.Top1Agreement, l.PerplexityReference, l.PerplexityCandidate, r.Candidate.BitsPerWeight)
			if !(l.KLD.Mean > 0 && l.KLD.Mean < 0.5 && l.KLD.Mean <= l.KLD.P99 && l.KLD.P99 <= l.KLD.Max) {
				t.Errorf("implausible KLD %+v", l.KLD)
			}
			if l.Top1Agreement < 0.5 || l.Top1Agreement > 1 {
				t.Errorf("top-1 agreement %v", l.Top1Agreement)
			}
			if b := r.Candidate.BitsPerWeight; b < tt.min || b > tt.max {
				t.Errorf("%v at %v bits/weight, want [%v, %v]", tt.ft, b, tt.min, tt.max)
			}
			for _, s := range r.Routing {
				if s.Agreement < 0.5 || s.Overlap < s.Agreement || s.WeightL1 <= 0 {
					t.Errorf("implausible routing %+v", s)
				}
			}
		})
	}
}
