//go:build unix

package quant

import "syscall"

// processCPU returns the CPU time this process has used, in seconds. The
// benchmarks report throughput per CPU-second too, because wall-clock
// figures mean little on a machine shared with other jobs.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
