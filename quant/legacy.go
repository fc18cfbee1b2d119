package quant

import (
	"encoding/binary"
	"math"
)

// legacyKernels are SIMD quantizers of the 32-value block types and of
// F16 and BF16. Each block quantizer
// writes the codes of every block of src to dst and the block's float32
// scale d (and, for Q4_1 and Q5_1, its min: two values per block) to ds,
// computed exactly as the scalar code does; a block the SIMD scan cannot
// settle as the C loop would (NaN, Inf, a zero extreme, a zero scale) gets
// the bits 0xffffffff as its d and is left to the scalar code.
// f16 and bf16 convert the first len(src)/16·16 values of src.
type legacyKernels struct {
	q40, q50, q41, q51, q80 func(src []float32, dst []byte, ds []float32)
	f16, bf16               func(src []float32, dst []byte)
	// requant and squares: requantizeGroups and qxLanes.loadAllSquares
	// have SIMD kernels.
	requant, squares bool
}

// simdLegacy are the legacy kernels of this CPU, if any, and legacy the
// ones the quantizers use (nil fields: the scalar code). Tests switch
// legacy to cover both paths.
var (
	simdLegacy = detectSIMDLegacy()
	legacy     = simdLegacy
)

// legacyUnsettled marks a block left to the scalar code.
const legacyUnsettled = 0xffffffff

// quantizeLegacySIMD quantizes the blocks of src with kernel k, stores
// their float16 headers, and quantizes the blocks k leaves unsettled with
// scalar.
func quantizeLegacySIMD(src []float32, dst []byte, blockLen int, withMin bool, k func(src []float32, dst []byte, ds []float32), scalar func(src []float32, dst []byte)) {
	const chunk = 64
	var ds [2 * chunk]float32
	per := 1
	if withMin {
		per = 2
	}
	nb := len(src) / 32
	for i0 := 0; i0 < nb; i0 += chunk {
		n := min(chunk, nb-i0)
		s := src[32*i0 : 32*(i0+n)]
		d := dst[blockLen*i0 : blockLen*(i0+n)]
		k(s, d, ds[:per*n])
		for i := range n {
			b := d[blockLen*i:][:blockLen]
			if math.Float32bits(ds[per*i]) == legacyUnsettled {
				scalar(s[32*i:32*i+32], b)
				continue
			}
			binary.LittleEndian.PutUint16(b, F32ToF16(ds[per*i]))
			if withMin {
				binary.LittleEndian.PutUint16(b[2:], F32ToF16(ds[per*i+1]))
			}
		}
	}
}

// quantizeLegacyWeightedLanes runs the importance-weighted quantizer of
// Q4_1 or Q5_1 (withMin: makeQKX2 with codes in [0,nmax]) or of Q4_0 or
// Q5_0 (makeQXWeighted with codes in [0,2·nmax)) on sixteen blocks at a
// time, side by side; pack stores a block's codes after its header.
func quantizeLegacyWeightedLanes(src []float32, dst []byte, qw []float32, blockLen, nmax int, withMin bool, pack func(b []byte, L *[32]uint8)) {
	sigma2 := sumSquares(src) / float32(len(src))
	var mm *qkx2Lanes
	var sym *qxLanes
	if withMin {
		mm = new(qkx2Lanes)
	} else {
		sym = new(qxLanes)
	}
	var w, zeros [32]float32
	var L [32]uint8
	var Ls [32]int8
	nb := len(src) / 32
	for i0 := 0; i0 < nb; i0 += laneCount {
		n := min(laneCount, nb-i0)
		for j := range laneCount {
			x, wj := zeros[:], zeros[:]
			if j < n {
				x, wj = src[32*(i0+j):][:32], w[:]
				importanceWeights(wj, x, qw[32*(i0+j):], sigma2)
			}
			if withMin {
				mm.load(j, x, wj)
			} else {
				sym.load(j, x, wj)
			}
		}
		if withMin {
			mm.fit(&lanes, 32, nmax, -0.9, 0.05, 36, false)
		} else {
			sym.fit(&lanes, 32, nmax)
		}
		for j := range n {
			x := src[32*(i0+j):][:32]
			b := dst[blockLen*(i0+j):][:blockLen]
			if withMin {
				mm.codes(j, x, L[:], int32(nmax))
				putHalf(b, mm.scale[j])
				putHalf(b[2:], -mm.negMin[j])
			} else {
				sym.codes(j, x, Ls[:], nmax)
				for k, l := range Ls {
					L[k] = uint8(l)
				}
				putHalf(b, sym.scale[j])
			}
			pack(b, &L)
		}
	}
}
