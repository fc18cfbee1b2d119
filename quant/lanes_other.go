//go:build !amd64 || purego

package quant

// detectSIMDLanes: no SIMD lane kernels on this platform.
func detectSIMDLanes() laneKernels { return laneKernels{} }

// detectSIMDLegacy: no SIMD legacy block quantizers on this platform.
func detectSIMDLegacy() legacyKernels { return legacyKernels{} }

// floatEncoders: no SIMD F32→F16 or F32→BF16 kernels on this platform.
func floatEncoders(f16 bool) map[string]func(src []float32, dst []byte) { return nil }

// requantSIMD: no SIMD kernel on this platform.
func requantSIMD[T int8 | uint8](x *[256]float32, sd, dm *[16]float32, bounds *[16]int32, bias int32, L *[256]T) bool {
	return false
}

// squaresSIMD: no SIMD kernel on this platform.
func squaresSIMD(x, tx, w, wx *[256]float32, mx *[16]float32) bool { return false }

// simdGridLanes: no SIMD kernels for the grid quantizers on this platform.
const simdGridLanes = false

func neighbourLanes4(v *[8]float32, x, w *[4]float32, levels []uint8, n int) int {
	panic("quant: no SIMD neighbour search on this platform")
}

func gridRound4Lanes(x *[32]float32, id float32, levels *[32]int8, codes *[8]int32) {
	panic("quant: no SIMD grid rounding on this platform")
}

func gridRound8Lanes(x []float32, id float32, levels []int8, codes []int32) {
	panic("quant: no SIMD grid rounding on this platform")
}

func iq1ScanLanes(tab *[6][40]float32, s *[8]float32, b0 int) int {
	panic("quant: no SIMD split search on this platform")
}

func neighbourLanes8(v *[8]float32, x, w *[8]float32, levels []uint8, n int) int {
	panic("quant: no SIMD neighbour search on this platform")
}

func mxfp4CodesLanes(x *[32]float32, inv2 float32, codes *[16]byte) {
	panic("quant: no SIMD MXFP4 search on this platform")
}

func ternaryTritsLanes(x *[256]float32, id float32, t *[256]uint8) {
	panic("quant: no SIMD ternary rounding on this platform")
}
