package quant

// makeQP is ggml's make_qp_quants: a fit x ≈ scale·L of non-negative
// values with L in [0, nmax], minimising Σw·(x−scale·L)². It tries nine
// grid spacings around nmax/max, then refines L by up to five passes of
// coordinate descent, and returns the least-squares scale for the final L.
// The importance-weighted K-quants fit their sub-block scales and mins
// with it, and so do the lattice IQ types their block scales.
//
// L holds each code as the uint8 the C code stores: a negative code (from
// a negative x) wraps, and the descent then reads the wrapped value back,
// as ggml does.
func makeQP(nmax int, x []float32, L []uint8, w []float32) float32 {
	n := len(x)
	L = L[:n]
	w = w[:n]
	var mx float32
	for _, v := range x {
		if !(mx > v) { // MAX(max, x[i])
			mx = v
		}
	}
	if mx < 1e-15 {
		clear(L)
		return 0
	}
	top := int32(nmax)
	iscale := float32(nmax) / mx
	for i, v := range x {
		L[i] = uint8(nearestInt(float32(iscale * v)))
	}
	scale := 1 / iscale
	var bestErr float32
	for i, v := range x {
		d := v - float32(scale*float32(L[i]))
		bestErr += float32(float32(w[i]*d) * d)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + float32(nmax)) / mx
		scaleIs := 1 / iscaleIs
		var e float32
		for i, v := range x {
			l := min(top, nearestInt(float32(iscaleIs*v)))
			d := v - float32(scaleIs*float32(l))
			e += float32(float32(w[i]*d) * d)
		}
		if e < bestErr {
			bestErr = e
			iscale = iscaleIs
		}
	}

	var sumlx, suml2 float32
	for i, v := range x {
		l := min(top, nearestInt(float32(iscale*v)))
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(float32(w[i]*v) * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	for range 5 {
		changed := false
		for i, v := range x {
			wi, fl := w[i], float32(L[i])
			slx := sumlx - float32(float32(wi*v)*fl)
			sl2 := suml2 - float32(float32(wi*fl)*fl)
			if !(slx > 0 && sl2 > 0) {
				continue
			}
			nl := min(top, nearestInt(float32(v*sl2)/slx))
			if nl == int32(L[i]) {
				continue
			}
			fn := float32(nl)
			slx += float32(float32(wi*v) * fn)
			sl2 += float32(float32(wi*fn) * fn)
			if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
				L[i] = uint8(nl)
				sumlx, suml2 = slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
