package intq

import (
	"encoding/binary"
	"fmt"
	"math"
)

// scaleType is the storage dtype of scales and biases.
type scaleType uint8

const (
	scaleBF16 scaleType = iota
	scaleF16
	scaleF32
)

func parseScaleType(name string) (scaleType, error) {
	switch name {
	case "BF16":
		return scaleBF16, nil
	case "F16":
		return scaleF16, nil
	case "F32":
		return scaleF32, nil
	}
	return 0, fmt.Errorf("scale dtype %q: want BF16, F16 or F32: %w", name, ErrUnsupported)
}

func (t scaleType) dtype() string { return [...]string{"BF16", "F16", "F32"}[t] }

func (t scaleType) size() int { return [...]int{2, 2, 4}[t] }

// round returns v rounded to t (nearest, ties to even) as a float32 and as
// the bits to store.
func (t scaleType) round(v float32) (float32, uint32) {
	switch t {
	case scaleBF16:
		h := f32ToBF16(v)
		return bf16ToF32(h), uint32(h)
	case scaleF16:
		h := f32ToF16(v)
		return f16ToF32(h), uint32(h)
	}
	return v, math.Float32bits(v)
}

// put stores element i of a tensor of t.
func (t scaleType) put(data []byte, i int, bits uint32) {
	if t == scaleF32 {
		binary.LittleEndian.PutUint32(data[4*i:], bits)
		return
	}
	binary.LittleEndian.PutUint16(data[2*i:], uint16(bits))
}

// get loads element i of a tensor of t.
func (t scaleType) get(data []byte, i int) float32 {
	switch t {
	case scaleBF16:
		return bf16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
	case scaleF16:
		return f16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
}

// f32ToBF16 rounds to nearest, ties to even, as torch and mlx do; values
// beyond the largest bfloat16 become ±Inf and NaN stays a quiet NaN.
func f32ToBF16(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToF16 rounds to IEEE binary16, nearest with ties to even, including
// subnormals; |x| ≥ 65520 becomes ±Inf.
func f32ToF16(x float32) uint16 {
	u := math.Float32bits(x)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000:
		return sign | 0x7e00
	case a >= 0x477ff000: // 65520, the midpoint above 65504, rounds to Inf
		return sign | 0x7c00
	case a >= 0x38800000: // 2^-14 and up: normal
		// Rebias the exponent (127 → 15) and drop 13 mantissa bits with
		// ties to even; a carry correctly moves into the exponent.
		r := a - 0x38000000
		r += 0xfff + (r>>13)&1
		return sign | uint16(r>>13)
	case a <= 0x33000000: // ≤ 2^-25: zero (2^-25 itself ties to even 0)
		return sign
	}
	// Subnormal: the value in units of 2^-24 is m·2^(e-126).
	e := a >> 23
	m := a&0x7fffff | 0x800000
	shift := 126 - e // 14..24
	q := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return sign | uint16(q)
}

func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch e {
	case 0:
		f := float32(m) * (1.0 / (1 << 24)) // exact
		return math.Float32frombits(math.Float32bits(f) | sign)
	case 0x1f:
		if m != 0 {
			return math.Float32frombits(sign | 0x7fc00000 | m<<13)
		}
		return math.Float32frombits(sign | 0x7f800000)
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// rint rounds to the nearest integer, ties to even (torch.round, C rint).
func rint(v float32) float32 {
	// Adding 1.5·2^23 leaves no fraction bits in the sum, so the FPU's
	// round-to-nearest-even does the work; valid for |v| < 2^22, and
	// larger float32 values are integers already.
	const magic = 1 << 23 * 1.5
	if v < 1<<22 && v > -(1<<22) {
		return (v + magic) - magic
	}
	if v < 1<<23 && v > -(1<<23) { // halves are still representable here
		return float32(math.RoundToEven(float64(v)))
	}
	return v
}

// rintSmall is rint for |v| < 2^22, such as a value already clamped to a
// quantization grid.
func rintSmall(v float32) float32 {
	const magic = 1 << 23 * 1.5
	return (v + magic) - magic
}

func clamp(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
