package arch

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
)

func load(t *testing.T, name string) *Model {
	t.Helper()
	m, err := Load(filepath.Join("..", "testdata", "arch", name, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// published writes n in billions with the given decimals, rounded to
// nearest or, where the publisher truncates, down.
func published(n int64, decimals int, truncate bool) string {
	f := float64(n) / 1e9 * math.Pow10(decimals)
	if truncate {
		f = math.Floor(f)
	} else {
		f = math.Round(f)
	}
	return fmt.Sprintf("%.*fB", decimals, f/math.Pow10(decimals))
}

// The totals and active counts the model makers publish, at their
// rounding. Makers differ on "active": Qwen, OLMoE, Phi and Mistral count
// the embedding table, DeepSeek and OpenAI leave it out (DeepSeek's 36.6B
// "including 0.9B for the output head"; OpenAI's model card table counts
// the unembedding only). Qwen rounds Qwen3-30B-A3B's 3.353B down to 3.3B,
// DeepSeek V2-Lite's 2.451B down to 2.4B.
func TestPublishedCounts(t *testing.T) {
	tests := []struct {
		model            string
		decimals         int
		total, active    string
		activeExclEmbd   bool
		truncateActive   bool
		family           *Family
		moeLayers, dense int
	}{
		{"qwen3-30b-a3b", 1, "30.5B", "3.3B", false, true, Qwen3MoE, 48, 0},
		{"qwen3-235b-a22b", 0, "235B", "22B", false, false, Qwen3MoE, 94, 0},
		{"qwen1.5-moe-a2.7b", 1, "14.3B", "2.7B", false, false, Qwen2MoE, 24, 0},
		{"olmoe-1b-7b", 1, "6.9B", "1.3B", false, false, OLMoE, 16, 0},
		{"phi-3.5-moe", 1, "41.9B", "6.6B", false, false, PhiMoE, 32, 0},
		{"deepseek-v3", 0, "671B", "37B", true, false, DeepSeekV3, 58, 3},
		{"deepseek-v2", 0, "236B", "21B", true, false, DeepSeekV2, 59, 1},
		{"deepseek-v2-lite", 1, "15.7B", "2.4B", true, true, DeepSeekV2, 26, 1},
		{"gpt-oss-120b", 1, "116.8B", "5.1B", true, false, GPTOSS, 36, 0},
		{"gpt-oss-20b", 1, "20.9B", "3.6B", true, false, GPTOSS, 24, 0},
		{"mixtral-8x22b", 0, "141B", "39B", false, false, Mixtral, 56, 0},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			m := load(t, tt.model)
			if m.Family != tt.family {
				t.Fatalf("family %s, want %s", m.Family.Name, tt.family.Name)
			}
			c := m.Count()
			if got := published(c.Total, tt.decimals, false); got != tt.total {
				t.Errorf("total %d = %s, published %s", c.Total, got, tt.total)
			}
			active := c.Active
			if tt.activeExclEmbd {
				active = c.ActiveExcludingEmbedding
			}
			if got := published(active, tt.decimals, tt.truncateActive); got != tt.active {
				t.Errorf("active %d = %s, published %s", active, got, tt.active)
			}
			if c.MoELayers != tt.moeLayers || c.DenseLayers != tt.dense {
				t.Errorf("%d MoE and %d dense layers, want %d and %d", c.MoELayers, c.DenseLayers, tt.moeLayers, tt.dense)
			}
			if c.Shared+c.Experts != c.Total || c.Active > c.Total {
				t.Errorf("inconsistent split %+v", c)
			}
		})
	}
}

// DeepSeek-V3's Hugging Face upload is "685B: 671B of the main model and
// 14B of the MTP module". The 685B counts every stored element, FP8 block
// scales included, of the main model and the MTP layer; 14B is 685 - 671.
func TestDeepSeekV3MTP(t *testing.T) {
	m := load(t, "deepseek-v3")
	c := m.Count()
	var stored int64
	for _, s := range m.StoredTensors() {
		n := int64(1)
		for _, d := range s.Shape {
			n *= d
		}
		stored += n
	}
	if got := published(stored, 0, false); got != "685B" {
		t.Errorf("stored elements %d = %s, published 685B", stored, got)
	}
	if got := published(c.Total, 0, false); got != "671B" {
		t.Errorf("main model %s", got)
	}
	if c.MTP <= 0 || c.Total+c.MTP >= stored {
		t.Errorf("MTP %d, main %d, stored %d", c.MTP, c.Total, stored)
	}
	// The MTP layer is a full MoE decoder layer plus its embedding, head,
	// two norms, the head's norm and the [embedding; hidden] projection.
	mtp := c.Layers[61]
	main := c.Layers[60]
	h, v := int64(7168), int64(129280)
	extra := 2*v*h + 3*h + 2*h*h
	if !mtp.MTP || mtp.Total != main.Total+extra {
		t.Errorf("MTP layer %d params, main layer %d + extra %d", mtp.Total, main.Total, extra)
	}
}

// Exact integer counts, so any change to a declaration shows.
func TestPinnedCounts(t *testing.T) {
	tests := []struct {
		model                                               string
		total, active, activeExclEmbd, sharedExperts, dense int64
		mtp, perExpertPerLayer                              int64
	}{
		{"qwen3-30b-a3b", 30532122624, 3353032704, 3041867776, 0, 0, 0, 4718592},
		{"qwen3-235b-a22b", 235093634560, 22190763520, 21568433664, 0, 0, 0, 18874368},
		{"qwen1.5-moe-a2.7b", 14315784192, 2689173504, 2378008576, 830521344, 0, 0, 8650752},
		{"olmoe-1b-7b", 6919161856, 1282017280, 1178994688, 0, 0, 0, 6291456},
		{"phi-3.5-moe", 41873153344, 6640999744, 6509665600, 0, 0, 0, 78643200},
		{"deepseek-v3", 671026419200, 37552297472, 36625618432, 2554331136, 1189085184, 13463426304, 44040192},
		{"deepseek-v2", 235741434880, 21375800320, 20851512320, 2783969280, 188743680, 0, 23592960},
		{"deepseek-v2-lite", 15706484224, 2661150208, 2451435008, 449839104, 67239936, 0, 8650752},
		{"gpt-oss-120b", 116829156672, 5711982912, 5132849472, 0, 0, 0, 24891840},
		{"gpt-oss-20b", 20914757184, 4187440704, 3608307264, 0, 0, 0, 24891840},
		{"mixtral-8x22b", 140620634112, 39152031744, 38955423744, 0, 0, 0, 301989888},
	}
	for _, tt := range tests {
		c := load(t, tt.model).Count()
		got := [...]int64{c.Total, c.Active, c.ActiveExcludingEmbedding, c.SharedExperts, c.DenseLayerFFN, c.MTP, c.PerExpertPerLayer}
		want := [...]int64{tt.total, tt.active, tt.activeExclEmbd, tt.sharedExperts, tt.dense, tt.mtp, tt.perExpertPerLayer}
		if got != want {
			t.Errorf("%s: got %v, want %v", tt.model, got, want)
		}
	}
}
