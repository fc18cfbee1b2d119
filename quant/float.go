package quant

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/mxq-dev/mxq/ggml"
)

// rowPassKernels are the SIMD kernels of the pass over each row besides
// quantization; a nil field means the portable code runs.
type rowPassKernels struct {
	// statsRow is Stats.addRowGo's arithmetic for four probes, bit for
	// bit (see statsRowAVX2).
	statsRow func(w, q []float32, act []float64, out *[13][4]float64)
	// decodeBF16 is decodeBF16 for the first len(dst)/16·16 values.
	decodeBF16 func(src []byte, dst []float32)
	// finiteGroups is the length of the leading run of whole groups of 16
	// finite values among the first len(src)/16·16.
	finiteGroups func(src []float32) int
}

var rowPass = detectRowPass()

func init() {
	register(ggml.F32, kernel{quantize: encodeF32, dequantize: decodeF32})
	register(ggml.F16, kernel{quantize: encodeF16, dequantize: decodeF16})
	register(ggml.BF16, kernel{quantize: encodeBF16, dequantize: decodeBF16})
}

// F32ToF16 converts x to IEEE binary16 bits the way ggml's
// GGML_FP32_TO_FP16 does: round to nearest, ties to even; values too large
// for binary16 become ±Inf; NaN becomes the quiet NaN 0x7E00 with x's sign.
// For every non-NaN input the result equals x448/float16's Fromfloat32.
func F32ToF16(x float32) uint16 {
	u := math.Float32bits(x)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	if a >= 0x38800000 { // |x| >= 2^-14: normal binary16, Inf or NaN
		if a >= 0x47800000 { // |x| >= 2^16 rounds to Inf whatever its mantissa
			if a > 0x7f800000 {
				return sign | 0x7e00
			}
			return sign | 0x7c00
		}
		// Rebias the exponent (127 -> 15) and round away 13 mantissa bits;
		// a carry out of the mantissa correctly bumps the exponent, up to Inf.
		r := a - 0x38000000
		r += 0xfff + (r>>13)&1
		return sign | uint16(r>>13)
	}
	// Subnormal or zero binary16: adding 0.5 makes the FPU round |x| to a
	// multiple of 2^-24 (the ulp of 0.5), ties to even, which is exactly the
	// binary16 subnormal step. The result can be 0x400, the smallest normal.
	f := math.Float32frombits(a) + 0.5
	return sign | uint16(math.Float32bits(f)-0x3f000000)
}

// F16ToF32 converts IEEE binary16 bits to float32 exactly. NaNs keep their
// payload and come back quiet, as in ggml.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch e {
	case 0:
		// Subnormal (or zero): m * 2^-24 is exact in float32.
		f := float32(m) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(f) | sign)
	case 0x1f:
		if m != 0 {
			return math.Float32frombits(sign | 0x7fc00000 | m<<13)
		}
		return math.Float32frombits(sign | 0x7f800000)
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// F32ToBF16 converts x to bfloat16 bits as ggml's GGML_FP32_TO_BF16:
// round to nearest, ties to even (so the largest floats round to ±Inf),
// and a NaN is truncated and forced quiet.
func F32ToBF16(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// BF16ToF32 converts bfloat16 bits to float32 exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// CheckF16Range returns the index of the first finite element of src whose
// binary16 conversion overflows to ±Inf, and ok=false; ok is true when every
// finite element fits. NaN and ±Inf inputs are not reported here (see
// FindNonFinite).
func CheckF16Range(src []float32) (index int, ok bool) {
	for i, x := range src {
		// 65520 is the first value that rounds up past the largest
		// binary16 (65504); Inf and NaN have exponent 0xff.
		a := math.Float32bits(x) & 0x7fffffff
		if a >= 0x477ff000 && a < 0x7f800000 {
			return i, false
		}
	}
	return -1, true
}

// FindNonFinite returns the index of the first NaN or ±Inf in src and
// ok=false, or -1 and ok=true when every element is finite.
func FindNonFinite(src []float32) (index int, ok bool) {
	start := 0
	if k := rowPass.finiteGroups; k != nil {
		start = k(src)
	}
	for i, x := range src[start:] {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			return start + i, false
		}
	}
	return -1, true
}

// littleEndian reports whether float32 values lie in memory as GGUF stores
// them, so that F32 rows can be copied as bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func encodeF32(src []float32, dst []byte) {
	dst = dst[:4*len(src)]
	if littleEndian && len(src) > 0 {
		copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), 4*len(src)))
		return
	}
	for i, x := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
	}
}

func decodeF32(src []byte, dst []float32) {
	src = src[:4*len(dst)]
	if littleEndian && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst)), src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func encodeF16(src []float32, dst []byte) {
	dst = dst[:2*len(src)]
	if k := legacy.f16; k != nil {
		n := len(src) &^ 15
		k(src[:n], dst[:2*n])
		src, dst = src[n:], dst[2*n:]
	}
	for i, x := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(x))
	}
}

func decodeF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	if k := decoders.f16; k != nil {
		n := len(dst) &^ 15
		k(src[:2*n], dst[:n])
		src, dst = src[2*n:], dst[n:]
	}
	for i := range dst {
		dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func encodeBF16(src []float32, dst []byte) {
	dst = dst[:2*len(src)]
	if k := legacy.bf16; k != nil {
		n := len(src) &^ 15
		k(src[:n], dst[:2*n])
		src, dst = src[n:], dst[2*n:]
	}
	for i, x := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(x))
	}
}

func decodeBF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	if k := rowPass.decodeBF16; k != nil {
		n := len(dst) &^ 15
		k(src[:2*n], dst[:n])
		src, dst = src[2*n:], dst[n:]
	}
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
