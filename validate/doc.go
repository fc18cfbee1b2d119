// Package validate measures how faithfully a quantized Mixture-of-Experts
// model reproduces its original, by running both through the Go forward
// pass (package forward) and comparing what they compute. Inputs are
// anything mxq reads: Hugging Face safetensors (floating point, or in the
// compressed-tensors, GPTQ or MLX layouts) and GGUF of every supported
// type.
//
// # End to end
//
// EndToEnd runs both models on the same tokens and reports, with n the
// number of positions:
//
//   - KL divergence KL(P_ref ‖ P_cand) = Σ_v p_ref(v)·(log p_ref(v) − log
//     p_cand(v)) of the next-token distributions at each position, from
//     float64 log-softmax of the float32 logits, in nats; its mean over
//     positions, its 99th percentile (linear interpolation between order
//     statistics, numpy's default, so with fewer than 101 positions it
//     lies between the two largest values) and its maximum.
//   - Top-1 agreement: the share of positions whose most likely token (the
//     lowest id on ties) is the same.
//   - Perplexity of each model on the tokens: exp((1/(n−1)) Σ_{t<n−1}
//     −log p(token_{t+1} | tokens_{≤t})).
//   - For every MoE layer, routing agreement: the share of positions whose
//     set of top-k experts is unchanged (order ignored); the mean overlap
//     |S_ref ∩ S_cand|/k; and the mean routing-weight change Σ_e |w_ref(e)
//     − w_cand(e)| over the union of both chosen sets, w being the
//     renormalised top-k weight (0 for an expert a model did not choose),
//     which lies in [0, 2]. Each model routes its own hidden states, so
//     deeper layers also reflect the drift of earlier ones.
//
// # Layer-wise
//
// LayerWise compares chosen layers' MoE blocks on identical inputs, for
// models too large to run end to end: the reference's own MoE inputs on
// the tokens (a reference run, streamed, up to the deepest chosen layer),
// or seeded random ones. Random states are x = g ⊙ z/rms(z) with z ~ N(0,
// I) and g the layer's post-attention RMSNorm weight: exactly the form of
// that norm's output (a unit-RMS vector scaled by g), so dimension i has
// standard deviation |g_i|, the statistics the real input has on average.
// They lack the structure of real activations (outlier dimensions,
// alignment with the router), so reference states are preferred. For
// each layer it reports the MoE output's relative error ‖y_cand − y_ref‖ /
// ‖y_ref‖ and cosine similarity over all positions, the largest element
// difference, and the routing statistics above, each model routing the
// same input.
//
// Both modes read experts one at a time (forward.RunStreamed,
// forward.MoEStreamed): memory holds one layer's attention weights and
// a single expert of one model, whatever the model's size.
package validate
