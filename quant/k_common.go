package quant

import (
	"encoding/binary"
	"math"
)

// Shared pieces of the K-quant kernels (ggml's quantize_row_q{2..6}_K_ref).
//
// Bit-exactness with ggml rests on three habits used throughout:
//   - every intermediate is a float32, evaluated in the C order;
//   - a product that is later added to something, directly or through a
//     variable, is wrapped in float32(...), which forbids Go from fusing it
//     into an FMA (ggml is built without FP contraction; arm64 and others
//     fuse even across statements, see the Go spec on floating-point
//     operators);
//   - sums run from the first element to the last, as the C loops do.

// nearestInt is ggml's nearest_int: adding 1.5·2^23 leaves the integer part
// of x, rounded half to even, in the low mantissa bits. Valid for
// |x| ≤ 4194303, like the original; outside that it returns the same
// garbage the C code does.
func nearestInt(x float32) int32 {
	return int32(math.Float32bits(x+12582912)&0x7fffff) - 0x400000
}

// abs32 is C's fabsf: it clears the sign bit, NaN payloads included.
func abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}

// sqrt32 is sqrtf: the float64 square root of a float32 rounds to the
// correctly rounded float32 root (the compiler emits SQRTSS).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// putHalf stores x as GGML_FP32_TO_FP16 does and returns the stored bits.
func putHalf(b []byte, x float32) uint16 {
	h := F32ToF16(x)
	binary.LittleEndian.PutUint16(b, h)
	return h
}

func getHalf(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j from the
// 12 scale bytes of a Q4_K or Q5_K block (get_scale_min_k4).
func getScaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xF) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

// packScaleMinK4 is the inverse of getScaleMinK4 for eight 6-bit scales
// and mins. The bytes are written in ggml's order (j ascending), which
// matters because the high bits of j≥4 are or-ed into bytes set for j<4.
func packScaleMinK4(q []byte, ls, lm *[8]uint8) {
	for j := 0; j < 8; j++ {
		if j < 4 {
			q[j] = ls[j]
			q[j+4] = lm[j]
		} else {
			q[j+4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
			q[j-4] |= (ls[j] >> 4) << 6
			q[j] |= (lm[j] >> 4) << 6
		}
	}
}

// q3Scale decodes the signed 6-bit scale of sub-block j of a Q3_K block.
func q3Scale(s []byte, j int) int8 {
	var sc int8
	if j < 8 {
		sc = int8(s[j] & 0xF)
	} else {
		sc = int8(s[j-8] >> 4)
	}
	return (sc | int8(((s[8+j%4]>>(2*(j/4)))&3)<<4)) - 32
}

// packQ2 stores 2-bit values, four per byte, as Q2_K and Q3_K do: within
// each 128-element half, byte l holds elements l, l+32, l+64, l+96.
func packQ2(qs []byte, L *[256]uint8) {
	for j := 0; j < 256; j += 128 {
		q := qs[j/4 : j/4+32]
		for l := range q {
			q[l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// The block quantizers take their sub-block fit as a parameter: the kernels
// pass the tuned makeQKX2 and makeQX, and the tests pass plain
// transliterations of ggml's routines, so that everything around the fit
// is one piece of code and the fits are compared through whole blocks.
type (
	qkx2Fit func(nmax int, x, w []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, negMin float32)
	qxFit   func(nmax int, x []float32, L []int8) float32
)

// quantizeBlocksK runs a K-quant block quantizer over the whole 256-value
// blocks of src, writing blocks of size bytes to dst.
func quantizeBlocksK[T int8 | uint8, F any](src []float32, dst []byte, size int, fit F, block func(*[256]float32, []byte, *kScratch[T], F)) {
	s := new(kScratch[T])
	for i := 0; i < len(src)/256; i++ {
		block((*[256]float32)(src[i*256:]), dst[i*size:(i+1)*size], s, fit)
	}
}

// kScratch is the working memory of the K-quant block quantizers. The
// sub-block fit is called through a function value, which escape analysis
// cannot see through, so buffers handed to it would move to the heap on
// every block; one scratch per call keeps the block loop allocation-free.
type kScratch[T int8 | uint8] struct {
	L       [256]T
	laux    [32]uint8
	weights [32]float32
}

// makeQKX2 is make_qkx2_quants: fit x ≈ scale·L + min with L in [0,nmax]
// by weighted least squares, trying nstep+1 grid spacings around nmax.
// It writes L and returns scale and -min (≥ 0). laux is scratch space of
// len(x). With rmin -0.9, rdelta 0.05, nstep 36 and no MAD it is also
// make_qkx3_quants given weights, which differs only in code this fit
// never reaches.
//
// The spacings must be tried in order: one that wins moves the offset the
// later grids are built from. They are nevertheless built two at a time
// (the sums of one grid form chains of dependent additions that leave the
// CPU idle), and the second grid is rebuilt in the rare case the first
// one moves the offset. A grid identical to the one before it skips its
// error sum, as that error depends only on the grid and so cannot be
// strictly below the best error already seen.
func makeQKX2(nmax int, x, w []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, negMin float32) {
	n := len(x)
	w = w[:n]
	L = L[:n]
	laux = laux[:n]
	mn, mx, sumW, sumX := rangeSumsQKX2(x, w)
	if mx == mn {
		clear(L)
		return 0, -mn
	}
	nm := int32(nmax)
	fmax := float32(nmax)
	iscale := fmax / (mx - mn)
	var xmBuf, lfBuf, lfbBuf [32]float32
	var lbBuf [32]uint8
	xm, lf, lfb, lb := xmBuf[:n], lfBuf[:n], lfbBuf[:n], lbBuf[:n]
	for i, v := range x {
		xm[i] = v - mn
		l := max(0, min(nm, nearestInt(float32(iscale*xm[i]))))
		L[i] = uint8(l)
		lf[i] = float32(l)
	}
	best := qkx2Best{err: errQKX2(lf, 1/iscale, mn, x, w, useMad), scale: 1 / iscale, min: mn}
	if nstep < 1 {
		return best.scale, -mn
	}
	spacing := func(is int) float32 { return rmin + float32(rdelta*float32(is)) + fmax }
	for is := 0; is <= nstep; is += 2 {
		den := mx - best.min
		if is == nstep {
			g := gridQKX2(spacing(is)/den, nm, x, xm, w, laux, laux, lf)
			best.try(g, is == 0, sumW, sumX, x, w, xm, laux, lf, L, useMad)
			break
		}
		a, b := gridQKX2Pair(spacing(is)/den, spacing(is+1)/den, nm, x, xm, w, laux, lf, lb, lfb)
		before := best.min
		best.try(a, is == 0, sumW, sumX, x, w, xm, laux, lf, L, useMad)
		if best.min != before {
			// The first grid moved the offset: build the second one anew,
			// against the first.
			b = gridQKX2(spacing(is+1)/(mx-best.min), nm, x, xm, w, laux, lb, lfb)
		}
		best.try(b, false, sumW, sumX, x, w, xm, lb, lfb, L, useMad)
		copy(laux, lb)
	}
	return best.scale, -best.min
}

// qkx2Grid is one candidate grid of makeQKX2: Σw·l, Σw·l², Σw·l·x, and
// whether its codes differ from the grid tried before it.
type qkx2Grid struct {
	sL, sL2, sXL float32
	changed      uint8
}

// qkx2Best is the best fit makeQKX2 has found so far.
type qkx2Best struct{ err, scale, min float32 }

// try fits grid g (codes la, as floats lf) by least squares and keeps it,
// copying la to L and re-centring xm on the new min, if its error beats
// the best. Grids unchanged from the one before are skipped unless force.
func (b *qkx2Best) try(g qkx2Grid, force bool, sumW, sumX float32, x, w, xm []float32, la []uint8, lf []float32, L []uint8, useMad bool) {
	if !force && g.changed == 0 {
		return
	}
	D := float32(sumW*g.sL2) - float32(g.sL*g.sL)
	if !(D > 0) {
		return
	}
	thisScale := (float32(sumW*g.sXL) - float32(sumX*g.sL)) / D
	thisMin := (float32(g.sL2*sumX) - float32(g.sL*g.sXL)) / D
	if thisMin > 0 {
		thisMin = 0
		thisScale = g.sXL / g.sL2
	}
	e := errQKX2(lf, thisScale, thisMin, x, w, useMad)
	if !(e < b.err) {
		return
	}
	copy(L, la)
	if thisMin != b.min {
		for i, v := range x {
			xm[i] = v - thisMin
		}
	}
	*b = qkx2Best{err: e, scale: thisScale, min: thisMin}
}

// gridQKX2 builds the grid of spacing iscale from xm (x minus the current
// min) into out and lf, comparing it with prev (which may be out).
func gridQKX2(iscale float32, nm int32, x, xm, w []float32, prev, out []uint8, lf []float32) (g qkx2Grid) {
	xm = xm[:len(x)]
	w = w[:len(x)]
	prev = prev[:len(x)]
	out = out[:len(x)]
	lf = lf[:len(x)]
	for i, v := range x {
		l := uint8(max(0, min(nm, nearestInt(float32(iscale*xm[i])))))
		g.changed |= l ^ prev[i]
		out[i] = l
		fl := float32(l)
		lf[i] = fl
		wl := float32(w[i] * fl)
		g.sL += wl
		g.sL2 += float32(wl * fl)
		g.sXL += float32(wl * v)
	}
	return g
}

// gridQKX2Pair is gridQKX2 for two spacings at once: grid a replaces la
// (and is compared with it), grid b goes to lb and is compared with a.
func gridQKX2Pair(isa, isb float32, nm int32, x, xm, w []float32, la []uint8, lfa []float32, lb []uint8, lfb []float32) (a, b qkx2Grid) {
	xm = xm[:len(x)]
	w = w[:len(x)]
	la = la[:len(x)]
	lfa = lfa[:len(x)]
	lb = lb[:len(x)]
	lfb = lfb[:len(x)]
	for i, v := range x {
		m, wi := xm[i], w[i]
		p := uint8(max(0, min(nm, nearestInt(float32(isa*m)))))
		q := uint8(max(0, min(nm, nearestInt(float32(isb*m)))))
		a.changed |= p ^ la[i]
		b.changed |= q ^ p
		la[i], lb[i] = p, q
		fp, fq := float32(p), float32(q)
		lfa[i], lfb[i] = fp, fq
		wp, wq := float32(wi*fp), float32(wi*fq)
		a.sL += wp
		b.sL += wq
		a.sL2 += float32(wp * fp)
		b.sL2 += float32(wq * fq)
		a.sXL += float32(wp * v)
		b.sXL += float32(wq * v)
	}
	return a, b
}

// rangeSumsQKX2 is the first pass of make_qkx2_quants: the minimum of x
// (0 if that is positive), the maximum, Σw and Σw·x.
func rangeSumsQKX2(x, w []float32) (mn, mx, sumW, sumX float32) {
	w = w[:len(x)]
	mn, mx = x[0], x[0]
	sumW = w[0]
	sumX = float32(sumW * x[0])
	for i := 1; i < len(x); i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	return mn, mx, sumW, sumX
}

// errQKX2 is Σw·(s·l+m−x)², or Σw·|s·l+m−x| when useMad is set.
func errQKX2(lf []float32, s, m float32, x, w []float32, useMad bool) float32 {
	lf = lf[:len(x)]
	w = w[:len(x)]
	var e float32
	if useMad {
		for i, xi := range x {
			d := float32(s*lf[i]) + m - xi
			e += float32(w[i] * abs32(d))
		}
		return e
	}
	for i, xi := range x {
		d := float32(s*lf[i]) + m - xi
		e += float32(w[i] * float32(d*d))
	}
	return e
}

// makeQX is make_qx_quants with rmse_type 1 and no importance weights:
// makeQXWeighted with weights x². len(x) ≤ 16.
func makeQX(nmax int, x []float32, L []int8) float32 {
	var wBuf [16]float32
	w := wBuf[:len(x)]
	for i, v := range x {
		w[i] = float32(v * v)
	}
	return makeQXWeighted(nmax, x, w, L)
}

// makeQXWeighted is make_qx_quants with rmse_type 1 and weights w: a
// symmetric fit x ≈ scale·(L-nmax), L in [0, 2·nmax-1], minimising
// Σw·(x-scale·l)² over 19 grid spacings. It writes L and returns scale.
// len(x) ≤ 32.
//
// The products of the weights with x are the same for every spacing, so
// they are computed once; the sums of two spacings are accumulated side by
// side (each in the reference order), and L is rebuilt only for the
// spacing that wins.
func makeQXWeighted(nmax int, x, w []float32, L []int8) float32 {
	n := len(x)
	L = L[:n]
	w = w[:n]
	mx := signedAbsMax(x)
	amax := abs32(mx)
	if amax < 1e-15 {
		clear(L)
		return 0
	}
	var wxBuf [32]float32
	wx := wxBuf[:n]
	for i, v := range x {
		wx[i] = float32(w[i] * v)
	}
	fn := float32(nmax)
	lo, hi := int32(-nmax), int32(nmax-1)

	// Spacing 0 first, then -9..-1 and 1..9, as the reference tries them.
	var iscales, slx, sl2 [19]float32
	iscales[0] = -fn / mx
	for k, is := 1, -9; is <= 9; is++ {
		if is != 0 {
			iscales[k] = -(fn + float32(0.1*float32(is))) / mx
			k++
		}
	}
	slx[0], sl2[0] = sumsQX(iscales[0], x, w, wx, lo, hi)
	for k := 1; k < 19; k += 2 {
		slx[k], sl2[k], slx[k+1], sl2[k+1] = sumsQX2(iscales[k], iscales[k+1], x, w, wx, lo, hi)
	}

	var scale float32
	if sl2[0] != 0 {
		scale = slx[0] / sl2[0]
	}
	best := float32(scale * slx[0])
	bestK := 0
	for k := 1; k < 19; k++ {
		if sl2[k] > 0 && float32(slx[k]*slx[k]) > float32(best*sl2[k]) {
			bestK = k
			scale = slx[k] / sl2[k]
			best = float32(scale * slx[k])
		}
	}
	for i, v := range x {
		L[i] = int8(int32(nmax) + max(lo, min(hi, nearestInt(float32(iscales[bestK]*v)))))
	}
	return scale
}

// sumsQX returns Σ(w·x)·l and Σ(w·l)·l for l = clamp(round(iscale·x)).
func sumsQX(iscale float32, x, w, wx []float32, lo, hi int32) (sumlx, suml2 float32) {
	w = w[:len(x)]
	wx = wx[:len(x)]
	for i, v := range x {
		fl := float32(max(lo, min(hi, nearestInt(float32(iscale*v)))))
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	return sumlx, suml2
}

// sumsQX2 is sumsQX for two spacings at once.
func sumsQX2(isa, isb float32, x, w, wx []float32, lo, hi int32) (slxa, sl2a, slxb, sl2b float32) {
	w = w[:len(x)]
	wx = wx[:len(x)]
	for i, v := range x {
		fa := float32(max(lo, min(hi, nearestInt(float32(isa*v)))))
		fb := float32(max(lo, min(hi, nearestInt(float32(isb*v)))))
		wxi, wi := wx[i], w[i]
		slxa += float32(wxi * fa)
		slxb += float32(wxi * fb)
		sl2a += float32(float32(wi*fa) * fa)
		sl2b += float32(float32(wi*fb) * fb)
	}
	return
}

// makeQ3 is make_q3_quants with do_rmse: an initial symmetric fit with
// weights x², refined by up to five passes of coordinate descent on each
// L. It writes L in [0, 2·nmax-1] and returns the scale.
func makeQ3(nmax int, x []float32, L []int8) float32 {
	n := len(x)
	L = L[:n]
	vmax := signedAbsMax(x)
	amax := abs32(vmax)
	if amax < 1e-15 {
		clear(L)
		return 0
	}
	lo, hi := int32(-nmax), int32(nmax-1)
	iscale := -float32(nmax) / vmax
	var sumlx, suml2 float32
	for i := range n {
		l := max(lo, min(hi, nearestInt(float32(iscale*x[i]))))
		L[i] = int8(l)
		w := float32(x[i] * x[i])
		fl := float32(l)
		sumlx += float32(float32(w*x[i]) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for range 5 {
		changed := 0
		for i := range n {
			w := float32(x[i] * x[i])
			fl := float32(L[i])
			slx := sumlx - float32(float32(w*x[i])*fl)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*fl)*fl)
				nl := max(lo, min(hi, nearestInt(float32(x[i]*sl2)/slx)))
				if nl != int32(L[i]) {
					fn := float32(nl)
					slx += float32(float32(w*x[i]) * fn)
					sl2 += float32(float32(w*fn) * fn)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(nl)
						sumlx = slx
						suml2 = sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range n {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
