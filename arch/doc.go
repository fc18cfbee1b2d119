// Package arch holds what mxq knows about model architectures, as data: one
// file per family declares how its Hugging Face config.json maps to a Model
// (keys, defaults, which are required), its tensors (Hugging Face name,
// llama.cpp GGUF name, role, the part of the accounting it counts toward —
// shared, routed expert, shared expert, dense layer, multi-token prediction —
// and its shape as a formula of the config), its GGUF architecture name,
// its router and its KV cache per token.
//
// From a config alone a Model gives its exact parameter counts (Count), the
// tensors of its checkpoint as stored, packed MXFP4 and block-scaled FP8
// included (StoredTensors), and the family and role of any tensor name
// (Classify). Families are found by config.json model_type or architectures
// (Identify) and by GGUF general.architecture (ByGGUF).
//
// The converting families (Converts: Mixtral with Mistral and Llama as its
// Variants, Qwen3-MoE) are also what package model reads: its tensor
// roles take their names, buckets, scopes and shapes from the
// declarations here, its config defaults from the Variants, its GGUF
// metadata reading and convert's writing from GGUFArch and GGUFKeys.
// Configs of the other families are refused on the quantize, convert and
// validate path with a message saying inspect knows them.
//
// Adding a family that inspect describes takes one file here: a Family
// with its model types, Parse (keys, defaults, required keys), its
// Tensors in state_dict order with shape formulas, its KV cache and
// router, registered with register; plus a config in testdata and its
// published totals in published_test.go. Making it convert as well takes:
// Converts, its GGUFKeys and Tensor GGUF names (llama.cpp's); any tensor
// role model does not have yet (model/roles.go's list, which keeps the
// state_dict order of experts); the family's forward-pass pieces in
// package forward when it has new ones (another attention, router or
// norm); a config.json writer for GGUF -> Hugging Face (convert); and,
// when its vocabulary is neither SentencePiece nor byte-level BPE, a
// tokenizer reader.
package arch
