package quant

// makeQPQuants is ggml's make_qp_quants: a fit x ≈ scale·L with L in
// [0, nmax] under weights w, trying nine inverse scales and then up to
// five passes of coordinate descent. It writes L and returns the scale.
//
// L is uint8 as in ggml: x may hold negative values (IQ2_XXS negates one
// magnitude per group of odd sign parity), whose levels wrap to 255 and
// beyond when stored and are read back wrapped; the sums keep the
// unwrapped levels. Both are reproduced.
func makeQPQuants(nmax int, x []float32, L []uint8, w []float32) float32 {
	n := len(x)
	L, w = L[:n], w[:n]
	var mx float32
	for _, v := range x {
		if !(mx > v) {
			mx = v
		}
	}
	if mx < 1e-15 {
		clear(L)
		return 0
	}
	fmax := float32(nmax)
	nm := int32(nmax)
	iscale := fmax / mx
	for i, v := range x {
		L[i] = uint8(nearestInt(float32(iscale * v)))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(float32(w[i]*diff) * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + fmax) / mx
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(nm, nearestInt(float32(iscaleIs*v)))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(w[i]*diff) * diff)
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nm, nearestInt(float32(iscale*v)))
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(float32(w[i]*v) * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	for range 5 {
		changed := 0
		for i, v := range x {
			wi := w[i]
			fl := float32(L[i])
			slx := sumlx - float32(float32(wi*v)*fl)
			sl2 := suml2 - float32(float32(wi*fl)*fl)
			if slx > 0 && sl2 > 0 {
				nl := min(nm, nearestInt(float32(v*sl2)/slx))
				if nl != int32(L[i]) {
					fn := float32(nl)
					slx += float32(float32(wi*v) * fn)
					sl2 += float32(float32(wi*fn) * fn)
					if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = uint8(nl)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
