// Package model holds what mxq knows about the Mixtral family of
// architectures (Mixtral, Mistral and Llama, which share one layout): how to
// read a Hugging Face config.json, which tensor plays which role under the
// Hugging Face and GGUF naming schemes, which tensors a checkpoint must
// contain and with which shapes, and the parameter arithmetic derived from
// them.
//
// The architecture knowledge is data: one table (roles.go) lists every
// tensor role with its Hugging Face name, its GGUF name and its shape as a
// function of the config. Classification, inverse naming, the expected
// tensor lists and the parameter counts are all derived from that table, so
// a new tensor is added in one place.
package model
