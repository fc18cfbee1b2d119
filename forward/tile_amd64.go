//go:build !purego

package forward

//go:generate go run ./internal/tilegen

import "golang.org/x/sys/cpu"

// tileFMA computes a quarter of a tile with AVX2 fused multiply-adds
// (tile_amd64.s); tileFMA512 the whole tile with AVX-512.
// Both do exactly tileGo's sums, each product fused with its addition.
//
//go:noescape
func tileFMA(kc int, x, w, c *float32)

//go:noescape
func tileFMA512(kc int, x, w, c *float32)

// transpose8 and transpose8BF16 lay 8 weight rows out k-major for a panel
// (tile_amd64.s; their stores assume tileCols = 32).
//
//go:noescape
func transpose8(dst, src *float32, stride, blocks int)

//go:noescape
func transpose8BF16(dst *float32, src *byte, stride, blocks int)

// tileDot512 computes the whole bf16 tile with VDPBF16PS, exactly
// tileBF16Go's sums (tile_amd64.s).
//
//go:noescape
func tileDot512(kp int, x, w *uint32, c *float32)

// transpose8Pairs and transpose8ToPairs lay 8 weight rows out pair-major
// for a bf16 panel, from bfloat16 rows as stored or from float32 rows
// rounded with VCVTNEPS2BF16 (tile_amd64.s; their stores assume
// tileCols = 32).
//
//go:noescape
func transpose8Pairs(dst *uint32, src *byte, stride, blocks int)

//go:noescape
func transpose8ToPairs(dst *uint32, src *float32, stride, blocks int)

const _ = uint(tileCols-32) + uint(32-tileCols)

// tileBF16 multiplies one tile over one panel of bfloat16 pairs; see
// tileBF16Go.
var tileBF16 = tileBF16Go

// tile multiplies one tile over one panel; see tileGo.
var tile = tileGo

// tileFused reports whether tile fuses multiply and add.
var tileFused = false

func init() {
	switch {
	case cpu.X86.HasAVX512F:
		tile, tileFused = tileAVX512, true
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		tile, tileFused = tileAVX2, true
	}
	if cpu.X86.HasAVX2 {
		packRows8, packRows8BF16 = transpose8, transpose8BF16
		packRows8Pairs = transpose8Pairs
	}
	if cpu.X86.HasAVX512BF16 && cpu.X86.HasAVX512F {
		tileBF16 = tileAVX512BF16
		packRows8ToPairs = transpose8ToPairs
	}
}

// checkTile verifies the slices a tile kernel reads and writes.
func checkTile(kc int, x, w, c []float32) {
	_, _, _ = x[kc*tileRows-1], w[kc*tileCols-1], c[tileRows*tileCols-1]
}

func tileAVX2(kc int, x, w, c []float32) {
	if kc <= 0 {
		return
	}
	checkTile(kc, x, w, c)
	const half = tileRows / 2
	tileFMA(kc, &x[0], &w[0], &c[0])
	tileFMA(kc, &x[half], &w[0], &c[half*tileCols])
	tileFMA(kc, &x[0], &w[16], &c[16])
	tileFMA(kc, &x[half], &w[16], &c[half*tileCols+16])
}

func tileAVX512(kc int, x, w, c []float32) {
	if kc <= 0 {
		return
	}
	checkTile(kc, x, w, c)
	tileFMA512(kc, &x[0], &w[0], &c[0])
}

func tileAVX512BF16(kp int, x, w []uint32, c []float32) {
	if kp <= 0 {
		return
	}
	_, _, _ = x[kp*tileRows-1], w[kp*tileCols-1], c[tileRows*tileCols-1]
	tileDot512(kp, &x[0], &w[0], &c[0])
}
