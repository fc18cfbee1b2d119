// Package safetensors reads and writes the Hugging Face safetensors format
// and the sharded checkpoints built from it.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON describing every tensor (dtype, shape, data offsets), and then
// the raw little-endian tensor data. The reader validates the header the way
// the reference Rust implementation does and never reads tensor data until
// asked: [NewFile] and [Open] read only the header, and each tensor is read
// through its own [io.SectionReader], so tensors may be read concurrently.
//
// [OpenCheckpoint] opens a model folder (an index with shards, a single
// model.safetensors, or a set of *.safetensors files) and cross-checks the
// index against the shard headers.
//
// The writer side computes the whole file layout first ([NewLayout]), so a
// caller can write tensors sequentially with [WriteFile] or in parallel to
// fixed offsets; [PlanShards], [ShardName] and [MarshalIndex] produce the
// Hugging Face sharded form.
package safetensors
