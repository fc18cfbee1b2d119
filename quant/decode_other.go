//go:build !amd64 || purego

package quant

// decoderSets: no SIMD block decoders on this platform.
func decoderSets() []namedDecoders { return nil }
