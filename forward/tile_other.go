//go:build !amd64 || purego

package forward

// tile multiplies one tile over one panel; see tileGo.
var tile = tileGo

// tileFused reports whether tile fuses multiply and add.
const tileFused = false

// tileBF16 multiplies one tile over one panel of bfloat16 pairs; see
// tileBF16Go.
var tileBF16 = tileBF16Go
