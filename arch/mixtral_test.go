package arch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The full-size count agrees with what transformers counted.
func TestMixtralFullSize(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "fullsize-counts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]struct {
		Params         int64 `json:"params"`
		ExclEmbeddings int64 `json:"params_excluding_embeddings"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	c := load8x7B(t).Count()
	r := ref["mixtral-8x7b"]
	if c.Total != r.Params || c.Total-c.ByPart.Embedding != r.ExclEmbeddings {
		t.Errorf("total %d (excluding embedding %d), transformers counted %d (%d)", c.Total, c.Total-c.ByPart.Embedding, r.Params, r.ExclEmbeddings)
	}
}

func load8x7B(t *testing.T) *Model {
	m, err := Load(filepath.Join("..", "testdata", "mixtral-8x7b-meta", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tensor finds a declaration by role.
func (f *Family) tensor(role string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Role == role {
			return &f.Tensors[i]
		}
	}
	return nil
}
