package quant

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSplitRowsCoversEachRowOnce runs calls of splitRows one after another
// (so lingering helpers join the next call), from several goroutines at
// once (so calls find the seat board taken and start their own helpers),
// and under GOMAXPROCS 1: every call must see each of its rows exactly
// once, and all of them before it returns.
func TestSplitRowsCoversEachRowOnce(t *testing.T) {
	for _, procs := range []int{1, runtime.GOMAXPROCS(0), 4} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			var wg sync.WaitGroup
			for caller := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for call := range 200 {
						rows := 1 + (call*7+caller*13)%97
						workers := []int{0, 1, 2, 3, 8}[call%5]
						seen := make([]atomic.Int32, rows)
						splitRows(rows, workers, func(r0, r1 int) {
							if call%17 == 0 {
								time.Sleep(200 * time.Microsecond) // a slow piece: the caller ends up asleep
							}
							for r := r0; r < r1; r++ {
								seen[r].Add(1)
							}
						})
						for r := range seen {
							if n := seen[r].Load(); n != 1 {
								t.Errorf("caller %d call %d (%d rows, %d workers): row %d done %d times when the call returned", caller, call, rows, workers, r, n)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestSplitRowsHelpersLeave checks that lingering helpers end: some time
// after the last call no helper is waiting and no call holds the board.
func TestSplitRowsHelpersLeave(t *testing.T) {
	for range 20 {
		splitRows(64, 4, func(int, int) {})
	}
	deadline := time.Now().Add(5 * time.Second)
	for rowHelpers.lingering.Load() != 0 || rowHelpers.job.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%d helpers still lingering, board %v", rowHelpers.lingering.Load(), rowHelpers.job.Load() != nil)
		}
		time.Sleep(time.Millisecond)
	}
}
