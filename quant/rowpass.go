package quant

// dequantizeQ4KWith is dequantizeQ4K with the codes of each super-block
// expanded by kernel: the scales and minima are decoded here, exactly as
// dequantizeQ4K decodes them.
func dequantizeQ4KWith(kernel func(q *[128]byte, dm *[16]float32, y *[256]float32), src []byte, dst []float32) {
	var dm [16]float32
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q4KSize : (i+1)*q4KSize]
		d := getHalf(b[0:2])
		dmin := getHalf(b[2:4])
		for j := range 8 {
			sc, m := getScaleMinK4(j, b[4:16])
			dm[2*j], dm[2*j+1] = float32(d*float32(sc)), float32(dmin*float32(m))
		}
		kernel((*[128]byte)(b[16:144]), &dm, (*[256]float32)(dst[i*256:(i+1)*256]))
	}
}

// dequantizeQ6KWith is dequantizeQ6K with the codes of each super-block
// expanded by kernel; the scales times d are computed here, as
// dequantizeQ6K's first multiplication computes them.
func dequantizeQ6KWith(kernel func(b *[192]byte, ds *[16]float32, y *[256]float32), src []byte, dst []float32) {
	var ds [16]float32
	for i := 0; i < len(dst)/256; i++ {
		b := src[i*q6KSize : (i+1)*q6KSize]
		d := getHalf(b[208:210])
		for k, sc := range b[192:208] {
			ds[k] = d * float32(int8(sc))
		}
		kernel((*[192]byte)(b[:192]), &ds, (*[256]float32)(dst[i*256:(i+1)*256]))
	}
}
