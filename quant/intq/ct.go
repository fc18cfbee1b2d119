package intq

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ctCodec is compressed-tensors' pack-quantized format.
type ctCodec struct{}

// eps32 is torch.finfo(torch.float32).eps, compressed-tensors' scale floor.
const eps32 = 1.0 / (1 << 23)

func (ctCodec) name() string { return "compressed-tensors" }

func (ctCodec) check(out, in int, s Scheme) error {
	if err := checkBitsGroup(in, s, true); err != nil {
		return err
	}
	_, err := parseScaleType(s.ScaleDType)
	return err
}

func (ctCodec) rowAlign(s Scheme) int {
	if s.Symmetric {
		return 1
	}
	return 32 / s.Bits // zero points of pf consecutive rows share a word
}

func (c ctCodec) expect(out, in int, s Scheme) []Stored { return c.alloc(out, in, s) }

func (ctCodec) alloc(out, in int, s Scheme) []Stored {
	pf := 32 / s.Bits
	words := (in + pf - 1) / pf
	_, groups := groupsOf(in, s)
	st, _ := parseScaleType(s.ScaleDType)
	shape := make([]byte, 16)
	binary.LittleEndian.PutUint64(shape, uint64(out))
	binary.LittleEndian.PutUint64(shape[8:], uint64(in))
	t := []Stored{
		{Suffix: "weight_packed", DType: "I32", Shape: []int64{int64(out), int64(words)}, Data: make([]byte, 4*out*words)},
		{Suffix: "weight_scale", DType: st.dtype(), Shape: []int64{int64(out), int64(groups)}, Data: make([]byte, st.size()*out*groups)},
		// torch.tensor(weight.shape) is int64, which is what vLLM allocates.
		{Suffix: "weight_shape", DType: "I64", Shape: []int64{2}, Data: shape, Fixed: true},
	}
	if !s.Symmetric {
		zr := (out + pf - 1) / pf
		t = append(t, Stored{Suffix: "weight_zero_point", DType: "I32", Shape: []int64{int64(zr), int64(groups)}, Data: make([]byte, 4*zr*groups)})
	}
	return t
}

func (ctCodec) quantize(p *Plan, w []float32, r0, r1 int, deq []float32) error {
	s, in := p.s, p.in
	bits := uint(s.Bits)
	pf := 32 / s.Bits
	words := (in + pf - 1) / pf
	gs, groups := groupsOf(in, s)
	st, _ := parseScaleType(s.ScaleDType)
	qmax := float32(int(1)<<(bits-1) - 1)
	qmin := -qmax - 1
	off := int32(1) << (bits - 1)
	packed := p.tensors[0].Data
	scales := p.tensors[1].Data
	var zeros []byte
	if !s.Symmetric {
		zeros = p.tensors[3].Data
	}
	for r := r0; r < r1; r++ {
		row, drow := rowOf(w, deq, r-r0, in)
		pword := packed[4*r*words : 4*(r+1)*words]
		for g := 0; g < groups; g++ {
			seg := row[g*gs : (g+1)*gs]
			// Plain compares: the min/max builtins' NaN handling is slow.
			lo, hi := float32(0), float32(0) // widened to include 0
			for _, x := range seg {
				if x < lo {
					lo = x
				}
				if x > hi {
					hi = x
				}
			}
			var raw float32
			if s.Symmetric {
				raw = max(-lo, hi) / ((qmax - qmin) / 2)
			} else {
				raw = (hi - lo) / (qmax - qmin)
			}
			scale, sbits := st.round(max(raw, eps32))
			if scale > maxFinite {
				return p.l.errorf(ErrRange, "row %d group %d: scale %g overflows %s", r, g, raw, st.dtype())
			}
			st.put(scales, r*groups+g, sbits)
			zp := float32(0)
			if !s.Symmetric {
				zp = rint(clamp(qmin-lo/scale, qmin, qmax))
				putPackedDim0(zeros, r, g, groups, bits, uint32(int32(zp)+off))
			}
			// Groups start on word boundaries (group sizes are multiples of
			// the packing factor; the per-channel group starts the row). A
			// per-channel row may end in a partly filled word.
			c0 := g * gs
			for j0, wi := 0, c0/pf; j0 < len(seg); j0, wi = j0+pf, wi+1 {
				var acc uint32
				for k, x := range seg[j0:min(j0+pf, len(seg))] {
					q := rintSmall(clamp(x/scale+zp, qmin, qmax))
					acc |= uint32(int32(q)+off) << (bits * uint(k))
					if drow != nil {
						drow[c0+j0+k] = (q - zp) * scale
					}
				}
				binary.LittleEndian.PutUint32(pword[4*wi:], acc)
			}
		}
	}
	return nil
}

// maxFinite is the largest float32; a rounded scale above it is +Inf.
const maxFinite = 3.4028234663852886e38

// putPackedDim0 stores value v of element (r, g) of a [rows, groups]
// matrix packed along dim 0 into I32 words of 32/bits elements.
func putPackedDim0(data []byte, r, g, groups int, bits uint, v uint32) {
	pf := 32 / int(bits)
	at := 4 * ((r/pf)*groups + g)
	shift := bits * uint(r%pf)
	mask := uint32(1)<<bits - 1
	word := binary.LittleEndian.Uint32(data[at:])
	word = word&^(mask<<shift) | v<<shift
	binary.LittleEndian.PutUint32(data[at:], word)
}

func (ctCodec) dequantize(t map[string]*Stored, out, in int, s Scheme, dst []float32) error {
	bits := uint(s.Bits)
	pf := 32 / s.Bits
	words := (in + pf - 1) / pf
	gs, groups := groupsOf(in, s)
	st, _ := parseScaleType(s.ScaleDType)
	mask := uint32(1)<<bits - 1
	off := int32(1) << (bits - 1)
	packed := t["weight_packed"].Data
	scales := t["weight_scale"].Data
	var zeros []byte
	if !s.Symmetric {
		zeros = t["weight_zero_point"].Data
	}
	for r := 0; r < out; r++ {
		for c := 0; c < in; c++ {
			g := c / gs
			word := binary.LittleEndian.Uint32(packed[4*(r*words+c/pf):])
			q := int32(word>>(bits*uint(c%pf))&mask) - off
			zp := int32(0)
			if zeros != nil {
				zw := binary.LittleEndian.Uint32(zeros[4*((r/pf)*groups+g):])
				zp = int32(zw>>(bits*uint(r%pf))&mask) - off
			}
			dst[r*in+c] = float32(q-zp) * st.get(scales, r*groups+g)
		}
	}
	return nil
}

func (ctCodec) scaleSuffix() string { return "weight_scale" }

// logicalShape reads weight_shape when its value is at hand (it is the only
// exact record of in for a per-channel weight), else infers in from the
// scale groups or the packed words.
func (ctCodec) logicalShape(t map[string]*Stored, s Scheme) (int, int, error) {
	out := int(t["weight_packed"].Shape[0])
	if ws := t["weight_shape"]; len(ws.Data) > 0 {
		v, err := ws.shapeValue()
		if err != nil {
			return 0, 0, fmt.Errorf("tensor \"weight_shape\": %w", err)
		}
		if v[0] != int64(out) {
			return 0, 0, fmt.Errorf("tensor \"weight_shape\" says %v, but weight_packed has %d rows", v, out)
		}
		return out, int(v[1]), nil
	}
	if s.GroupSize > 0 {
		return out, int(t["weight_scale"].Shape[1]) * s.GroupSize, nil
	}
	return out, int(t["weight_packed"].Shape[1]) * (32 / s.Bits), nil
}

// shapeValue decodes weight_shape: [out, in] as I64 (what torch writes) or
// I32 (what some writers store).
func (st *Stored) shapeValue() ([2]int64, error) {
	var v [2]int64
	if len(st.Shape) != 1 || st.Shape[0] != 2 {
		return v, fmt.Errorf("shape %v, want [2]", st.Shape)
	}
	switch {
	case st.DType == "I64" && len(st.Data) == 16:
		v[0], v[1] = int64(binary.LittleEndian.Uint64(st.Data)), int64(binary.LittleEndian.Uint64(st.Data[8:]))
	case st.DType == "I32" && len(st.Data) == 8:
		v[0], v[1] = int64(int32(binary.LittleEndian.Uint32(st.Data))), int64(int32(binary.LittleEndian.Uint32(st.Data[4:])))
	default:
		return v, fmt.Errorf("%s holding %d bytes, want I64 or I32 [2]", st.DType, len(st.Data))
	}
	if v[0] <= 0 || v[1] <= 0 || v[0] > math.MaxInt32 || v[1] > math.MaxInt32 {
		return v, fmt.Errorf("value %v is not a weight shape", v)
	}
	return v, nil
}
