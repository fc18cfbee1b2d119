package quant

import (
	"encoding/binary"

	"github.com/mxq-dev/mxq/ggml"
)

// IQ2_XXS, IQ2_XS and IQ2_S: 2-bit magnitudes from grids of 8-value
// points of the E8 lattice, with signs (ggml's quantize_row_iq2_xxs_impl,
// quantize_row_iq2_xs_impl, quantize_row_iq2_s_impl and their
// dequantizers). ggml makes IQ2_XXS and IQ2_XS only with importance
// weights.

func init() {
	register(ggml.IQ2_XXS, kernel{quantizeWeighted: quantizeIQ2XXS, dequantize: dequantizeIQ2XXS, requiresWeights: true})
	register(ggml.IQ2_XS, kernel{quantizeWeighted: quantizeIQ2XS, dequantize: dequantizeIQ2XS, requiresWeights: true})
	register(ggml.IQ2_S, kernel{
		quantize:         func(src []float32, dst []byte) { quantizeEachBlock(src, dst, 82, quantizeIQ2S) },
		quantizeWeighted: quantizeIQ2S,
		dequantize:       dequantizeIQ2S,
	})
}

var (
	iq2xxsFit = gridFit{lattice: iq2xxsLattice, maxLevel: 2, nmax: 5, steps: 6, step: 0.1, refineAll: true, alwaysRefine: true}
	iq2xsFit  = gridFit{lattice: iq2xsLattice, maxLevel: 2, nmax: 5, steps: 9, step: 0.1, startOnGrid: true}
	iq2sFit   = gridFit{lattice: iq2sLattice, maxLevel: 2, nmax: 5, steps: 9, step: 0.1, startOnGrid: true}
)

// quantizeIQ2XXS quantizes one row with importance weights qw.
func quantizeIQ2XXS(src []float32, dst []byte, qw []float32) {
	s := iq2xxsLattice.searchTables()
	var (
		weight, xval, waux [32]float32
		L, Laux            [32]int8
		Lqp                [32]uint8
		scales             [8]float32
		q                  [16]uint32 // per block: grid indices, then signs and scale
		signs              [4]uint8
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*66 : ibl*66+66]
		clear(q[:])
		sigma2 := superBlockSigma2(x, false)
		var maxScale float32
		for ib := range 8 {
			xb := x[32*ib : 32*ib+32]
			blockWeights(weight[:], waux[:], qw, ibl*256+32*ib, xb, sigma2)
			for k := range 4 {
				signs[k] = foldSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			}
			mx := maxOf(xval[:])
			if mx < 1e-15 {
				scales[ib] = 0
				clear(L[:])
				continue
			}
			scale := makeQP(4, xval[:], Lqp[:], weight[:])
			for i, l := range Lqp {
				L[i] = int8(l)
			}
			scale = iq2xxsFit.fit(s, xval[:], weight[:], waux[:], L[:], Laux[:], float32(scale*3), scale)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := range 4 {
				q[2*ib] |= uint32(iq2xxsFit.gridIndex(s, L[8*k:])) << (8 * k)
				q[2*ib+1] |= uint32(signs[k]) << (7 * k)
			}
			scales[ib] = scale
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		clear(out)
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putHalf(out, d)
		id := 1 / d
		for ib := range 8 {
			q[2*ib+1] |= uint32(gridLevel(id, scales[ib], 15)) << 28
		}
		for i, w := range q {
			binary.LittleEndian.PutUint32(out[2+4*i:], w)
		}
	}
}

func dequantizeIQ2XXS(src []byte, dst []float32) {
	grid := iq2xxsLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*66 : i*66+66]
		y := dst[i*256 : i*256+256]
		d := getHalf(b)
		for ib := range 8 {
			idx := b[2+8*ib : 2+8*ib+4]
			word := binary.LittleEndian.Uint32(b[2+8*ib+4:])
			db := float32(d*(0.5+float32(word>>28))) * 0.25
			for l := range 4 {
				decodeSigned8(y[32*ib+8*l:], grid[int(idx[l])*8:], db, signByte(uint8(word>>(7*l))&127))
			}
		}
	}
}

// decodeSigned8 writes the 8 values db·g[j], negated where signs has bit j.
func decodeSigned8(y, g []float32, db float32, signs uint8) {
	y, g = y[:8], g[:8]
	for j, v := range g {
		y[j] = negIf(db*v, signs&(1<<j) != 0)
	}
}

// quantizeIQ2XS quantizes one row with importance weights qw.
func quantizeIQ2XS(src []float32, dst []byte, qw []float32) {
	s := iq2xsLattice.searchTables()
	var (
		weight, xval, waux [16]float32
		L, Laux            [16]int8
		scales             [16]float32
		q                  [32]uint16
		signs              [2]uint8
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*74 : ibl*74+74]
		clear(q[:])
		sigma2 := superBlockSigma2(x, false)
		var maxScale float32
		for ib := range 16 {
			xb := x[16*ib : 16*ib+16]
			blockWeights(weight[:], waux[:], qw, ibl*256+16*ib, xb, sigma2)
			for k := range 2 {
				signs[k] = foldSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			}
			mx := maxOf(xval[:])
			if mx < 1e-15 {
				scales[ib] = 0
				clear(L[:])
				continue
			}
			scale := iq2xsFit.fit(s, xval[:], weight[:], waux[:], L[:], Laux[:], mx, mx/5)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := range 2 {
				q[2*ib+k] = uint16(iq2xsFit.gridIndex(s, L[8*k:])) | uint16(signs[k])<<9
			}
			scales[ib] = scale
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		clear(out)
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putHalf(out, d)
		for i, v := range q {
			binary.LittleEndian.PutUint16(out[2+2*i:], v)
		}
		packScaleNibbles(out[66:74], &scales, 1/d)
	}
}

// packScaleNibbles stores 16 sub-block scales as 4-bit indices, two per
// byte, low nibble first.
func packScaleNibbles(dst []byte, scales *[16]float32, id float32) {
	for ib := 0; ib < 16; ib += 2 {
		dst[ib/2] = uint8(gridLevel(id, scales[ib], 15)) | uint8(gridLevel(id, scales[ib+1], 15))<<4
	}
}

// scaleNibbles returns the two block scales d·(0.5 + s)·0.25 of a byte of
// IQ2_XS or IQ2_S scales.
func scaleNibbles(d float32, sc uint8) (lo, hi float32) {
	lo = float32(d*(0.5+float32(sc&0xf))) * 0.25
	hi = float32(d*(0.5+float32(sc>>4))) * 0.25
	return lo, hi
}

func dequantizeIQ2XS(src []byte, dst []float32) {
	grid := iq2xsLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*74 : i*74+74]
		y := dst[i*256 : i*256+256]
		d := getHalf(b)
		for ib := range 8 {
			var db [2]float32
			db[0], db[1] = scaleNibbles(d, b[66+ib])
			for l := range 4 {
				v := binary.LittleEndian.Uint16(b[2+2*(4*ib+l):])
				decodeSigned8(y[32*ib+8*l:], grid[int(v&511)*8:], db[l/2], signByte(uint8(v>>9)))
			}
		}
	}
}

// quantizeIQ2S quantizes one row; qw, when not nil, holds a weight per
// value of the row.
func quantizeIQ2S(src []float32, dst []byte, qw []float32) {
	s := iq2sLattice.searchTables()
	var (
		weight, xval, waux [16]float32
		L, Laux            [16]int8
		scales             [16]float32
		signs              [2]uint8
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*82 : ibl*82+82]
		clear(out)
		qs, qh := out[2:66], out[66:74]
		sigma2 := superBlockSigma2(x, true)
		var maxScale float32
		for ib := range 16 {
			xb := x[16*ib : 16*ib+16]
			if qw != nil {
				blockWeights(weight[:], waux[:], qw, ibl*256+16*ib, xb, sigma2)
			} else {
				// Without an imatrix IQ2_S weighs by σ²/4 + x², not x².
				for i, v := range xb {
					weight[i] = float32(0.25*sigma2) + float32(v*v)
					waux[i] = sqrt32(weight[i])
				}
			}
			for k := range 2 {
				var sgn uint8
				for i, v := range xb[8*k : 8*k+8] {
					if v >= 0 {
						xval[8*k+i] = v
					} else {
						xval[8*k+i] = -v
						sgn |= 1 << i
					}
				}
				signs[k] = sgn
			}
			mx := maxOf(xval[:])
			if mx < 1e-8 {
				scales[ib] = 0
				continue
			}
			scale := iq2sFit.fit(s, xval[:], weight[:], waux[:], L[:], Laux[:], mx, mx/5)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k]
				}
			}
			for k := range 2 {
				g := iq2sFit.gridIndex(s, L[8*k:])
				i8 := 2*ib + k
				qs[i8] = uint8(g)
				qh[i8/4] |= uint8(g>>8) << (2 * (i8 % 4))
				qs[32+i8] = signs[k]
			}
			scales[ib] = scale
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putHalf(out, float32(d*0.9875))
		packScaleNibbles(out[74:82], &scales, 1/d)
	}
}

func dequantizeIQ2S(src []byte, dst []float32) {
	grid := iq2sLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*82 : i*82+82]
		y := dst[i*256 : i*256+256]
		d := getHalf(b)
		qs, signs, qh, sc := b[2:34], b[34:66], b[66:74], b[74:82]
		for ib := range 8 {
			var db [2]float32
			db[0], db[1] = scaleNibbles(d, sc[ib])
			for l := range 4 {
				g := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
				decodeSigned8(y[32*ib+8*l:], grid[g*8:], db[l/2], signs[4*ib+l])
			}
		}
	}
}
