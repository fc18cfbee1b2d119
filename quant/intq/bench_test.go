package intq

import (
	"fmt"
	"testing"
)

// BenchmarkQuantizeRows reports MB/s of float32 input through one
// goroutine, writing the dequantized values as the validation does.
func BenchmarkQuantizeRows(b *testing.B) {
	const out, in = 256, 4096 // 4 MiB of float32, 1/56 of a Mixtral expert matrix
	w := testMatrix(out, in, 12)
	deq := make([]float32, len(w))
	cases := []struct {
		l Layout
		s Scheme
	}{
		{CompressedTensors, Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}},
		{CompressedTensors, Scheme{Bits: 4, GroupSize: 128, Symmetric: false, ScaleDType: "BF16"}},
		{CompressedTensors, Scheme{Bits: 8, GroupSize: -1, Symmetric: true, ScaleDType: "BF16"}},
		{GPTQ, Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}},
		{GPTQ, Scheme{Bits: 8, GroupSize: 128, Symmetric: true}},
		{MLX, Scheme{Bits: 4, GroupSize: 64, ScaleDType: "BF16"}},
		{MLX, Scheme{Bits: 8, GroupSize: 64, ScaleDType: "BF16"}},
	}
	for _, tc := range cases {
		b.Run(fmt.Sprintf("%s/%d-bit/g%d/sym=%v", tc.l.Name(), tc.s.Bits, tc.s.GroupSize, tc.s.Symmetric), func(b *testing.B) {
			p, err := tc.l.NewPlan(out, in, tc.s)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * len(w)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.QuantizeRows(w, 0, out, deq); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDequantize(b *testing.B) {
	const out, in = 256, 4096
	w := testMatrix(out, in, 13)
	for _, l := range layouts {
		s := Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "F16"}
		stored, _, err := l.Quantize(w, out, in, s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(l.Name(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if _, err := l.Dequantize(stored, out, in, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
