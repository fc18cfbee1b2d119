package intq

import (
	"fmt"
	"strings"
)

// CompressedTensorsConfig returns the config.json "quantization_config" of
// a checkpoint whose Linear layers were written by CompressedTensors with s,
// except the modules in ignore (module names, or "re:" regular expressions
// such as "re:.*block_sparse_moe.gate", as compressed-tensors matches them).
//
// Only keys that every compressed-tensors release accepts are written:
// QuantizationArgs and QuantizationScheme forbid unknown keys, so newer
// optional fields (a per-group "format", "scale_dtype", "zp_dtype") would
// break older loaders; the top-level "format" says "pack-quantized" for all
// groups. "sparsity_config" is left out (some releases reject {}), and so is
// "version", which names the compressed-tensors release that wrote a file.
// Note that vLLM's fused-MoE path accepts only symmetric weights.
func CompressedTensorsConfig(s Scheme, ignore []string) (map[string]any, error) {
	if err := (ctCodec{}).check(1, 0, s); err != nil {
		return nil, fmt.Errorf("intq: compressed-tensors config: %s: %w", s, err)
	}
	strategy, group := "group", any(s.GroupSize)
	if s.GroupSize == -1 {
		strategy, group = "channel", nil
	}
	ign := make([]any, 0, len(ignore))
	for _, name := range ignore {
		if name == "" {
			return nil, fmt.Errorf("intq: compressed-tensors config: empty ignore entry: %w", ErrUnsupported)
		}
		ign = append(ign, name)
	}
	weights := map[string]any{
		"num_bits":        s.Bits,
		"type":            "int",
		"symmetric":       s.Symmetric,
		"strategy":        strategy,
		"group_size":      group,
		"dynamic":         false,
		"actorder":        nil,
		"observer":        "minmax",
		"block_structure": nil,
	}
	return map[string]any{
		"quant_method":             "compressed-tensors",
		"format":                   "pack-quantized",
		"quantization_status":      "compressed",
		"global_compression_ratio": nil,
		"kv_cache_scheme":          nil,
		"config_groups": map[string]any{
			"group_0": map[string]any{
				"targets":            []any{"Linear"},
				"weights":            weights,
				"input_activations":  nil,
				"output_activations": nil,
			},
		},
		"ignore": ign,
	}, nil
}

// GPTQConfig returns the "quantization_config" (also usable as
// quantize_config.json) of a checkpoint written by GPTQ with s: AutoGPTQ's
// BaseQuantizeConfig keys without its two path fields. vLLM reads bits,
// group_size, desc_act and sym; it leaves lm_head and the MoE router
// unquantized unless told otherwise, which matches what GPTQ checkpoints of
// Mixtral hold.
func GPTQConfig(s Scheme) (map[string]any, error) {
	if err := (gptqCodec{}).check(0, 0, s); err != nil {
		return nil, fmt.Errorf("intq: gptq config: %s: %w", s, err)
	}
	return map[string]any{
		"quant_method":      "gptq",
		"bits":              s.Bits,
		"group_size":        s.GroupSize,
		"desc_act":          false,
		"sym":               true,
		"damp_percent":      0.01,
		"static_groups":     false,
		"true_sequential":   true,
		"checkpoint_format": "gptq",
	}, nil
}

// MLXConfig returns the object mlx-lm writes under both "quantization" and
// "quantization_config" in config.json: {"group_size", "bits", "mode":
// "affine"}. Each module path in skip is added with the value false, which
// mlx-lm's loader reads as "leave this module unquantized" (it also skips
// any module saved without scales).
func MLXConfig(s Scheme, skip []string) (map[string]any, error) {
	if err := (mlxCodec{}).check(1, 0, s); err != nil {
		return nil, fmt.Errorf("intq: mlx config: %s: %w", s, err)
	}
	m := map[string]any{"group_size": s.GroupSize, "bits": s.Bits, "mode": "affine"}
	for _, path := range skip {
		if path == "" || path == "group_size" || path == "bits" || path == "mode" || strings.HasPrefix(path, "re:") {
			return nil, fmt.Errorf("intq: mlx config: skip entry %q is not a module path: %w", path, ErrUnsupported)
		}
		m[path] = false
	}
	return m, nil
}
