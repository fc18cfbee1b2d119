//go:build !amd64

package forward

// tile multiplies one tile over one panel; see tileGo.
var tile = tileGo

// isTileGo reports whether the portable kernel is in use.
func isTileGo() bool { return true }
