package quant

// Straight transliterations of the ggml routines that the K-quant kernels
// tune (make_qkx2_quants, make_qx_quants), kept as an oracle: run inside
// the kernels' own block quantizers in place of makeQKX2 and makeQX, they
// must produce the same bytes for any input, including inputs far from the
// golden files. The rest of each block quantizer, make_q3_quants and the
// first pass of make_qkx2_quants (rangeSumsQKX2) included, is already a
// plain transliteration and is checked against the goldens.

// refMakeQKX2 is make_qkx2_quants: fit x ≈ scale·L + min with L in [0,nmax]
// by weighted least squares, trying nstep+1 grid spacings around nmax.
// It writes L and returns scale and -min (≥ 0). laux is scratch space.
func refMakeQKX2(nmax int, x, w []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, negMin float32) {
	n := len(x)
	vmin, vmax, sumW, sumX := rangeSumsQKX2(x, w)
	if vmax == vmin {
		for i := range n {
			L[i] = 0
		}
		return 0, -vmin
	}
	fmax := float32(nmax)
	iscale := fmax / (vmax - vmin)
	scale = 1 / iscale
	// errOf is Σw·|s·l+m−x| with useMad, else Σw·(s·l+m−x)².
	errOf := func(s, m float32, l []uint8) float32 {
		var e float32
		for i := range n {
			diff := float32(s*float32(l[i])) + m - x[i]
			if useMad {
				diff = abs32(diff)
			} else {
				diff = float32(diff * diff)
			}
			e += float32(w[i] * diff)
		}
		return e
	}
	for i := range n {
		l := nearestInt(float32(iscale * (x[i] - vmin)))
		L[i] = uint8(max(0, min(int32(nmax), l)))
	}
	bestErr := errOf(scale, vmin, L)
	if nstep < 1 {
		return scale, -vmin
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fmax) / (vmax - vmin)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := nearestInt(float32(iscale * (x[i] - vmin)))
			l = max(0, min(int32(nmax), l))
			laux[i] = uint8(l)
			wl := float32(w[i] * float32(l))
			sumL += wl
			sumL2 += float32(wl * float32(l))
			sumXL += float32(wl * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			if curErr := errOf(thisScale, thisMin, laux); curErr < bestErr {
				copy(L[:n], laux[:n])
				bestErr = curErr
				scale = thisScale
				vmin = thisMin
			}
		}
	}
	return scale, -vmin
}

// refMakeQX is make_qx_quants with rmse_type 1 and no importance weights
// (weights x²).
func refMakeQX(nmax int, x []float32, L []int8) float32 {
	return refMakeQXWeighted(nmax, x, nil, L)
}

// refMakeQXWeighted is make_qx_quants with rmse_type 1: a symmetric fit
// x ≈ scale·(L-nmax), L in [0, 2·nmax-1], weighted by qw (x² when qw is
// nil), searching 19 grid spacings. It writes L and returns scale.
func refMakeQXWeighted(nmax int, x, qw []float32, L []int8) float32 {
	n := len(x)
	weight := func(i int) float32 {
		if qw != nil {
			return qw[i]
		}
		return float32(x[i] * x[i])
	}
	var vmax, amax float32
	for i := range n {
		ax := abs32(x[i])
		if ax > amax {
			amax = ax
			vmax = x[i]
		}
	}
	if amax < 1e-15 {
		for i := range n {
			L[i] = 0
		}
		return 0
	}
	fn := float32(nmax)
	lo, hi := int32(-nmax), int32(nmax-1)
	iscale := -fn / vmax
	var sumlx, suml2 float32
	for i := range n {
		l := nearestInt(float32(iscale * x[i]))
		l = max(lo, min(hi, l))
		L[i] = int8(l + int32(nmax))
		w := weight(i)
		fl := float32(l)
		sumlx += float32(float32(w*x[i]) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fn + float32(0.1*float32(is))) / vmax
		sumlx, suml2 = 0, 0
		for i := range n {
			l := nearestInt(float32(iscale * x[i]))
			l = max(lo, min(hi, l))
			w := weight(i)
			fl := float32(l)
			sumlx += float32(float32(w*x[i]) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i := range n {
				l := nearestInt(float32(iscale * x[i]))
				L[i] = int8(int32(nmax) + max(lo, min(hi, l)))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}
