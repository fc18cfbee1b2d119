package quant

// Straight transliterations of ggml's reference K-quant functions, kept as
// an oracle: the tuned kernels must produce the same bytes for any input,
// including inputs far from the golden files.

// refMakeQKX2 is make_qkx2_quants: fit x ≈ scale·L + min with L in [0,nmax]
// by weighted least squares, trying nstep+1 grid spacings around nmax.
// It writes L and returns scale and -min (≥ 0). laux is scratch space.
func refMakeQKX2(nmax int, x, w []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMad bool) (scale, negMin float32) {
	n := len(x)
	min, max := x[0], x[0]
	sumW := w[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range n {
			L[i] = 0
		}
		return 0, -min
	}
	fmax := float32(nmax)
	iscale := fmax / (max - min)
	scale = 1 / iscale
	var bestErr float32
	for i := range n {
		l := nearestInt(float32(iscale * (x[i] - min)))
		L[i] = uint8(max32i(0, min32i(int32(nmax), l)))
		diff := float32(scale*float32(L[i])) + min - x[i]
		if useMad {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		bestErr += float32(w[i] * diff)
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := nearestInt(float32(iscale * (x[i] - min)))
			l = max32i(0, min32i(int32(nmax), l))
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
			var curErr float32
			for i := range n {
				diff := float32(thisScale*float32(laux[i])) + thisMin - x[i]
				if useMad {
					diff = abs32(diff)
				} else {
					diff = float32(diff * diff)
				}
				curErr += float32(w[i] * diff)
			}
			if curErr < bestErr {
				copy(L[:n], laux[:n])
				bestErr = curErr
				scale = thisScale
				min = thisMin
			}
		}
	}
	return scale, -min
}

// refMakeQX is make_qx_quants with rmse_type 1 and no importance weights
// (weights x²): a symmetric fit x ≈ scale·(L-nmax), L in [0, 2·nmax-1],
// searching 19 grid spacings. It writes L and returns scale.
func refMakeQX(nmax int, x []float32, L []int8) float32 {
	n := len(x)
	var max, amax float32
	for i := range n {
		ax := abs32(x[i])
		if ax > amax {
			amax = ax
			max = x[i]
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
	iscale := -fn / max
	var sumlx, suml2 float32
	for i := range n {
		l := nearestInt(float32(iscale * x[i]))
		l = max32i(lo, min32i(hi, l))
		L[i] = int8(l + int32(nmax))
		w := float32(x[i] * x[i])
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
		iscale = -(fn + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i := range n {
			l := nearestInt(float32(iscale * x[i]))
			l = max32i(lo, min32i(hi, l))
			w := float32(x[i] * x[i])
			fl := float32(l)
			sumlx += float32(float32(w*x[i]) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i := range n {
				l := nearestInt(float32(iscale * x[i]))
				L[i] = int8(int32(nmax) + max32i(lo, min32i(hi, l)))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// refMakeQ3 is make_q3_quants with do_rmse: an initial symmetric fit with
// weights x², refined by up to five passes of coordinate descent on each
// L. It writes L in [0, 2·nmax-1] and returns the scale.
func refMakeQ3(nmax int, x []float32, L []int8) float32 {
	n := len(x)
	var max, amax float32
	for i := range n {
		ax := abs32(x[i])
		if ax > amax {
			amax = ax
			max = x[i]
		}
	}
	if amax < 1e-15 {
		for i := range n {
			L[i] = 0
		}
		return 0
	}
	lo, hi := int32(-nmax), int32(nmax-1)
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i := range n {
		l := nearestInt(float32(iscale * x[i]))
		l = max32i(lo, min32i(hi, l))
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
				nl := nearestInt(float32(x[i]*sl2) / slx)
				nl = max32i(lo, min32i(hi, nl))
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

// refQuantizeBlockQ2K is quantize_row_q2_K_ref for one block.
func refQuantizeBlockQ2K(x *[256]float32, y []byte, L *[256]uint8) {
	const q4scale = 15
	var laux [16]uint8
	var weights [16]float32
	var mins, scales [16]float32
	var maxScale, maxMin float32
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = refMakeQKX2(3, xs, weights[:], L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := y[0:16]
	var d, dmin float32
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range 16 {
			sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
		}
		d = F16ToF32(putHalf(y[80:82], maxScale/q4scale))
	} else {
		clear(sc)
		d = F16ToF32(putHalf(y[80:82], 0))
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range 16 {
			sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
		}
		dmin = F16ToF32(putHalf(y[82:84], maxMin/q4scale))
	} else {
		dmin = F16ToF32(putHalf(y[82:84], 0))
	}
	for j := range 16 {
		sd := float32(d * float32(sc[j]&0xF))
		if sd == 0 {
			continue
		}
		dm := float32(dmin * float32(sc[j]>>4))
		for ii := range 16 {
			l := nearestInt((x[16*j+ii] + dm) / sd)
			L[16*j+ii] = uint8(max(0, min(3, l)))
		}
	}
	packQ2(y[16:80], L)
}

// refQuantizeBlockQ3K is quantize_row_q3_K_ref for one block.
func refQuantizeBlockQ3K(x *[256]float32, y []byte, L *[256]int8) {
	var scales [16]float32
	var maxScale, amax float32
	for j := range 16 {
		scales[j] = refMakeQ3(4, x[16*j:16*j+16], L[16*j:16*j+16])
		if s := abs32(scales[j]); s > amax {
			amax = s
			maxScale = scales[j]
		}
	}
	sc := y[96:108]
	clear(sc)
	var d float32
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := range 16 {
			l := int8(nearestInt(float32(iscale * scales[j])))
			l = max(-32, min(31, l)) + 32
			if j < 8 {
				sc[j] = uint8(l) & 0xF
			} else {
				sc[j-8] |= (uint8(l) & 0xF) << 4
			}
			l >>= 4
			sc[j%4+8] |= uint8(l) << (2 * (j / 4))
		}
		d = F16ToF32(putHalf(y[108:110], 1/iscale))
	} else {
		d = F16ToF32(putHalf(y[108:110], 0))
	}
	for j := range 16 {
		sd := float32(d * float32(q3Scale(sc, j)))
		if sd == 0 {
			continue
		}
		for ii := range 16 {
			l := nearestInt(x[16*j+ii] / sd)
			L[16*j+ii] = int8(max(-4, min(3, l)) + 4)
		}
	}
	hmask := y[0:32]
	clear(hmask)
	var U [256]uint8
	for j := range 256 {
		l := uint8(L[j])
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = l
	}
	packQ2(y[32:96], &U)
}

// refQuantizeBlockQ4K is quantize_row_q4_K_ref for one block.
func refQuantizeBlockQ4K(x *[256]float32, y []byte, L *[256]uint8) {
	var laux [32]uint8
	var weights [32]float32
	var mins, scales [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = refMakeQKX2(15, xs, weights[:], L[32*j:32*j+32], laux[:], -1, 0.1, 20, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	refEncodeScalesQ45K(y, x, L, &scales, &mins, maxScale, maxMin, 15)

	q := y[16:144]
	for j := 0; j < 256; j += 64 {
		for l := range 32 {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

// refEncodeScalesQ45K writes d, dmin and the packed 6-bit scales and mins of a
// Q4_K or Q5_K block, then re-quantizes x against the stored (rounded)
// scales into L, leaving sub-blocks whose scale rounds to zero as they are.
func refEncodeScalesQ45K(y []byte, x *[256]float32, L *[256]uint8, scales, mins *[8]float32, maxScale, maxMin float32, nmax int32) {
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := range 8 {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	packScaleMinK4(y[4:16], &ls, &lm)
	d := F16ToF32(putHalf(y[0:2], maxScale/63))
	dmin := F16ToF32(putHalf(y[2:4], maxMin/63))
	for j := range 8 {
		sd := float32(d * float32(ls[j]))
		if sd == 0 {
			continue
		}
		dm := float32(dmin * float32(lm[j]))
		for ii := range 32 {
			l := nearestInt((x[32*j+ii] + dm) / sd)
			L[32*j+ii] = uint8(max(0, min(nmax, l)))
		}
	}
}

// refQuantizeBlockQ5K is quantize_row_q5_K_ref for one block.
func refQuantizeBlockQ5K(x *[256]float32, y []byte, L *[256]uint8) {
	var laux [32]uint8
	var weights [32]float32
	var mins, scales [8]float32
	var maxScale, maxMin float32
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = refMakeQKX2(31, xs, weights[:], L[32*j:32*j+32], laux[:], -0.5, 0.1, 15, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	refEncodeScalesQ45K(y, x, L, &scales, &mins, maxScale, maxMin, 31)

	qh := y[16:48]
	ql := y[48:176]
	clear(qh)
	m1, m2 := uint8(1), uint8(2)
	for n := 0; n < 256; n += 64 {
		for j := range 32 {
			l1, l2 := L[n+j], L[n+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
		ql = ql[32:]
	}
}

// refQuantizeBlockQ6K is quantize_row_q6_K_ref for one block.
func refQuantizeBlockQ6K(x *[256]float32, y []byte, L *[256]int8) {
	var scales [16]float32
	var maxScale, maxAbsScale float32
	for ib := range 16 {
		s := refMakeQX(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if as := abs32(s); as > maxAbsScale {
			maxAbsScale = as
			maxScale = s
		}
	}
	if maxAbsScale < 1e-15 {
		clear(y[:q6KSize])
		return
	}
	iscale := -128 / maxScale
	d := F16ToF32(putHalf(y[208:210], 1/iscale))
	sc := y[192:208]
	for ib := range 16 {
		sc[ib] = uint8(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
	}
	for j := range 16 {
		sd := float32(d * float32(int8(sc[j])))
		if sd == 0 {
			continue
		}
		for ii := range 16 {
			l := nearestInt(x[16*j+ii] / sd)
			L[16*j+ii] = int8(max(-32, min(31, l)) + 32)
		}
	}
	ql := y[0:128]
	qh := y[128:192]
	for j := 0; j < 256; j += 128 {
		for l := range 32 {
			a, b, c, e := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
			ql[l] = a&0xF | (c&0xF)<<4
			ql[l+32] = b&0xF | (e&0xF)<<4
			qh[l] = a>>4 | (b>>4)<<2 | (c>>4)<<4 | (e>>4)<<6
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

func min32i(a, b int32) int32 {
	if a < b {
		return a
	}
	return b
}

func max32i(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}
