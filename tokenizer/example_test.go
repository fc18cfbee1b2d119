package tokenizer_test

import (
	"fmt"

	"github.com/mxq-dev/mxq/tokenizer"
)

func Example() {
	v, err := tokenizer.Load("../testdata/mixtral-8x7b-meta", 32000)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, kv := range v.GGUFMetadata()[5:] { // after model, pre and the three arrays
		fmt.Printf("%s = %v\n", kv.Key, kv.Value)
	}
	fmt.Println(v.Encode("Hello world!", true))
	// Output:
	// tokenizer.ggml.bos_token_id = 1
	// tokenizer.ggml.eos_token_id = 2
	// tokenizer.ggml.unknown_token_id = 0
	// tokenizer.ggml.add_bos_token = true
	// tokenizer.ggml.add_sep_token = false
	// tokenizer.ggml.add_eos_token = false
	// [1 22557 1526 28808]
}
