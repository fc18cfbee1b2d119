package intq

import (
	"encoding/binary"
	"math"
)

// mlxCodec is mlx's affine quantization as mlx-lm stores it.
type mlxCodec struct{}

func (mlxCodec) name() string { return "mlx" }

func (mlxCodec) check(out, in int, s Scheme) error {
	if err := checkBitsGroup(in, s, false); err != nil {
		return err
	}
	_, err := parseScaleType(s.ScaleDType)
	return err
}

func (mlxCodec) rowAlign(Scheme) int { return 1 }

func (c mlxCodec) expect(out, in int, s Scheme) []Stored { return c.alloc(out, in, s) }

func (mlxCodec) alloc(out, in int, s Scheme) []Stored {
	words := in * s.Bits / 32
	_, groups := groupsOf(in, s)
	st, _ := parseScaleType(s.ScaleDType)
	return []Stored{
		{Suffix: "weight", DType: "U32", Shape: []int64{int64(out), int64(words)}, Data: make([]byte, 4*out*words)},
		{Suffix: "scales", DType: st.dtype(), Shape: []int64{int64(out), int64(groups)}, Data: make([]byte, st.size()*out*groups)},
		{Suffix: "biases", DType: st.dtype(), Shape: []int64{int64(out), int64(groups)}, Data: make([]byte, st.size()*out*groups)},
	}
}

// mlxEps is the scale floor in mlx's quantize (1e-7 as a float).
const mlxEps = float32(1e-7)

func (mlxCodec) quantize(p *Plan, w []float32, r0, r1 int, deq []float32) error {
	s, in := p.s, p.in
	bits := uint(s.Bits)
	pf := 32 / s.Bits
	words := in / pf
	gs, groups := groupsOf(in, s)
	st, _ := parseScaleType(s.ScaleDType)
	nbins := float32(int(1)<<bits - 1)
	packed := p.tensors[0].Data
	scales := p.tensors[1].Data
	biases := p.tensors[2].Data
	for r := r0; r < r1; r++ {
		row, drow := rowOf(w, deq, r-r0, in)
		pword := packed[4*r*words : 4*(r+1)*words]
		for g := 0; g < groups; g++ {
			seg := row[g*gs : (g+1)*gs]
			// The order of operations follows mlx's CPU quantize exactly.
			wmin, wmax := float32(math.Inf(1)), float32(math.Inf(-1))
			for _, x := range seg { // std::max(w_max, x), std::min(w_min, x)
				if x > wmax {
					wmax = x
				}
				if x < wmin {
					wmin = x
				}
			}
			mask := abs32(wmin) > abs32(wmax)
			scale := max((wmax-wmin)/nbins, mlxEps)
			edge := wmin
			if !mask {
				scale = -scale
				edge = wmax
			}
			q0 := rint(edge / scale)
			bias := float32(0)
			if q0 != 0 {
				scale = edge / q0
				bias = edge
			}
			sv, sbits := st.round(scale)
			bv, bbits := st.round(bias)
			if abs32(sv) > maxFinite || abs32(bv) > maxFinite {
				return p.l.errorf(ErrRange, "row %d group %d: scale %g or bias %g overflows %s", r, g, scale, bias, st.dtype())
			}
			st.put(scales, r*groups+g, sbits)
			st.put(biases, r*groups+g, bbits)
			c0 := g * gs // a multiple of pf
			for j0, wi := 0, c0/pf; j0 < len(seg); j0, wi = j0+pf, wi+1 {
				var acc uint32
				for k, x := range seg[j0 : j0+pf] {
					q := rintSmall(clamp((x-bias)/scale, 0, nbins))
					acc |= uint32(q) << (bits * uint(k))
					if drow != nil {
						// The explicit conversion keeps the product and the
						// sum separately rounded, as mlx's scale*q + bias is.
						drow[c0+j0+k] = float32(sv*q) + bv
					}
				}
				binary.LittleEndian.PutUint32(pword[4*wi:], acc)
			}
		}
	}
	return nil
}

func (mlxCodec) dequantize(t map[string]*Stored, out, in int, s Scheme, dst []float32) error {
	bits := uint(s.Bits)
	pf := 32 / s.Bits
	words := in / pf
	gs, groups := groupsOf(in, s)
	st, _ := parseScaleType(s.ScaleDType)
	mask := uint32(1)<<bits - 1
	packed := t["weight"].Data
	scales := t["scales"].Data
	biases := t["biases"].Data
	for r := 0; r < out; r++ {
		for c := 0; c < in; c++ {
			g := r*groups + c/gs
			q := float32(binary.LittleEndian.Uint32(packed[4*(r*words+c/pf):]) >> (bits * uint(c%pf)) & mask)
			dst[r*in+c] = float32(st.get(scales, g)*q) + st.get(biases, g)
		}
	}
	return nil
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func (mlxCodec) scaleSuffix() string { return "scales" }

// logicalShape: weight is U32 [out, in·bits/32].
func (mlxCodec) logicalShape(t map[string]*Stored, s Scheme) (int, int, error) {
	w := t["weight"].Shape
	return int(w[0]), int(w[1]) * 32 / s.Bits, nil
}
