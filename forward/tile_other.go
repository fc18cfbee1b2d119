//go:build !amd64

package forward

// tile multiplies one tile over one panel; see tileGo.
var tile = tileGo

// tileFused reports whether tile fuses multiply and add.
const tileFused = false
