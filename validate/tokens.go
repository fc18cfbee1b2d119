package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// DefaultPrompt is the text compared when none is given: ordinary English
// prose with numbers and punctuation, about a hundred tokens for a
// Llama-style vocabulary.
const DefaultPrompt = `The old lighthouse stood at the edge of the harbour for nearly two hundred years. ` +
	`Every evening, the keeper climbed the ninety-seven steps to light the lamp, and every morning ` +
	`he wrote the weather, the ships and the state of the sea in a small leather book. ` +
	`When the town finally installed an automatic beacon in 1962, the keeper moved into a cottage ` +
	`near the market, where he spent his days repairing clocks and teaching children to read the tides.`

// maxTokenFile bounds a token-id file; a million ids is far more than a
// forward pass in plain Go can use.
const maxTokenFile = 16 << 20

// ParseTokens reads token ids from data: a JSON array of integers, or
// integers separated by white space (or commas). name labels errors.
func ParseTokens(data []byte, name string) ([]int, error) {
	if len(data) > maxTokenFile {
		return nil, fmt.Errorf("%s: %d bytes is too large for a token-id file", name, len(data))
	}
	trimmed := bytes.TrimSpace(data)
	var ids []int
	if bytes.HasPrefix(trimmed, []byte("[")) {
		if err := json.Unmarshal(trimmed, &ids); err != nil {
			return nil, fmt.Errorf("%s: not a JSON array of token ids: %v", name, err)
		}
	} else {
		fields := strings.FieldsFunc(string(trimmed), func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
		})
		for i, f := range fields {
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%s: item %d (%q) is not a token id", name, i+1, f)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no token ids", name)
	}
	for i, id := range ids {
		if id < 0 {
			return nil, fmt.Errorf("%s: token id %d at position %d is negative", name, id, i)
		}
	}
	return ids, nil
}
