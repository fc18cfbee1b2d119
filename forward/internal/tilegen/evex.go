package main

import (
	"fmt"
	"strings"
)

// The AVX-512 BF16 instructions (VDPBF16PS, VCVTNEPS2BF16) are unknown to
// the Go assembler, and so to avo, whose instruction set is the
// assembler's. The kernels carry them as BYTE directives encoded here,
// each followed by the instruction in Go syntax as a comment. Only the
// operand forms the kernels use are encoded: vector registers, and a
// general register base plus a displacement with a broadcast element.

// EVEX fields of the instructions used (Intel SDM, "EVEX Encoding").
const (
	ppF3    = 2 // implied F3 prefix
	map0F38 = 2
	vecL512 = 2 // EVEX.L'L for 512-bit vectors
)

// evex returns the four-byte EVEX prefix for a 512-bit, W0, unmasked
// instruction in opcode map 0F38 with implied prefix pp, all operands
// vector registers 0..31: reg in ModRM.reg, vvvv the second source (0
// when unused), rm in ModRM.rm. EVEX stores the high register bits
// inverted: R and R' for reg, B and X for rm, V' and vvvv for vvvv.
func evex(pp, reg, vvvv, rm int) []byte {
	inv := func(v, bit int) byte { return byte(^v>>bit) & 1 }
	p0 := inv(reg, 3)<<7 | inv(rm, 4)<<6 | inv(rm, 3)<<5 | inv(reg, 4)<<4 | map0F38
	p1 := byte(^vvvv&15)<<3 | 1<<2 | byte(pp)
	p2 := byte(vecL512)<<5 | inv(vvvv, 4)<<3
	return []byte{0x62, p0, p1, p2}
}

// regRM encodes an instruction whose operands are all vector registers
// (ModRM mod = 11).
func regRM(pp int, op byte, reg, vvvv, rm int) []byte {
	return append(evex(pp, reg, vvvv, rm), op, 0xC0|byte(reg&7)<<3|byte(rm&7))
}

// vdpbf16ps encodes VDPBF16PS Z(src2), Z(src1), Z(acc): for each float32
// lane i of acc, acc += src1[2i+1]·src2[2i+1], then acc += src1[2i]·src2[2i],
// the bfloat16 elements widened exactly.
func vdpbf16ps(acc, src1, src2 int) []byte { return regRM(ppF3, 0x52, acc, src1, src2) }

// vcvtneps2bf16 encodes VCVTNEPS2BF16 Z(src), Y(dst): 16 float32 to 16
// bfloat16, nearest even, subnormal inputs and results as zero.
func vcvtneps2bf16(dst, src int) []byte { return regRM(ppF3, 0x72, dst, 0, src) }

// raw writes an encoded instruction as BYTE directives with its Go
// syntax in a comment.
func raw(b *strings.Builder, code []byte, format string, args ...any) {
	b.WriteString("\t")
	for i, c := range code {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(b, "BYTE $0x%02x", c)
	}
	fmt.Fprintf(b, " // "+format+"\n", args...)
}
