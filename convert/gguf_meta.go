package convert

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

// ggmlQuantVersion is GGML_QNT_VERSION, the block-format generation that
// general.quantization_version declares.
const ggmlQuantVersion = 2

// llamaMetadata is the model part of the metadata llama.cpp's converter
// writes for cfg's family (its GGUF architecture and GGUFKeys in package
// arch): every count as UINT32, because llama.cpp's loader checks value
// types strictly.
func llamaMetadata(name string, cfg *model.Config, ftype ggml.FileType) []gguf.KV {
	fam := cfg.ArchFamily()
	arch := fam.GGUFArch
	u := func(k string, v int) gguf.KV { return gguf.KV{Key: arch + "." + k, Value: gguf.Uint32(uint32(v))} }
	kv := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String(arch)},
		{Key: "general.type", Value: gguf.String("model")},
		{Key: "general.name", Value: gguf.String(name)},
		{Key: "general.size_label", Value: gguf.String(SizeLabel(cfg.Params(), cfg.NumExperts))},
		u("block_count", cfg.NumLayers),
		u("context_length", cfg.MaxPositionEmbeddings),
		u("embedding_length", cfg.HiddenSize),
		u("feed_forward_length", cfg.IntermediateSize),
		u("attention.head_count", cfg.NumHeads),
		u("attention.head_count_kv", cfg.NumKVHeads),
		{Key: arch + ".rope.freq_base", Value: gguf.Float32(float32(cfg.RopeTheta))},
		{Key: arch + ".attention.layer_norm_rms_epsilon", Value: gguf.Float32(float32(cfg.RMSNormEps))},
	}
	if cfg.IsMoE() {
		kv = append(kv, u("expert_count", cfg.NumExperts), u("expert_used_count", cfg.ExpertsPerToken))
	}
	// The converter writes key/value lengths only for configs with an
	// explicit head_dim (every Qwen3 config has one); they matter only when
	// it differs from the default.
	if cfg.HeadDim*cfg.NumHeads != cfg.HiddenSize || fam.GGUFKeys.HeadDim {
		kv = append(kv, u("attention.key_length", cfg.HeadDim), u("attention.value_length", cfg.HeadDim))
	}
	kv = append(kv, gguf.KV{Key: "general.file_type", Value: gguf.Uint32(uint32(ftype))})
	if cfg.ExpertIntermediateSize > 0 {
		kv = append(kv, u("expert_feed_forward_length", cfg.ExpertIntermediateSize))
	}
	if fam.GGUFKeys.VocabRopeDim {
		kv = append(kv, u("vocab_size", cfg.VocabSize), u("rope.dimension_count", cfg.HeadDim))
	}
	return append(kv, gguf.KV{Key: "general.quantization_version", Value: gguf.Uint32(ggmlQuantVersion)})
}

// requantMetadata keeps a GGUF source's metadata, with the file type and
// quantization version overwritten as llama-quantize does.
func requantMetadata(f *gguf.File, ftype ggml.FileType) []gguf.KV {
	var kv []gguf.KV
	for _, e := range f.KV {
		switch e.Key {
		case "general.file_type", "general.quantization_version", "general.alignment":
			continue
		}
		kv = append(kv, e)
	}
	return append(kv,
		gguf.KV{Key: "general.file_type", Value: gguf.Uint32(uint32(ftype))},
		gguf.KV{Key: "general.quantization_version", Value: gguf.Uint32(ggmlQuantVersion)})
}

// SizeLabel names a model's size as GGUF's naming convention does: the
// expert count times shared-plus-one-expert for MoE models ("8x7B"), else
// the total. Unlike llama.cpp's two-significant-digit default, values of
// one digit keep no decimals, so Mixtral-8x7B gets its published label.
func SizeLabel(p model.Params, experts int) string {
	if experts > 1 {
		return fmt.Sprintf("%dx%s", experts, roundedCount(p.DenseEquivalent()))
	}
	return roundedCount(p.Total)
}

func roundedCount(n int64) string {
	v, unit := float64(n), "K"
	switch {
	case n > 1e12:
		v, unit = v*1e-12, "T"
	case n > 1e9:
		v, unit = v*1e-9, "B"
	case n > 1e6:
		v, unit = v*1e-6, "M"
	default:
		v *= 1e-3
	}
	digits := len(strings.TrimLeft(strconv.Itoa(int(math.Round(v))), "0"))
	return strconv.FormatFloat(v, 'f', max(1-digits, 0), 64) + unit
}
