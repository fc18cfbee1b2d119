package convert

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxq-dev/mxq/internal/synth"
)

// BenchmarkSafetensors writes a synthetic Mixtral layer at full width (two
// experts of 14336×4096, attention, a 32000-token embedding and head, BF16)
// in each output form and reports source weights per second, everything
// included: reading, quantizing, validating, writing and hashing.
//
//	go test -run '^$' -bench Safetensors -benchtime 1x ./convert/
func BenchmarkSafetensors(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "layer")
	cfg := synth.FullWidthLayer
	cfg.Experts = 2
	if err := synth.Write(context.Background(), dir, cfg, "../testdata/mixtral-8x7b-meta", 1); err != nil {
		b.Fatal(err)
	}
	src, err := OpenSource(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, bc := range []struct {
		name string
		opts SafetensorsOptions
	}{
		{"bf16", SafetensorsOptions{Bits: 16}},
		{"ct-w4a16", SafetensorsOptions{Bits: 4}},
		{"ct-w8a16", SafetensorsOptions{Bits: 8}},
		{"gptq-4bit", SafetensorsOptions{Bits: 4, Layout: LayoutGPTQ}},
		{"mlx-4bit", SafetensorsOptions{Bits: 4, Layout: LayoutMLX}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := PlanSafetensors(src, bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			params := p.Report("").Params
			var spent time.Duration
			for i := 0; b.Loop(); i++ {
				out := filepath.Join(b.TempDir(), "out")
				start := time.Now()
				if _, err := p.Write(context.Background(), out); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(start)
			}
			b.ReportMetric(float64(params)*float64(b.N)/spent.Seconds()/1e6, "Mweights/s")
		})
	}
}
