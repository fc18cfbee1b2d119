package forward

import "golang.org/x/sys/cpu"

// tileFMA is tileGo in AVX2 with fused multiply-adds (tile_amd64.s).
//
//go:noescape
func tileFMA(kc int, x, w, c *float32)

// tile multiplies one tile over one panel; see tileGo.
var tile = tileGo

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		tile = tileAVX2
	}
}

// tileAVX2 checks the slices tileFMA reads and writes, then calls it.
func tileAVX2(kc int, x, w, c []float32) {
	if kc <= 0 {
		return
	}
	_, _, _ = x[kc*tileRows-1], w[kc*tileCols-1], c[tileRows*tileCols-1]
	tileFMA(kc, &x[0], &w[0], &c[0])
}

// isTileGo reports whether the portable kernel is in use.
func isTileGo() bool { return !(cpu.X86.HasAVX2 && cpu.X86.HasFMA) }
