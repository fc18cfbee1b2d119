package convert

import (
	"fmt"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/tokenizer"
)

// vocabKVs converts the tokenizer's metadata to GGUF values. The tokenizer
// package speaks plain Go types that map one to one onto GGUF value types.
func vocabKVs(v *tokenizer.Vocab) ([]gguf.KV, error) {
	var out []gguf.KV
	for _, kv := range v.GGUFMetadata() {
		var val gguf.Value
		switch x := kv.Value.(type) {
		case string:
			val = gguf.String(x)
		case uint32:
			val = gguf.Uint32(x)
		case bool:
			val = gguf.Bool(x)
		case []string:
			val = gguf.Array(gguf.TypeString, x)
		case []float32:
			val = gguf.Array(gguf.TypeFloat32, x)
		case []int32:
			val = gguf.Array(gguf.TypeInt32, x)
		default:
			return nil, fmt.Errorf("tokenizer metadata %s: unexpected value type %T", kv.Key, kv.Value)
		}
		out = append(out, gguf.KV{Key: kv.Key, Value: val})
	}
	return out, nil
}
