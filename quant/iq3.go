package quant

import (
	"encoding/binary"

	"github.com/mxq-dev/mxq/ggml"
)

// IQ3_XXS and IQ3_S: 3-bit magnitudes from a grid of 4-value points,
// signs stored separately (ggml's quantize_row_iq3_xxs_impl,
// quantize_row_iq3_s_impl and their dequantizers).

func init() {
	register(ggml.IQ3_XXS, kernel{
		quantize:         func(src []float32, dst []byte) { quantizeEachBlock(src, dst, 98, quantizeIQ3XXS) },
		quantizeWeighted: quantizeIQ3XXS,
		dequantize:       dequantizeIQ3XXS,
	})
	register(ggml.IQ3_S, kernel{
		quantize:         func(src []float32, dst []byte) { quantizeEachBlock(src, dst, 110, quantizeIQ3S) },
		quantizeWeighted: quantizeIQ3S,
		dequantize:       dequantizeIQ3S,
	})
}

// quantizeEachBlock runs a row quantizer without importance weights on
// every 256-value super-block on its own. The grid quantizers carry a
// little state from one block to the next within a row (see gridFit.fit),
// which only matters when no scale fits a block at all; without weights
// that takes values whose squares overflow, and starting each super-block
// afresh keeps the bytes independent of how rows are split up.
func quantizeEachBlock(src []float32, dst []byte, size int, row func(src []float32, dst []byte, qw []float32)) {
	for i := range len(src) / 256 {
		row(src[i*256:(i+1)*256], dst[i*size:(i+1)*size], nil)
	}
}

var (
	iq3xxsFit = gridFit{lattice: iq3xxsLattice, maxLevel: 7, nmax: 15, steps: 15, step: 0.2, startOnGrid: true}
	iq3sFit   = gridFit{lattice: iq3sLattice, maxLevel: 7, nmax: 15, steps: 9, step: 0.2, refineAll: true}
)

// quantizeIQ3XXS quantizes one row; qw, when not nil, holds a weight per
// value of the row.
func quantizeIQ3XXS(src []float32, dst []byte, qw []float32) {
	s := iq3xxsLattice.searchTables()
	var (
		weight, xval, waux [32]float32
		L, Laux            [32]int8
		scales             [8]float32
		q                  [96]byte // 64 grid indices, then 8 words of signs and scale
		signs              [4]uint8
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*98 : ibl*98+98]
		clear(q[:])
		sigma2 := superBlockSigma2(x, true)
		var maxScale float32
		for ib := range 8 {
			xb := x[32*ib : 32*ib+32]
			blockWeights(weight[:], waux[:], qw, ibl*256+32*ib, xb, sigma2)
			for k := range 4 {
				signs[k] = foldSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			}
			mx := maxOf(xval[:])
			if mx < 1e-8 {
				scales[ib] = 0
				clear(L[:])
				continue
			}
			scale := iq3xxsFit.fit(s, xval[:], weight[:], waux[:], L[:], Laux[:], mx, mx/15)
			if scale < 0 {
				// Never expected; ggml flips the scale and the first four
				// groups' signs, and so does mxq.
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := range 8 {
				q[8*ib+k] = uint8(iq3xxsFit.gridIndex(s, L[4*k:]))
			}
			word := uint32(signs[0]) | uint32(signs[1])<<7 | uint32(signs[2])<<14 | uint32(signs[3])<<21
			binary.LittleEndian.PutUint32(q[64+4*ib:], word)
			scales[ib] = scale
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			putHalf(out, 0)
			clear(out[2:])
			continue
		}
		d := maxScale / 31
		putHalf(out, float32(d*1.0125))
		id := 1 / d
		for ib := range 8 {
			q[64+4*ib+3] |= uint8(gridLevel(id, scales[ib], 15)) << 4
		}
		copy(out[2:], q[:])
	}
}

func dequantizeIQ3XXS(src []byte, dst []float32) {
	grid := iq3xxsLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*98 : i*98+98]
		y := dst[i*256 : i*256+256]
		d := getHalf(b)
		qs := b[2:66]
		for ib := range 8 {
			word := binary.LittleEndian.Uint32(b[66+4*ib:])
			db := float32(d*(0.5+float32(word>>28))) * 0.5
			for l := range 4 {
				signs := signByte(uint8(word>>(7*l)) & 127)
				g1 := grid[int(qs[8*ib+2*l])*4:][:4]
				g2 := grid[int(qs[8*ib+2*l+1])*4:][:4]
				yy := y[32*ib+8*l : 32*ib+8*l+8]
				for j := range 4 {
					yy[j] = negIf(db*g1[j], signs&(1<<j) != 0)
					yy[j+4] = negIf(db*g2[j], signs&(1<<(j+4)) != 0)
				}
			}
		}
	}
}

// quantizeIQ3S quantizes one row; qw, when not nil, holds a weight per
// value of the row.
func quantizeIQ3S(src []float32, dst []byte, qw []float32) {
	s := iq3sLattice.searchTables()
	var (
		weight, xval, waux [32]float32
		L, Laux            [32]int8
		scales             [8]float32
		signs              [4]uint8
	)
	for ibl := range len(src) / 256 {
		x := src[ibl*256 : ibl*256+256]
		out := dst[ibl*110 : ibl*110+110]
		clear(out)
		// Layout: d, qs[64], qh[8], signs[32], scales[4]. A block that is
		// all zero takes no room in qs and signs: ggml advances those only
		// past the blocks it stores, and so does mxq.
		qs, qh, sg, sc := out[2:66], out[66:74], out[74:106], out[106:110]
		sigma2 := superBlockSigma2(x, true)
		var maxScale float32
		for ib := range 8 {
			xb := x[32*ib : 32*ib+32]
			blockWeights(weight[:], waux[:], qw, ibl*256+32*ib, xb, sigma2)
			for k := range 4 {
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
			if mx == 0 {
				scales[ib] = 0
				continue
			}
			scale := iq3sFit.fit(s, xval[:], weight[:], waux[:], L[:], Laux[:], mx, mx/15)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k]
				}
			}
			for k := range 8 {
				g := iq3sFit.gridIndex(s, L[4*k:])
				qs[k] = uint8(g)
				qh[(ib*8+k)/8] |= uint8(g>>8) << ((ib*8 + k) % 8)
			}
			qs = qs[8:]
			copy(sg, signs[:])
			sg = sg[4:]
			scales[ib] = scale
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putHalf(out, float32(d*1.033))
		id := 1 / d
		for ib := 0; ib < 8; ib += 2 {
			sc[ib/2] = uint8(gridLevel(id, scales[ib], 15)) | uint8(gridLevel(id, scales[ib+1], 15))<<4
		}
	}
}

func dequantizeIQ3S(src []byte, dst []float32) {
	grid := iq3sLattice.decodeGrid()
	for i := range len(dst) / 256 {
		b := src[i*110 : i*110+110]
		y := dst[i*256 : i*256+256]
		d := getHalf(b)
		qs, qh, signs, scales := b[2:66], b[66:74], b[74:106], b[106:110]
		for ib := range 8 {
			sc := scales[ib/2] >> (4 * (ib % 2)) & 0xf
			db := d * float32(1+2*int32(sc))
			h := int(qh[ib])
			for l := range 4 {
				g1 := grid[(int(qs[8*ib+2*l])|(h<<(8-2*l))&256)*4:][:4]
				g2 := grid[(int(qs[8*ib+2*l+1])|(h<<(7-2*l))&256)*4:][:4]
				sgn := signs[4*ib+l]
				yy := y[32*ib+8*l : 32*ib+8*l+8]
				for j := range 4 {
					yy[j] = negIf(db*g1[j], sgn&(1<<j) != 0)
					yy[j+4] = negIf(db*g2[j], sgn&(1<<(j+4)) != 0)
				}
			}
		}
	}
}

// blockWeights sets the weights of the block xb starting at column off of
// its row: from the importance weights qw when there are some, else x²;
// waux gets their square roots, the weights of the neighbour searches.
func blockWeights(weight, waux, qw []float32, off int, xb []float32, sigma2 float32) {
	xb = xb[:len(weight)]
	if qw != nil {
		importanceWeights(weight, xb[:len(weight)], qw[off:], sigma2)
	} else {
		for i, v := range xb {
			weight[i] = v * v
		}
	}
	waux = waux[:len(weight)]
	for i, v := range weight {
		waux[i] = sqrt32(v)
	}
}
