package model

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/arch"
)

// The Mixtral declaration must describe exactly what package model describes: the same tensors in the same order with the same shapes and GGUF
// names, the same defaults and the same counts.
func TestMixtralMatchesModel(t *testing.T) {
	tiny := filepath.Join("..", "testdata", "tiny-mixtral", "config.json")
	full := filepath.Join("..", "testdata", "mixtral-8x7b-meta", "config.json")
	configs := map[string][]byte{}
	for name, path := range map[string]string{"tiny-mixtral": tiny, "mixtral-8x7b": full,
		"mixtral-8x22b": filepath.Join("..", "testdata", "arch", "mixtral-8x22b", "config.json")} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		configs[name] = b
	}
	// Configs that lean on defaults, dense ones and a tied one.
	configs["mixtral-defaults"] = []byte(`{"model_type":"mixtral","hidden_size":64,"intermediate_size":96,"num_hidden_layers":3,"num_attention_heads":8,"vocab_size":100}`)
	configs["mistral-dense"] = []byte(`{"architectures":["MistralForCausalLM"],"hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":8,"vocab_size":100}`)
	configs["llama-tied"] = []byte(`{"model_type":"llama","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,"vocab_size":100,"tie_word_embeddings":true,"sliding_window":null}`)
	configs["early-mixtral-as-mistral"] = []byte(`{"architectures":["MixtralForCausalLM"],"model_type":"mistral","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":8,"vocab_size":100,"num_local_experts":4,"num_experts_per_tok":1}`)

	for name, data := range configs {
		t.Run(name, func(t *testing.T) {
			old, err := ParseConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			c, err := arch.ParseConfig(data, name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.Model()
			if err != nil {
				t.Fatal(err)
			}
			if m.Family != arch.Mixtral {
				t.Fatalf("family %s", m.Family.Name)
			}
			if got, want := []any{m.Hidden, m.Intermediate, m.Layers, m.Heads, m.KVHeads, m.HeadDim, m.Experts, m.TopK, m.Vocab,
				m.MaxPositions, m.SlidingWindow, m.RopeTheta, m.NormEps, m.TieEmbeddings},
				[]any{old.HiddenSize, old.IntermediateSize, old.NumLayers, old.NumHeads, old.NumKVHeads, old.HeadDim, old.NumExperts,
					old.ExpertsPerToken, old.VocabSize, old.MaxPositionEmbeddings, old.SlidingWindow, old.RopeTheta, old.RMSNormEps,
					old.TieWordEmbeddings}; !slices.Equal(got, want) {
				t.Errorf("hyper-parameters %v, model/ has %v", got, want)
			}

			oldT, newT := old.HFTensors(), m.HFTensors()
			if len(oldT) != len(newT) {
				t.Fatalf("%d tensors, model/ has %d", len(newT), len(oldT))
			}
			for i := range oldT {
				o, n := oldT[i], newT[i]
				if o.Name != n.Name || !slices.Equal(o.Shape, n.Shape) || o.Role.Role.String() != n.Role || o.Role.Role.Group().String() != n.Part.String() {
					t.Fatalf("tensor %d: %s %v %s/%s, model/ has %s %v %s/%s", i, n.Name, n.Shape, n.Role, n.Part,
						o.Name, o.Shape, o.Role.Role, o.Role.Role.Group())
				}
				tr := o.Role
				if tr.Expert >= 0 {
					tr.Expert = AllExperts
				}
				if got, want := archGGUFName(arch.Mixtral, n), GGUFName(tr); got != want {
					t.Errorf("%s: GGUF %s, model/ has %s", n.Name, got, want)
				}
			}

			p, cnt := old.Params(), m.Count()
			b := p.ByGroup
			if got, want := []int64{cnt.Total, cnt.Shared, cnt.Experts, cnt.ExpertAcrossLayers, cnt.Active, cnt.ActiveExcludingEmbedding,
				cnt.ByPart.Embedding, cnt.ByPart.Attention, cnt.ByPart.Norms, cnt.ByPart.Router, cnt.ByPart.Experts, cnt.ByPart.DenseFFN, cnt.ByPart.OutputHead},
				[]int64{p.Total, p.Shared, p.Experts, p.ExpertAcrossLayers, p.Active, p.ActiveExcludingEmbedding,
					b.Embedding, b.Attention, b.Norms, b.Router, b.Experts, b.DenseFFN, b.OutputHead}; !slices.Equal(got, want) {
				t.Errorf("counts %v, model/ has %v", got, want)
			}
			for l, lp := range p.Layers {
				lc := cnt.Layers[l]
				if lc.Total != lp.Total || lc.Active != lp.Active || lc.PerExpert != lp.PerExpert {
					t.Errorf("layer %d: %+v, model/ has %+v", l, lc, lp)
				}
			}
			if kv := m.KVElementsPerToken(); kv != 2*int64(old.NumLayers*old.NumKVHeads*old.HeadDim) {
				t.Errorf("KV values per token %d", kv)
			}
		})
	}
}

// archGGUFName is the GGUF name package arch declares for tensor n of
// family f.
func archGGUFName(f *arch.Family, n arch.Expected) string {
	for _, t := range f.Tensors {
		if t.Role == n.Role {
			return strings.NewReplacer("{L}", strconv.Itoa(n.Layer), "{E}", strconv.Itoa(n.Expert)).Replace(t.GGUF)
		}
	}
	return ""
}
