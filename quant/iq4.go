package quant

import (
	"encoding/binary"
	"math"

	"github.com/mxq-dev/mxq/ggml"
)

// IQ4_NL and IQ4_XS store 4-bit indices into one fixed non-linear table of
// 16 levels (kvalues_iq4nl), so x = d·level[q].
//
// IQ4_NL block (18 bytes, 32 values): d f16, qs[16]; byte j holds element j
// in its low nibble and element j+16 in its high nibble.
// IQ4_XS block (136 bytes, 256 values): d f16, scales_h u16, scales_l[4],
// qs[128]. Each 32-value sub-block ib has a 6-bit scale ls (low 4 bits in
// nibble ib%2 of scales_l[ib/2], high 2 bits at bit 2·ib of scales_h), and
// x = d·(ls-32)·level[q]; qs is laid out per sub-block as in IQ4_NL.
const (
	blockIQ4NLLen = 18
	blockIQ4XSLen = 136
)

// iq4Levels is kvalues_iq4nl (ggml-common.h).
var iq4Levels = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func init() {
	register(ggml.IQ4_NL, kernel{
		quantize:         func(src []float32, dst []byte) { quantizeIQ4Rows(src, dst, 32, blockIQ4NLLen, nil) },
		quantizeWeighted: func(src []float32, dst []byte, w []float32) { quantizeIQ4Rows(src, dst, 32, blockIQ4NLLen, w) },
		dequantize:       dequantizeIQ4NL,
	})
	register(ggml.IQ4_XS, kernel{
		quantize:         func(src []float32, dst []byte) { quantizeIQ4Rows(src, dst, 256, blockIQ4XSLen, nil) },
		quantizeWeighted: func(src []float32, dst []byte, w []float32) { quantizeIQ4Rows(src, dst, 256, blockIQ4XSLen, w) },
		dequantize:       dequantizeIQ4XS,
	})
}

// iq4Index is best_index_int8 over iq4Levels as ggml's quantizers use it:
// the bracketing levels, then the nearer one, the upper on a tie, with the
// distances rounded to float32 as C computes them. ggml finds the bracket
// by binary search; the levels are integers, so ⌊x⌋ determines it and a
// table replaces the search. A NaN gets ggml's answer, the top level.
func iq4Index(x float32) uint8 {
	if !(x < 113) {
		return 15
	}
	// Truncating x+127 gives ⌊x⌋+127 where that is positive, except that
	// the float32 sum may round up to the next integer from within half a
	// unit below it. That only moves x below a level into the bracket
	// above it, where that level still comes out nearer, as it is. Below
	// the bottom level the first bracket decides for level 0 as ggml's
	// early exit does.
	k := iq4Bracket[uint8(max(int32(x+127), 0))]
	below, above := x-iq4LevelsF[k&15], iq4LevelsF[(k+1)&15]-x
	// k+1 unless below < above, when below-above is negative: its sign
	// bit, without a branch on a comparison nobody can predict.
	return k + 1 - uint8(math.Float32bits(below-above)>>31)
}

var (
	iq4LevelsF [16]float32
	// iq4Bracket[n+127] is the k with level[k] ≤ n < level[k+1], for the
	// integers n in [-127, 113); sized so that a uint8 indexes it.
	iq4Bracket [256]uint8
)

func init() {
	for k, l := range iq4Levels {
		iq4LevelsF[k] = float32(l)
	}
	k := uint8(0)
	for n := -127; n < 113; n++ {
		for n >= int(iq4Levels[k+1]) {
			k++
		}
		iq4Bracket[n+127] = k
	}
	for n := 240; n < len(iq4Bracket); n++ {
		iq4Bracket[n] = k // x+127 rounded up to 240
	}
}

// iq4Scratch is the working memory of one IQ4 super-block.
type iq4Scratch struct {
	L      [256]uint8
	weight [32]float32
	scales [8]float32
}

// quantizeIQ4Rows quantizes whole super-blocks of n values (32 for IQ4_NL,
// 256 for IQ4_XS), as ggml's quantize_iq4_nl and quantize_iq4_xs do for
// ggml_quantize_chunk with or without importance weights (without, the
// weights are x²; quantize_row_iq4_nl_ref's single-spacing variant is only
// ggml's row converter, not what llama-quantize runs). weights, when
// given, hold one value per column of src, which is one row.
func quantizeIQ4Rows(src []float32, dst []byte, n, size int, weights []float32) {
	var s iq4Scratch
	for i := 0; i < len(src)/n; i++ {
		var qw []float32
		if weights != nil {
			qw = weights[i*n:][:n]
		}
		quantizeIQ4Super(src[i*n:][:n], qw, dst[i*size:][:size], &s)
	}
}

// quantizeIQ4Super is quantize_row_iq4_nl_impl with ntry = 7 for one super
// block x of 32 (IQ4_NL) or 256 (IQ4_XS) values: per 32-value block, a
// weighted least-squares scale chosen among 16 grid spacings; for IQ4_XS the
// block scales are then quantized to 6 bits and the indices recomputed.
func quantizeIQ4Super(x, qw []float32, y []byte, s *iq4Scratch) {
	const ntry = 7
	n := len(x)
	var sigma2 float32
	for _, v := range x {
		sigma2 += float32(v * v)
	}
	sigma2 *= 2 / float32(n)

	var maxScale, amaxScale float32
	for ib := 0; ib < n/32; ib++ {
		xb := x[ib*32:][:32]
		Lb := s.L[ib*32:][:32]
		w := &s.weight
		if qw != nil {
			qb := qw[ib*32:][:32]
			for j, v := range xb {
				w[j] = qb[j] * sqrt32(sigma2+float32(v*v))
			}
		} else {
			for j, v := range xb {
				w[j] = v * v
			}
		}
		var amax, vmax float32
		for _, v := range xb {
			if a := abs32(v); a > amax {
				amax, vmax = a, v
			}
		}
		if amax < 1e-15 {
			s.scales[ib] = 0
			continue
		}
		d := -vmax / float32(iq4Levels[0])
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range xb {
			l := iq4Index(float32(id * v))
			Lb[j] = l
			q := iq4LevelsF[l]
			wq := float32(w[j] * q)
			sumqx += float32(wq * v)
			sumq2 += float32(wq * q)
		}
		d = sumqx / sumq2
		best := float32(d * sumqx)
		// The sums of each grid spacing do not depend on the choices
		// before it, so they are computed three spacings at a time (each
		// still summed in element order), then compared in ggml's order.
		var tx, t2 [2*ntry + 1]float32
		for i := 0; i < len(tx); i += 3 {
			var ids [3]float32
			for k := range ids {
				ids[k] = float32(i+k-ntry+int(iq4Levels[0])) / vmax
			}
			iq4Sums3(&ids, (*[32]float32)(xb), w, (*[3]float32)(tx[i:]), (*[3]float32)(t2[i:]))
		}
		for i := range tx {
			sumqx, sumq2 = tx[i], t2[i]
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
				d = sumqx / sumq2
				best = float32(d * sumqx)
			}
		}
		s.scales[ib] = d
		if a := abs32(d); a > amaxScale {
			amaxScale, maxScale = a, d
		}
	}

	if n > 32 {
		// IQ4_XS: 6-bit block scales relative to d = -max/32.
		scalesL := y[4:8]
		var scalesH uint16
		d := -maxScale / 32
		putHalf(y[0:2], d)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for ib := 0; ib < n/32; ib++ {
			l := max(-32, min(31, nearestInt(float32(id*s.scales[ib]))))
			dl := d * float32(l)
			var idl float32
			if dl != 0 {
				idl = 1 / dl
			}
			Lb := s.L[ib*32:][:32]
			for j, v := range x[ib*32:][:32] {
				Lb[j] = iq4Index(float32(idl * v))
			}
			l += 32
			if ib%2 == 0 {
				scalesL[ib/2] = uint8(l & 0xf)
			} else {
				scalesL[ib/2] |= uint8(l&0xf) << 4
			}
			scalesH |= uint16(l>>4) << (2 * (ib % 8))
		}
		binary.LittleEndian.PutUint16(y[2:4], scalesH)
		packNibbles(y[8:], s.L[:n])
		return
	}
	// IQ4_NL: the block scale is stored as is; indices redone with it.
	putHalf(y[0:2], s.scales[0])
	var id float32
	if s.scales[0] != 0 {
		id = 1 / s.scales[0]
	}
	for j, v := range x {
		s.L[j] = iq4Index(float32(id * v))
	}
	packNibbles(y[2:], s.L[:32])
}

// iq4Sums3 returns Σw·q·x and Σw·q² for q = level[iq4Index(id·x)], for
// three values of id at once: independent sums the processor can overlap.
func iq4Sums3(ids *[3]float32, xb, w *[32]float32, sumqx, sumq2 *[3]float32) {
	id0, id1, id2 := ids[0], ids[1], ids[2]
	var x0, x1, x2, s0, s1, s2 float32
	for j, v := range xb {
		wj := w[j]
		q0 := iq4LevelsF[iq4Index(float32(id0*v))&15]
		q1 := iq4LevelsF[iq4Index(float32(id1*v))&15]
		q2 := iq4LevelsF[iq4Index(float32(id2*v))&15]
		wq0, wq1, wq2 := float32(wj*q0), float32(wj*q1), float32(wj*q2)
		x0 += float32(wq0 * v)
		x1 += float32(wq1 * v)
		x2 += float32(wq2 * v)
		s0 += float32(wq0 * q0)
		s1 += float32(wq1 * q1)
		s2 += float32(wq2 * q2)
	}
	sumqx[0], sumqx[1], sumqx[2] = x0, x1, x2
	sumq2[0], sumq2[1], sumq2[2] = s0, s1, s2
}

// packNibbles stores 4-bit values in 32-value groups: byte j of a group
// holds value j in its low nibble and value j+16 in its high one.
func packNibbles(qs []byte, L []uint8) {
	for i := 0; i < len(L)/32; i++ {
		q := qs[16*i:][:16]
		lo, hi := L[32*i:][:16], L[32*i+16:][:16]
		for j := range q {
			q[j] = lo[j] | hi[j]<<4
		}
	}
}

// dequantizeIQ4Block decodes one 32-value group of nibbles with scale d.
func dequantizeIQ4Block(qs []byte, d float32, y []float32) {
	qs = qs[:16]
	lo, hi := y[:16], y[16:32]
	for j, q := range qs {
		lo[j] = d * float32(iq4Levels[q&0xf])
		hi[j] = d * float32(iq4Levels[q>>4])
	}
}

func dequantizeIQ4NL(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*blockIQ4NLLen:][:blockIQ4NLLen]
		dequantizeIQ4Block(b[2:], getHalf(b), dst[i*32:])
	}
}

func dequantizeIQ4XS(src []byte, dst []float32) {
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*blockIQ4XSLen:][:blockIQ4XSLen]
		d := getHalf(b)
		scalesH := binary.LittleEndian.Uint16(b[2:])
		for ib := range 8 {
			ls := int32(b[4+ib/2]>>(4*(ib%2)))&0xf | int32(scalesH>>(2*ib))&3<<4
			dl := d * float32(ls-32)
			dequantizeIQ4Block(b[8+16*ib:], dl, dst[i*256+32*ib:])
		}
	}
}
