//go:build !unix

package quant

// processCPU is unavailable here; benchmarks then omit the CPU metric.
func processCPU() float64 { return 0 }
