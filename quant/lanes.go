package quant

import "math"

// Sixteen sub-block fits side by side. The K-quant quantizers fit every
// sub-block of a super-block independently, so the fits of sixteen
// sub-blocks (one Q2_K or Q6_K block, or two Q4_K or Q5_K blocks) can run
// in the sixteen float32 lanes of two AVX2 registers, each lane performing
// exactly the float32 operations of the scalar fit, in the same order.
// The inner loops over a sub-block's values are the lane kernels below;
// the decisions between them stay in Go, lane by lane.
//
// Lane data is transposed: value i of lane j is at index 16·i+j.

//go:generate sh -c "cd _asm && go run . -out ../lanes_amd64.s -stubs ../lanes_amd64.go -pkg quant"

const laneCount = 16

// laneKernels are the inner loops of the side-by-side fits. x, w and wx
// point at n·16 transposed values; bounds holds lo in its first eight
// entries and hi in its last eight.
type laneKernels struct {
	// qkx2Sums stores, per lane, Σw·l, Σ(w·l)·l and Σ(w·l)·x in sums[0:16],
	// [16:32] and [32:48], with l = clamp(nearestInt(iscale·(x−mn)), lo, hi).
	qkx2Sums func(x, w []float32, n int, iscale, mn *[16]float32, bounds *[16]int32, sums *[48]float32)
	// qkx2Range stores, per lane, the min, max, Σw and Σw·x of
	// rangeSumsQKX2 (before its clamp of the min to ≤ 0) in out[0:16],
	// [16:32], [32:48] and [48:64].
	qkx2Range func(x, w []float32, n int, out *[64]float32)
	// qkx2Err and qkx2Mad store, per lane, Σw·d² and Σw·|d|, with
	// d = s·l + m − x and l as in qkx2Sums.
	qkx2Err, qkx2Mad func(x, w []float32, n int, iscale, mn, s, m *[16]float32, bounds *[16]int32, e *[16]float32)
	// qxSums stores, per lane, Σ(w·x)·l and Σ(w·l)·l in sums[0:16] and
	// [16:32], with l = clamp(nearestInt(iscale·x), lo, hi), and the codes
	// l as floats in codes.
	qxSums func(x, w, wx []float32, n int, iscale *[16]float32, bounds *[16]int32, sums *[32]float32, codes []float32)
	// q3Pass is one pass of makeQ3's coordinate descent (with w = x² and
	// wx = w·x) over the codes l (as floats) and the sums Σ(w·x)·l and
	// Σ(w·l)·l in sums[0:16] and [16:32]; it reports whether any lane
	// changed a code.
	q3Pass func(x, w, wx, l []float32, n int, bounds *[16]int32, sums *[32]float32) bool
}

// goLaneKernels are the lane kernels in Go, the reference for the SIMD ones.
var goLaneKernels = laneKernels{
	qkx2Sums:  qkx2SumsLanes,
	qkx2Range: qkx2RangeLanes,
	qkx2Err: func(x, w []float32, n int, is, mn, s, m *[16]float32, b *[16]int32, e *[16]float32) {
		qkx2ErrLanes(x, w, n, is, mn, s, m, b, e, false)
	},
	qkx2Mad: func(x, w []float32, n int, is, mn, s, m *[16]float32, b *[16]int32, e *[16]float32) {
		qkx2ErrLanes(x, w, n, is, mn, s, m, b, e, true)
	},
	qxSums: qxSumsLanes,
	q3Pass: q3PassLanes,
}

// simdLanes is the SIMD implementation of the lane kernels when the CPU
// has one (chosen at start-up), and lanes the one the quantizers use: the
// side-by-side fits only pay off with SIMD kernels, so without them the
// quantizers keep their scalar fits (lanes.qkx2Sums == nil). Tests switch
// lanes to cover every path on any machine.
var (
	simdLanes = detectSIMDLanes()
	lanes     = simdLanes
)

func qkx2SumsLanes(x, w []float32, n int, iscale, mn *[16]float32, bounds *[16]int32, sums *[48]float32) {
	x, w = x[:n*laneCount], w[:n*laneCount]
	var sL, sL2, sXL [16]float32
	for i := range n {
		for j := range laneCount {
			v := x[16*i+j]
			l := max(bounds[j%8], min(bounds[8+j%8], nearestInt(float32(iscale[j]*(v-mn[j])))))
			fl := float32(l)
			wl := float32(w[16*i+j] * fl)
			sL[j] += wl
			sL2[j] += float32(wl * fl)
			sXL[j] += float32(wl * v)
		}
	}
	copy(sums[0:16], sL[:])
	copy(sums[16:32], sL2[:])
	copy(sums[32:48], sXL[:])
}

func qkx2RangeLanes(x, w []float32, n int, out *[64]float32) {
	x, w = x[:n*laneCount], w[:n*laneCount]
	for j := range laneCount {
		mn, mx, sumW := x[j], x[j], w[j]
		sumX := float32(sumW * x[j])
		for i := 1; i < n; i++ {
			v := x[16*i+j]
			if v < mn {
				mn = v
			}
			if v > mx {
				mx = v
			}
			sumW += w[16*i+j]
			sumX += float32(w[16*i+j] * v)
		}
		out[j], out[16+j], out[32+j], out[48+j] = mn, mx, sumW, sumX
	}
}

func qkx2ErrLanes(x, w []float32, n int, iscale, mn, s, m *[16]float32, bounds *[16]int32, e *[16]float32, mad bool) {
	x, w = x[:n*laneCount], w[:n*laneCount]
	*e = [16]float32{}
	for i := range n {
		for j := range laneCount {
			v := x[16*i+j]
			l := max(bounds[j%8], min(bounds[8+j%8], nearestInt(float32(iscale[j]*(v-mn[j])))))
			d := float32(s[j]*float32(l)) + m[j] - v
			if mad {
				e[j] += float32(w[16*i+j] * abs32(d))
			} else {
				e[j] += float32(w[16*i+j] * float32(d*d))
			}
		}
	}
}

func qxSumsLanes(x, w, wx []float32, n int, iscale *[16]float32, bounds *[16]int32, sums *[32]float32, codes []float32) {
	x, w, wx, codes = x[:n*laneCount], w[:n*laneCount], wx[:n*laneCount], codes[:n*laneCount]
	var slx, sl2 [16]float32
	for i := range n {
		for j := range laneCount {
			fl := float32(max(bounds[j%8], min(bounds[8+j%8], nearestInt(float32(iscale[j]*x[16*i+j])))))
			codes[16*i+j] = fl
			slx[j] += float32(wx[16*i+j] * fl)
			sl2[j] += float32(float32(w[16*i+j]*fl) * fl)
		}
	}
	copy(sums[0:16], slx[:])
	copy(sums[16:32], sl2[:])
}

func q3PassLanes(x, w, wx, l []float32, n int, bounds *[16]int32, sums *[32]float32) bool {
	x, w, wx, l = x[:n*laneCount], w[:n*laneCount], wx[:n*laneCount], l[:n*laneCount]
	changed := false
	for i := range n {
		for j := range laneCount {
			k := 16*i + j
			sumlx, suml2 := sums[j], sums[16+j]
			fl := l[k]
			slx := sumlx - float32(wx[k]*fl)
			if !(slx > 0) {
				continue
			}
			sl2 := suml2 - float32(float32(w[k]*fl)*fl)
			nl := max(bounds[j%8], min(bounds[8+j%8], nearestInt(float32(x[k]*sl2)/slx)))
			fn := float32(nl)
			if fn == fl {
				continue
			}
			slx += float32(wx[k] * fn)
			sl2 += float32(float32(w[k]*fn) * fn)
			if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
				l[k] = fn
				sums[j], sums[16+j] = slx, sl2
				changed = true
			}
		}
	}
	return changed
}

func laneBounds(lo, hi int32) (b [16]int32) {
	for j := range 8 {
		b[j], b[8+j] = lo, hi
	}
	return b
}

// qkx2Lanes holds the sixteen sub-blocks of a side-by-side makeQKX2 and,
// after fit, their results.
type qkx2Lanes struct {
	x, w               [32 * laneCount]float32
	mn, mx, sumW, sumX [laneCount]float32

	scale, negMin [laneCount]float32
	// The winning grid of each lane: codes clamp(nearestInt(iscale·(x−
	// gridMin)), 0, nmax), or all zero for a flat lane.
	iscale, gridMin [laneCount]float32
	flat            [laneCount]bool

	scratch laneScratch
}

// laneScratch is the working memory of the side-by-side fits. The lane
// kernels are called through function values, which escape analysis cannot
// see through, so arrays handed to them would move to the heap on every
// call; kept here, they are allocated once per row.
type laneScratch struct {
	bounds                        [laneCount]int32
	is, s, m, e, bestErr, bestMin [laneCount]float32
	sums                          [48]float32
	rangeSums                     [64]float32
	lf                            [32 * laneCount]float32
}

// load puts sub-block x with weights w into lane j.
func (q *qkx2Lanes) load(j int, x, w []float32) {
	w = w[:len(x)]
	for i, v := range x {
		q.x[16*i+j] = v
		q.w[16*i+j] = w[i]
	}
}

// fit is makeQKX2 for the sixteen lanes of n values each.
func (q *qkx2Lanes) fit(k *laneKernels, n, nmax int, rmin, rdelta float32, nstep int, useMad bool) {
	sc := &q.scratch
	bounds := &sc.bounds
	*bounds = laneBounds(0, int32(nmax))
	errs := k.qkx2Err
	if useMad {
		errs = k.qkx2Mad
	}
	fmax := float32(nmax)
	is, s, e, m, bestErr, bestMin, sums := &sc.is, &sc.s, &sc.e, &sc.m, &sc.bestErr, &sc.bestMin, &sc.sums
	x, w := q.x[:n*laneCount], q.w[:n*laneCount]
	k.qkx2Range(x, w, n, &sc.rangeSums)
	for j := range laneCount {
		q.mn[j], q.mx[j], q.sumW[j], q.sumX[j] = min(0, sc.rangeSums[j]), sc.rangeSums[16+j], sc.rangeSums[32+j], sc.rangeSums[48+j]
	}
	for j := range laneCount {
		q.flat[j] = q.mx[j] == q.mn[j]
		is[j] = fmax / (q.mx[j] - q.mn[j])
		s[j] = 1 / is[j]
	}
	errs(x, w, n, is, &q.mn, s, &q.mn, bounds, bestErr)
	q.scale, q.iscale, *bestMin, q.gridMin = *s, *is, q.mn, q.mn
	var valid [laneCount]bool
	for step := 0; nstep >= 1 && step <= nstep; step++ {
		sp := rmin + float32(rdelta*float32(step)) + fmax
		for j := range laneCount {
			is[j] = sp / (q.mx[j] - bestMin[j])
		}
		k.qkx2Sums(x, w, n, is, bestMin, bounds, sums)
		any := false
		for j := range laneCount {
			sL, sL2, sXL := sums[j], sums[16+j], sums[32+j]
			D := float32(q.sumW[j]*sL2) - float32(sL*sL)
			valid[j] = D > 0 && !q.flat[j]
			if !valid[j] {
				continue
			}
			any = true
			s[j] = (float32(q.sumW[j]*sXL) - float32(q.sumX[j]*sL)) / D
			m[j] = (float32(sL2*q.sumX[j]) - float32(sL*sXL)) / D
			if m[j] > 0 {
				m[j] = 0
				s[j] = sXL / sL2
			}
		}
		if !any {
			continue
		}
		errs(x, w, n, is, bestMin, s, m, bounds, e)
		for j := range laneCount {
			if valid[j] && e[j] < bestErr[j] {
				bestErr[j] = e[j]
				q.scale[j] = s[j]
				q.iscale[j], q.gridMin[j] = is[j], bestMin[j]
				bestMin[j] = m[j]
			}
		}
	}
	for j := range laneCount {
		q.negMin[j] = -bestMin[j]
		if q.flat[j] {
			q.scale[j], q.negMin[j] = 0, -q.mn[j]
		}
	}
}

// codes writes the codes of lane j's winning grid for its values x to L.
func (q *qkx2Lanes) codes(j int, x []float32, L []uint8, nmax int32) {
	L = L[:len(x)]
	if q.flat[j] {
		clear(L)
		return
	}
	is, mn := q.iscale[j], q.gridMin[j]
	for i, v := range x {
		L[i] = uint8(max(0, min(nmax, nearestInt(float32(is*(v-mn))))))
	}
}

// qxLanes holds the sixteen sub-blocks (of up to 32 values) of a
// side-by-side makeQXWeighted and, after fit, their results.
type qxLanes struct {
	x, w, wx [32 * laneCount]float32
	mx       [laneCount]float32

	scale, iscale [laneCount]float32
	zero          [laneCount]bool

	scratch laneScratch
}

// load puts sub-block x with weights w into lane j.
func (q *qxLanes) load(j int, x, w []float32) {
	w = w[:len(x)]
	for i, v := range x {
		q.x[16*i+j] = v
		q.w[16*i+j] = w[i]
		q.wx[16*i+j] = float32(w[i] * v)
	}
	q.mx[j] = signedAbsMax(x)
}

// loadSquares is load with weights x².
func (q *qxLanes) loadSquares(j int, x []float32) {
	for i, v := range x {
		w := float32(v * v)
		q.x[16*i+j] = v
		q.w[16*i+j] = w
		q.wx[16*i+j] = float32(w * v)
	}
	q.mx[j] = signedAbsMax(x)
}

// loadAllSquares is loadSquares for the sixteen 16-value sub-blocks of x.
func (q *qxLanes) loadAllSquares(x *[256]float32) {
	if legacy.squares && squaresSIMD(x, (*[256]float32)(q.x[:256]), (*[256]float32)(q.w[:256]), (*[256]float32)(q.wx[:256]), &q.mx) {
		// The kernel finds the first value of largest magnitude; as
		// signedAbsMax, a lane of zeros gives +0, and one with a NaN
		// takes the C loop's answer.
		for j, v := range q.mx {
			switch b := math.Float32bits(v) & 0x7fffffff; {
			case b == 0:
				q.mx[j] = 0
			case b > 0x7f800000:
				q.mx[j] = signedAbsMax(x[16*j : 16*j+16])
			}
		}
		return
	}
	for j := range laneCount {
		q.loadSquares(j, x[16*j:16*j+16])
	}
}

// fit is makeQXWeighted for the sixteen lanes of n ≤ 32 values each.
func (q *qxLanes) fit(k *laneKernels, n, nmax int) {
	fn := float32(nmax)
	sc := &q.scratch
	bounds, is, sums := &sc.bounds, &sc.is, (*[32]float32)(sc.sums[:32])
	*bounds = laneBounds(int32(-nmax), int32(nmax-1))
	var best [laneCount]float32
	for j := range laneCount {
		q.zero[j] = abs32(q.mx[j]) < 1e-15
		is[j] = -fn / q.mx[j]
	}
	k.qxSums(q.x[:], q.w[:], q.wx[:], n, is, bounds, sums, sc.lf[:])
	q.iscale = *is
	for j := range laneCount {
		q.scale[j] = 0
		if sums[16+j] != 0 {
			q.scale[j] = sums[j] / sums[16+j]
		}
		best[j] = float32(q.scale[j] * sums[j])
	}
	// Spacings -9..-1 and 1..9, in the reference's order.
	for step := -9; step <= 9; step++ {
		if step == 0 {
			continue
		}
		for j := range laneCount {
			is[j] = -(fn + float32(0.1*float32(step))) / q.mx[j]
		}
		k.qxSums(q.x[:], q.w[:], q.wx[:], n, is, bounds, sums, sc.lf[:])
		for j := range laneCount {
			slx, sl2 := sums[j], sums[16+j]
			if sl2 > 0 && float32(slx*slx) > float32(best[j]*sl2) {
				q.iscale[j] = is[j]
				q.scale[j] = slx / sl2
				best[j] = float32(q.scale[j] * slx)
			}
		}
	}
	for j := range laneCount {
		if q.zero[j] {
			q.scale[j] = 0
		}
	}
}

// codes writes lane j's codes for its values x to L.
func (q *qxLanes) codes(j int, x []float32, L []int8, nmax int) {
	L = L[:len(x)]
	if q.zero[j] {
		clear(L)
		return
	}
	lo, hi, is := int32(-nmax), int32(nmax-1), q.iscale[j]
	for i, v := range x {
		L[i] = int8(int32(nmax) + max(lo, min(hi, nearestInt(float32(is*v)))))
	}
}

// makeQ3Lanes is makeQ3 for the sixteen 16-value sub-blocks loaded into q
// by loadSquares (with nmax 4, as Q3_K uses it): it writes each lane's
// codes to L[16·j:16·j+16] and returns the scales. A pass that changes no
// code leaves the state as it was, so the lanes can all run until none
// changes.
func makeQ3Lanes(k *laneKernels, q *qxLanes, x *[256]float32, L *[256]int8) (scales [16]float32) {
	const nmax = 4
	sc := &q.scratch
	bounds, is, sums, lf := &sc.bounds, &sc.is, (*[32]float32)(sc.sums[:32]), &sc.lf
	*bounds = laneBounds(-nmax, nmax-1)
	for j := range laneCount {
		q.zero[j] = abs32(q.mx[j]) < 1e-15
		if q.zero[j] {
			// A lane of (near) zeros never changes a code.
			for i := range 16 {
				q.x[16*i+j], q.w[16*i+j], q.wx[16*i+j] = 0, 0, 0
			}
		}
		is[j] = -nmax / q.mx[j]
	}
	// The initial codes, with x² weights: as in qxLanes.fit, but with the
	// values of zero lanes cleared.
	k.qxSums(q.x[:], q.w[:], q.wx[:], 16, is, bounds, sums, lf[:])
	for range 5 {
		if !k.q3Pass(q.x[:], q.w[:], q.wx[:], lf[:], 16, bounds, sums) {
			break
		}
	}
	for j := range laneCount {
		for i := range 16 {
			L[16*j+i] = int8(lf[16*i+j]) + nmax
		}
		if sums[16+j] > 0 {
			scales[j] = sums[j] / sums[16+j]
		}
		if q.zero[j] {
			clear(L[16*j : 16*j+16])
			scales[j] = 0
		}
	}
	return scales
}

// requantizeGroups re-quantizes the 16-value groups g of x with
// sd[g] ≠ 0 against their stored scales: L = clamp(nearestInt((x + dm[g]) /
// sd[g]), lo, hi) + bias, the last step of every K-quant. (A dm of 0 gives
// the plain x / sd: x + 0 differs from x only for -0, which rounds to the
// same code.)
func requantizeGroups[T int8 | uint8](x *[256]float32, sd, dm *[16]float32, lo, hi, bias int32, L *[256]T) {
	if legacy.requant {
		bounds := laneBounds(lo, hi)
		if requantSIMD(x, sd, dm, &bounds, bias, L) {
			return
		}
	}
	requantizeGroupsGo(x, sd, dm, lo, hi, bias, L)
}

func requantizeGroupsGo[T int8 | uint8](x *[256]float32, sd, dm *[16]float32, lo, hi, bias int32, L *[256]T) {
	for g := range 16 {
		if sd[g] == 0 {
			continue
		}
		for i := 16 * g; i < 16*g+16; i++ {
			L[i] = T(max(lo, min(hi, nearestInt((x[i]+dm[g])/sd[g]))) + bias)
		}
	}
}
