package convert

import (
	"context"
	"testing"
	"time"

	"github.com/mxq-dev/mxq/ggml"
)

// BenchKernels quantizes every value of the plan once, whatever the
// number of workers, counts the CPU time it is given, and stops when
// cancelled.
func TestBenchKernels(t *testing.T) {
	src := openTiny(t)
	for _, workers := range []int{1, 2, 3} {
		p, err := PlanGGUF(src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, pt := range p.Tensors() {
			n := int64(1)
			for _, d := range pt.Dims {
				n *= int64(d)
			}
			want += n
		}
		var calls int
		clock := func() time.Duration { calls++; return time.Duration(calls) * time.Millisecond }
		kt, err := p.BenchKernels(context.Background(), clock)
		if err != nil {
			t.Fatal(err)
		}
		if kt.Elements != want {
			t.Errorf("%d workers: %d values quantized, want %d", workers, kt.Elements, want)
		}
		// Two readings a round, each round one millisecond apart.
		if kt.CPU != time.Duration(calls/2)*time.Millisecond || kt.Wall <= 0 {
			t.Errorf("%d workers: CPU %v over %d clock readings, wall %v", workers, kt.CPU, calls, kt.Wall)
		}
	}
	p, err := PlanGGUF(src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.BenchKernels(ctx, nil); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}
