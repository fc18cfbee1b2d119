//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

//go:generate sh -c "cd _asm && go run ./decode -out ../decode_amd64.s -stubs ../decode_amd64.go -pkg quant"

// detectDecoders returns the AVX2 block decoders when the CPU has AVX2
// (with OS support) and F16C for the block scales.
func detectDecoders() blockDecoders {
	if !cpu.X86.HasAVX2 || !hasF16C() {
		return blockDecoders{}
	}
	return blockDecoders{q4K: decodeQ4KAVX2, q5K: decodeQ5KAVX2, q6K: decodeQ6KAVX2, q8_0: decodeQ8_0AVX2, q4_0: decodeQ4_0AVX2}
}
