package forward

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// countingSource counts expert reads and cancels its context at the
// cancelAt-th one.
type countingSource struct {
	ExpertSource
	reads    atomic.Int64
	cancelAt int64
	cancel   context.CancelFunc
}

func (s *countingSource) Expert(l, e int) (*Expert, error) {
	if s.reads.Add(1) == s.cancelAt {
		s.cancel()
	}
	return s.ExpertSource.Expert(l, e)
}

// A cancelled context stops a streamed run: before the first layer, and
// between the experts of a layer, with ctx's error and no result.
func TestRunStreamedCancelled(t *testing.T) {
	ref := testutil.TinyReference(t)
	st, _ := openTiny(t)
	src := st.(ExpertSource)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := RunStreamed(ctx, src, ref.InputIDs, StreamOptions{}); !errors.Is(err, context.Canceled) || res != nil {
		t.Errorf("cancelled before the start: %v, %v", res, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	cs := &countingSource{ExpertSource: src, cancelAt: 2, cancel: cancel}
	res, err := RunStreamed(ctx, cs, ref.InputIDs, StreamOptions{Options: Options{Router: true}})
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("cancelled at the second expert: %v, %v", res, err)
	}
	if n := cs.reads.Load(); n != 2 {
		t.Errorf("%d experts read after the cancel at the second; want no more", n)
	}
}

// parallelFor hands out no chunk once its context is done, with one worker
// or many.
func TestParallelForCancelled(t *testing.T) {
	for _, workers := range []int{1, 4} {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		parallelFor(ctx, 1000, 10, workers, func(lo, hi int) {
			if calls.Add(1) == 3 {
				cancel()
			}
		})
		// Workers already inside a chunk finish it; none starts another.
		if n := calls.Load(); n < 3 || n > int64(3+workers) {
			t.Errorf("%d workers: %d chunks ran after cancelling at the third", workers, n)
		}
		cancel()
		calls.Store(0)
		parallelFor(context.Background(), 1000, 10, workers, func(lo, hi int) { calls.Add(1) })
		if calls.Load() != 100 {
			t.Errorf("%d workers: %d chunks without cancelling, want 100", workers, calls.Load())
		}
	}
}
