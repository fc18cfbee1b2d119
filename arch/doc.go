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
package arch
