//go:build !amd64 || purego

package quant

// detectStatsRow: no SIMD row kernel on this platform.
func detectStatsRow() func(w, q []float32, act4 []float64, out *[13]float64) { return nil }
