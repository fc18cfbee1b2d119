package intq

import (
	"encoding/binary"
	"fmt"

	"github.com/mxq-dev/mxq/quant"
)

// gptqCodec is AutoGPTQ's v1 checkpoint format, symmetric, without act-order.
type gptqCodec struct{}

func (gptqCodec) name() string { return "gptq" }

func (gptqCodec) check(out, in int, s Scheme) error {
	if err := checkBitsGroup(in, s, true); err != nil {
		return err
	}
	if !s.Symmetric {
		return fmt.Errorf("only symmetric GPTQ is written (vLLM's gptq_marlin needs sym): %w", ErrUnsupported)
	}
	if _, err := gptqRuntime(s.ScaleDType); err != nil {
		return err
	}
	// AutoGPTQ sizes qweight as in/32·bits rows and qzeros as out/32·bits
	// columns; only multiples of 32 give the same shapes as vLLM's in/pf.
	if in%32 != 0 || out%32 != 0 {
		return fmt.Errorf("GPTQ needs in and out to be multiples of 32, got out %d in %d: %w", out, in, ErrShape)
	}
	return nil
}

// gptqRuntime reports whether the engine will hold the F16 scales in bf16.
func gptqRuntime(name string) (bf16 bool, err error) {
	switch name {
	case "", "F16":
		return false, nil
	case "BF16":
		return true, nil
	}
	return false, fmt.Errorf("GPTQ stores F16 scales; scale dtype %q must be F16 or BF16 (the engine dtype): %w", name, ErrUnsupported)
}

func (gptqCodec) rowAlign(Scheme) int { return 1 } // qzeros are constant and written by alloc

func (gptqCodec) expect(out, in int, s Scheme) []Stored {
	pf := 32 / s.Bits
	_, groups := groupsOf(in, s)
	return []Stored{
		{Suffix: "qweight", DType: "I32", Shape: []int64{int64(in / pf), int64(out)}, Data: make([]byte, 4*(in/pf)*out)},
		{Suffix: "qzeros", DType: "I32", Shape: []int64{int64(groups), int64(out / pf)}, Data: make([]byte, 4*groups*(out/pf))},
		{Suffix: "scales", DType: "F16", Shape: []int64{int64(groups), int64(out)}, Data: make([]byte, 2*groups*out)},
		{Suffix: "g_idx", DType: "I32", Shape: []int64{int64(in)}, Data: make([]byte, 4*in)},
	}
}

func (c gptqCodec) alloc(out, in int, s Scheme) []Stored {
	t := c.expect(out, in, s)
	// Symmetric zero is 2^(bits-1) for every group; v1 stores zero-1.
	var word uint32
	for k := 0; k < 32; k += s.Bits {
		word |= uint32(1<<(s.Bits-1)-1) << uint(k)
	}
	qz := t[1].Data
	for i := 0; i < len(qz); i += 4 {
		binary.LittleEndian.PutUint32(qz[i:], word)
	}
	gs, _ := groupsOf(in, s)
	gi := t[3].Data
	for i := 0; i < in; i++ {
		binary.LittleEndian.PutUint32(gi[4*i:], uint32(i/gs))
	}
	t[1].Fixed, t[3].Fixed = true, true
	return t
}

func (gptqCodec) quantize(p *Plan, w []float32, r0, r1 int, deq []float32) error {
	s, in, out := p.s, p.in, p.out
	bits := uint(s.Bits)
	pf := 32 / s.Bits
	gs, groups := groupsOf(in, s)
	toBF16, _ := gptqRuntime(s.ScaleDType)
	maxq := float32(int(1)<<bits - 1)
	zero := float32(int(1) << (bits - 1))
	qweight := p.tensors[0].Data
	scales := p.tensors[2].Data
	for r := r0; r < r1; r++ {
		row, drow := rowOf(w, deq, r-r0, in)
		for g := 0; g < groups; g++ {
			seg := row[g*gs : (g+1)*gs]
			// Plain compares: the min/max builtins' NaN handling is slow.
			lo, hi := float32(0), float32(0)
			for _, x := range seg {
				if x < lo {
					lo = x
				}
				if x > hi {
					hi = x
				}
			}
			amax := max(-lo, hi)
			raw := (amax + amax) / maxq // (xmax - xmin)/maxq with xmin = -xmax
			if amax == 0 {
				raw = 2 / maxq // AutoGPTQ widens an all-zero group to [-1, 1]
			}
			scale, h := gptqScale(max(raw, eps32), toBF16)
			if h&0x7fff == 0x7c00 {
				return p.l.errorf(ErrRange, "row %d group %d: scale %g overflows F16", r, g, raw)
			}
			binary.LittleEndian.PutUint16(scales[2*(g*out+r):], h)
			// Group starts are multiples of pf (in is a multiple of 32).
			c0 := g * gs
			for j0, wi := 0, c0/pf; j0 < len(seg); j0, wi = j0+pf, wi+1 {
				var acc uint32
				for k, x := range seg[j0 : j0+pf] {
					// clamp(round(x/s)+zero, 0, maxq) - zero, with the clamp first.
					q := rintSmall(clamp(x/scale, -zero, maxq-zero))
					acc |= uint32(int32(q+zero)) << (bits * uint(k))
					if drow != nil {
						drow[c0+j0+k] = q * scale
					}
				}
				binary.LittleEndian.PutUint32(qweight[4*(wi*out+r):], acc)
			}
		}
	}
	return nil
}

// gptqScale rounds a scale to F16. For a bf16 engine it picks a value that
// F16 and BF16 both hold exactly: at 2^-17 and above every BF16 value is an
// F16 value; below, every F16 value (a multiple of 2^-24) has at most 7
// significant bits and is a BF16 value.
func gptqScale(raw float32, toBF16 bool) (float32, uint16) {
	if toBF16 && raw >= 1.0/(1<<17) {
		raw = quant.BF16ToF32(quant.F32ToBF16(raw))
	}
	h := quant.F32ToF16(raw)
	return quant.F16ToF32(h), h
}

func (gptqCodec) dequantize(t map[string]*Stored, out, in int, s Scheme, dst []float32) error {
	bits := uint(s.Bits)
	pf := 32 / s.Bits
	_, groups := groupsOf(in, s)
	mask := uint32(1)<<bits - 1
	qweight := t["qweight"].Data
	qzeros := t["qzeros"].Data
	scales := t["scales"].Data
	gidx := t["g_idx"].Data
	for i := 0; i < in; i++ {
		g := int(int32(binary.LittleEndian.Uint32(gidx[4*i:])))
		if g < 0 || g >= groups {
			return fmt.Errorf("g_idx[%d] = %d outside 0..%d: %w", i, g, groups-1, ErrFormat)
		}
		shift := bits * uint(i%pf)
		for o := 0; o < out; o++ {
			q := binary.LittleEndian.Uint32(qweight[4*((i/pf)*out+o):]) >> shift & mask
			z := binary.LittleEndian.Uint32(qzeros[4*(g*(out/pf)+o/pf):])>>(bits*uint(o%pf))&mask + 1
			sc := quant.F16ToF32(binary.LittleEndian.Uint16(scales[2*(g*out+o):]))
			dst[o*in+i] = float32(int32(q)-int32(z)) * sc
		}
	}
	return nil
}

func (gptqCodec) scaleSuffix() string { return "" }

// logicalShape: qweight is [in/(32/bits), out].
func (gptqCodec) logicalShape(t map[string]*Stored, s Scheme) (int, int, error) {
	q := t["qweight"].Shape
	return int(q[1]), int(q[0]) * (32 / s.Bits), nil
}
