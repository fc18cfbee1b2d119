package quant

import "github.com/mxq-dev/mxq/ggml"

// blockDecoders are the SIMD decoders of whole blocks: each decodes
// len(dst)/blockLen blocks from the start of src, exactly as the portable
// dequantizer of its type. A nil field means the portable code runs.
type blockDecoders struct {
	q4K, q5K, q6K, q8_0, q4_0 func(src []byte, dst []float32)
	// f16 decodes the first len(dst)/16·16 values.
	f16 func(src []byte, dst []float32)
}

// namedDecoders is a set of decoders and the instruction set they use.
type namedDecoders struct {
	name string
	blockDecoders
}

// decoders is the widest set the CPU runs.
var decoders = func() blockDecoders {
	if sets := decoderSets(); len(sets) > 0 {
		return sets[0].blockDecoders
	}
	return blockDecoders{}
}()

// BlockDecoder returns the decoder of type t's blocks, or false when quant
// cannot decode t. decode(src, dst) writes len(dst) values, a whole number
// of blocks, from the blocks at the start of src (which must hold at least
// as many), on the calling goroutine and without allocating. The values
// are those DequantizeRows writes, bit for bit. It serves callers that
// decode small pieces of a matrix many times, for which DequantizeRows's
// checks and worker split would cost more than the decoding.
func BlockDecoder(t ggml.Type) (decode func(src []byte, dst []float32), ok bool) {
	k, ok := kernels[t]
	if !ok {
		return nil, false
	}
	return k.dequantize, true
}

// whole is src[:n], and panics unless src holds n bytes: the SIMD decoders
// read without bounds checks.
func whole(src []byte, n int) []byte { return src[:n:len(src)] }
