package convert

import (
	"encoding/json"

	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/model"
)

// qwen3MoEConfigFromGGUF is the config.json of a Qwen3-MoE rebuilt from
// qwen3moe GGUF metadata, with the keys transformers writes for
// Qwen3MoeConfig. Every layer is sparse, and the kept routing weights are
// renormalised (norm_topk_prob), as llama.cpp always computes this
// architecture.
func qwen3MoEConfigFromGGUF(cfg *model.Config, dtype safetensors.DType) map[string]any {
	return map[string]any{
		"architectures":           []any{cfg.Architecture},
		"attention_bias":          false,
		"attention_dropout":       json.Number("0.0"),
		"bos_token_id":            cfg.BOSTokenID,
		"decoder_sparse_step":     1,
		"eos_token_id":            cfg.EOSTokenID,
		"head_dim":                cfg.HeadDim,
		"hidden_act":              "silu",
		"hidden_size":             cfg.HiddenSize,
		"initializer_range":       json.Number("0.02"),
		"intermediate_size":       cfg.IntermediateSize,
		"max_position_embeddings": cfg.MaxPositionEmbeddings,
		"max_window_layers":       cfg.NumLayers,
		"mlp_only_layers":         []any{},
		"model_type":              cfg.ModelType,
		"moe_intermediate_size":   cfg.ExpertIntermediateSize,
		"norm_topk_prob":          !cfg.TopKUnnormalized,
		"num_attention_heads":     cfg.NumHeads,
		"num_experts":             cfg.NumExperts,
		"num_experts_per_tok":     cfg.ExpertsPerToken,
		"num_hidden_layers":       cfg.NumLayers,
		"num_key_value_heads":     cfg.NumKVHeads,
		"output_router_logits":    false,
		"rms_norm_eps":            pyFloat(cfg.RMSNormEps, 32),
		"rope_scaling":            nil,
		"rope_theta":              pyFloat(cfg.RopeTheta, 32),
		"router_aux_loss_coef":    json.Number("0.001"),
		"sliding_window":          nil,
		"tie_word_embeddings":     cfg.TieWordEmbeddings,
		"torch_dtype":             torchDType(dtype),
		"use_cache":               true,
		"use_sliding_window":      false,
		"vocab_size":              cfg.VocabSize,
	}
}
