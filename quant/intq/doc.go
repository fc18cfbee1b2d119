// Package intq quantizes one Hugging Face Linear weight W (row-major
// [out][in] float32) with integer group quantization and packs the result
// exactly as the safetensors layouts that inference engines load:
//
//   - CompressedTensors: compressed-tensors "pack-quantized" (llm-compressor
//     W4A16 / W8A16, loaded natively by vLLM). Tensors weight_packed (I32
//     [out, ceil(in/(32/bits))], column 8k+i of a row at bits 4i of word k,
//     LSB first, stored unsigned as q+2^(bits-1)), weight_scale (BF16, F16 or
//     F32 [out, in/group], [out, 1] per channel), weight_shape (I64 [2] =
//     [out, in]) and, for asymmetric schemes only, weight_zero_point (I32,
//     packed along the output dimension, [ceil(out/(32/bits)), groups], also
//     stored as zp+2^(bits-1)). A per-channel row whose length is not a
//     multiple of 32/bits ends in a zero-padded word, as compressed-tensors
//     pads. vLLM's fused-MoE kernels take symmetric weights only.
//   - GPTQ: AutoGPTQ v1 ("checkpoint_format": "gptq", sym, desc_act false).
//     Tensors qweight (I32 [in/(32/bits), out], packed along the input),
//     qzeros (I32 [groups, out/(32/bits)], packed along the output, holding
//     zero-1: 0x77777777 for symmetric 4-bit), scales (F16 [groups, out]) and
//     g_idx (I32 [in], i/group). in and out must be multiples of 32, where
//     AutoGPTQ's and vLLM's shape formulas agree. This is round-to-nearest
//     in GPTQ's format: no Hessian, no calibration data.
//   - MLX: mlx-lm affine quantization. Tensors weight (U32 [out, in·bits/32],
//     element j at bits bits·(j%(32/bits)) of word j/(32/bits)), scales and
//     biases ([out, in/group] in the model dtype); w = scale·q + bias. Groups
//     of 32, 64 or 128 only; Scheme.Symmetric does not apply.
//
// Stored.Suffix is the name after the module path: the tensor for the
// quantized weight of "model.layers.0.self_attn.q_proj" is
// "model.layers.0.self_attn.q_proj." + Suffix. All data is little-endian.
//
// # Scales
//
// Every layout rounds its scales to the dtype they are stored in before any
// weight is quantized with them, except where the reference quantizer does
// otherwise (MLX, below), and the dequantized values this package returns
// are computed from the stored bits. An engine that decodes the stored
// tensors therefore sees exactly the integers and scales that were
// validated; only its own arithmetic (a bf16 product, say) can differ.
//
//   - compressed-tensors: scale = amax/((qmax−qmin)/2) (amax/7.5 at 4 bits,
//     amax/127.5 at 8) with min and max first widened to include 0, or
//     (max−min)/(qmax−qmin) with zp = round(qmin − min/scale) when
//     asymmetric, floored at float32 epsilon (2^-23), as calculate_qparams
//     does; the scale is rounded to Scheme.ScaleDType (the model dtype) and q
//     = clamp(round(x/scale + zp), qmin, qmax), round half to even. The
//     quotient is taken in float32, where llm-compressor takes it in the model
//     dtype, so a value within 2^-8 of a rounding tie may land one step apart
//     from llm-compressor's choice; both decode the same way.
//   - GPTQ: AutoGPTQ's symmetric quantizer per group and output channel:
//     scale = 2·amax/maxq, zero = (maxq+1)/2, q = clamp(round(x/scale)+zero,
//     0, maxq), round half to even, in float32; an all-zero group gets
//     AutoGPTQ's scale 2/maxq. Two deliberate departures: AutoGPTQ keeps
//     xmin = 0 when a group has no negative value (which clips the upper
//     half of that group); here xmin = −amax always. And scales are floored
//     at 2^-23 so that none rounds to zero in F16. Scales are stored as F16. With
//     Scheme.ScaleDType "BF16" (the engine runs in bf16 and converts the
//     F16 scales on load) each scale is chosen exactly representable in both
//     F16 and BF16, so the conversion is lossless.
//   - MLX: mlx's CPU affine quantizer (mlx/backend/cpu/quantized.cpp),
//     reproduced operation for operation in float32: w_min, w_max (not
//     widened to 0); scale = max((w_max−w_min)/(2^bits−1), 1e-7), negated
//     unless |w_min| > |w_max|; edge = the larger-magnitude end; q0 =
//     rint(edge/scale); if q0 ≠ 0 then scale = edge/q0 and bias = edge, else
//     bias = 0; q = clamp(rint((w−bias)/scale), 0, 2^bits−1). As in mlx, q is
//     computed with the unrounded float32 scale and bias, which are then
//     rounded to the model dtype for storage; the returned dequantized
//     values use the stored ones. mlx's Metal kernel differs in details (its
//     w_max starts at 0, which changes the grid of all-negative groups; its
//     round() takes ties away from zero; its division need not be correctly
//     rounded): they can change which valid encoding is chosen, never how
//     one decodes.
//
// # Use
//
// Layout.Quantize handles a whole matrix. For large matrices, NewPlan
// allocates the output tensors once and Plan.QuantizeRows fills any range of
// rows; disjoint ranges whose starts are multiples of Plan.RowAlign may be
// filled concurrently and the bytes do not depend on how rows are split.
// Nothing in this package starts goroutines.
package intq
