package forward

import (
	"context"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// BenchmarkRunStreamedTiny runs the 30-token reference prompt through the
// tiny checkpoint read from disk one expert at a time, as validation does:
// BenchmarkForwardTiny plus reading and decoding every weight.
func BenchmarkRunStreamedTiny(b *testing.B) {
	ref := testutil.TinyReference(b)
	src, _ := openTiny(b)
	for b.Loop() {
		if _, err := RunStreamed(context.Background(), src.(ExpertSource), ref.InputIDs, StreamOptions{Options: Options{Router: true}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ref.InputIDs)*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
