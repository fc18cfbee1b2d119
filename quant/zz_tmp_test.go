package quant

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCompare(t *testing.T) {
	runtime.LockOSThread()
	src := benchRows()[:256*64]
	dst := make([]byte, 256)
	for _, k := range kBlockQuantizers {
		var bt, br time.Duration = 1 << 62, 1 << 62
		run := func(f func(*[256]float32, []byte)) time.Duration {
			t0 := time.Now()
			c0 := threadCPU()
			for i := 0; i < len(src); i += 256 {
				f((*[256]float32)(src[i:]), dst)
			}
			_ = c0
			return time.Since(t0)
		}
		for round := 0; round < 300; round++ {
			bt = min(bt, run(k.tuned))
			br = min(br, run(k.ref))
		}
		mb := float64(len(src)*4) / 1e6
		t.Logf("%s tuned %.1f MB/s  ref %.1f MB/s  speedup %.2f", k.typ, mb/bt.Seconds(), mb/br.Seconds(), br.Seconds()/bt.Seconds())
	}
}
