//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run ./decode -out ../decode_amd64.s -stubs ../decode_amd64.go -pkg quant"

// decoderSets lists the SIMD block decoders this CPU runs, widest first:
// AVX2 needs the OS to keep YMM state, AVX-512 ZMM state (cpu checks
// both), and both F16C for the block scales.
func decoderSets() []namedDecoders {
	if !cpu.X86.HasAVX2 || !hasF16C() {
		return nil
	}
	var sets []namedDecoders
	if cpu.X86.HasAVX512F {
		sets = append(sets, namedDecoders{"AVX512", blockDecoders{q4K: decodeQ4KAVX512, q5K: decodeQ5KAVX512,
			q6K: decodeQ6KAVX512, q8_0: decodeQ8_0AVX512, q4_0: decodeQ4_0AVX512, f16: decodeF16AVX512}})
	}
	return append(sets, namedDecoders{"AVX2", blockDecoders{q4K: decodeQ4KAVX2, q5K: decodeQ5KAVX2,
		q6K: decodeQ6KAVX2, q8_0: decodeQ8_0AVX2, q4_0: decodeQ4_0AVX2, f16: decodeF16AVX2}})
}
