//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run ./stats -out ../stats_amd64.s -stubs ../stats_amd64.go -pkg quant"

// detectStatsRow returns the AVX2 row kernel when the CPU and the OS
// support AVX2.
func detectStatsRow() func(w, q []float32, act4 []float64, out *[13]float64) {
	if !cpu.X86.HasAVX2 {
		return nil
	}
	return statsRowAVX2
}
