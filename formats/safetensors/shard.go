package safetensors

import "fmt"

// PlanShards splits tensors into shards of at most maxBytes data bytes,
// greedily in the given order, as huggingface_hub's
// split_state_dict_into_shards_factory does: a tensor that would push the
// open shard past maxBytes closes it, and a tensor larger than maxBytes is
// put in a shard of its own, appended immediately while the open shard stays
// open. maxBytes <= 0 means no limit. It returns nil for no tensors.
func PlanShards(tensors []TensorInfo, maxBytes int64) [][]TensorInfo {
	if maxBytes <= 0 {
		if len(tensors) == 0 {
			return nil
		}
		return [][]TensorInfo{append([]TensorInfo(nil), tensors...)}
	}
	var shards [][]TensorInfo
	var cur []TensorInfo
	var curSize int64
	for _, t := range tensors {
		size := max(t.ByteSize(), 0)
		if size > maxBytes {
			shards = append(shards, []TensorInfo{t})
			continue
		}
		if curSize+size > maxBytes {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, t)
		curSize += size
	}
	if len(cur) > 0 {
		shards = append(shards, cur)
	}
	return shards
}

// ShardName returns the file name of shard i (0-based) of n:
// "model-00001-of-00003.safetensors" for i=0, n=3, and "model.safetensors"
// when n is 1.
func ShardName(i, n int) string {
	if n == 1 {
		return "model.safetensors"
	}
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}
