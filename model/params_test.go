package model

import "testing"

// Figures from formats.md §7 (Mixtral-8x7B split), the transformers count of
// tiny-mixtral, and the well-known sizes of Mistral-7B and Llama-2-7B.
func TestParamsFromConfig(t *testing.T) {
	tests := []struct {
		file                                        string
		total, shared, experts, active, activeNoEmb int64
		denseEquivalent, naive                      int64
	}{
		{"mixtral-8x7b.config.json", 46_702_792_704, 1_605_636_096, 45_097_156_608, 12_879_925_248, 12_748_853_248,
			7_242_780_672, 57_942_245_376},
		{"tiny-mixtral.config.json", 7_214_336, 0, 0, 0, 0, 0, 0},
		{"mistral-7b-v0.1.config.json", 7_241_732_096, 7_241_732_096, 0, 7_241_732_096, 7_241_732_096 - 131_072_000,
			7_241_732_096, 7_241_732_096},
		{"llama-2-7b.config.json", 6_738_415_616, 6_738_415_616, 0, 6_738_415_616, 6_738_415_616 - 131_072_000,
			6_738_415_616, 6_738_415_616},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := load(t, tt.file).Params()
			check := func(what string, got, want int64) {
				t.Helper()
				if want != 0 && got != want {
					t.Errorf("%s = %d, want %d", what, got, want)
				}
			}
			check("total", p.Total, tt.total)
			check("shared", p.Shared, tt.shared)
			check("experts", p.Experts, tt.experts)
			check("active", p.Active, tt.active)
			check("active excluding embedding", p.ActiveExcludingEmbedding, tt.activeNoEmb)
			check("dense equivalent", p.DenseEquivalent(), tt.denseEquivalent)
			check("naive total", p.NaiveTotal(), tt.naive)
			if p.ByGroup.Total() != p.Total || p.Shared+p.Experts != p.Total {
				t.Errorf("buckets do not add up: %+v", p)
			}
			var layers int64
			for _, l := range p.Layers {
				layers += l.Total
			}
			if layers+p.ByGroup.Embedding+p.ByGroup.OutputHead+int64(load(t, tt.file).HiddenSize) != p.Total {
				t.Errorf("layer totals %d do not add up to %d", layers, p.Total)
			}
		})
	}
}

func TestParamsMixtralParts(t *testing.T) {
	p := load(t, "mixtral-8x7b.config.json").Params()
	want := Breakdown{
		Embedding:  131_072_000,
		Attention:  32 * 41_943_040,
		Norms:      32*8_192 + 4_096,
		Router:     32 * 32_768,
		Experts:    45_097_156_608,
		OutputHead: 131_072_000,
	}
	if p.ByGroup != want {
		t.Errorf("by group %+v, want %+v", p.ByGroup, want)
	}
	if len(p.Layers) != 32 {
		t.Fatalf("%d layers", len(p.Layers))
	}
	l := p.Layers[5]
	if l.Layer != 5 || l.Total != 1_451_270_144 || l.PerExpert != 176_160_768 || l.Experts != 1_409_286_144 ||
		l.Active != 1_451_270_144-6*176_160_768 {
		t.Errorf("layer 5: %+v", l)
	}
	if p.ExpertAcrossLayers != 32*176_160_768 {
		t.Errorf("one expert across layers = %d", p.ExpertAcrossLayers)
	}
}

// A GGUF merged expert tensor must count like the HF per-expert tensors.
func TestTallyMergedExperts(t *testing.T) {
	c := load(t, "mixtral-8x7b.config.json")
	tl := NewTally(c.NumLayers, c.NumExperts, c.ExpertsPerToken)
	for _, e := range c.GGUFTensors() {
		tl.Add(e.Role, e.NumElements())
	}
	got, want := tl.Params(), c.Params()
	if got.Total != want.Total || got.Active != want.Active || got.ByGroup != want.ByGroup {
		t.Errorf("GGUF tally %+v\nHF tally %+v", got.ByGroup, want.ByGroup)
	}
	for i := range want.Layers {
		if got.Layers[i] != want.Layers[i] {
			t.Errorf("layer %d: %+v vs %+v", i, got.Layers[i], want.Layers[i])
		}
	}
}

func TestTallyUnknownAndStrayLayers(t *testing.T) {
	tl := NewTally(2, 0, 0) // clamps to a dense tally
	tl.Add(Unknown, 10)
	tl.Add(TensorRole{RoleAttnQ, 4, -1}, 7) // beyond the declared layers
	p := tl.Params()
	if p.ByGroup.Unknown != 10 || p.Total != 17 || p.Shared != 17 || len(p.Layers) != 5 || p.Layers[4].Attention != 7 {
		t.Errorf("%+v", p)
	}
}
