package intq

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mxq-dev/mxq/quant"
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

// round returns v rounded to t (nearest, ties to even, including binary16
// subnormals, as torch and mlx round) as a float32 and as the bits to
// store. Values beyond the largest finite of t become ±Inf and NaN stays a
// quiet NaN.
func (t scaleType) round(v float32) (float32, uint32) {
	switch t {
	case scaleBF16:
		h := quant.F32ToBF16(v)
		return quant.BF16ToF32(h), uint32(h)
	case scaleF16:
		h := quant.F32ToF16(v)
		return quant.F16ToF32(h), uint32(h)
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
		return quant.BF16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
	case scaleF16:
		return quant.F16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
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
