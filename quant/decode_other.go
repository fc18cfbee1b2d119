//go:build !amd64 || purego

package quant

// detectDecoders: no SIMD block decoders on this platform.
func detectDecoders() blockDecoders { return blockDecoders{} }
