package intq

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden config files in testdata")

// The golden files were checked by hand against the sources the doc names:
// compressed-tensors QuantizationConfig / QuantizationScheme /
// QuantizationArgs fields, AutoGPTQ BaseQuantizeConfig.to_dict, mlx-lm
// quantize_model.
func TestConfigGolden(t *testing.T) {
	mixtralIgnore := []string{"lm_head", "re:.*block_sparse_moe.gate"}
	cases := []struct {
		file string
		make func() (map[string]any, error)
	}{
		{"ct-w4a16-g128.json", func() (map[string]any, error) {
			return CompressedTensorsConfig(Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}, mixtralIgnore)
		}},
		{"ct-w8a16-channel.json", func() (map[string]any, error) {
			return CompressedTensorsConfig(Scheme{Bits: 8, GroupSize: -1, Symmetric: true, ScaleDType: "F16"}, nil)
		}},
		{"ct-w4a16-asym-g32.json", func() (map[string]any, error) {
			return CompressedTensorsConfig(Scheme{Bits: 4, GroupSize: 32, Symmetric: false, ScaleDType: "BF16"}, []string{"lm_head"})
		}},
		{"gptq-4bit-g128.json", func() (map[string]any, error) {
			return GPTQConfig(Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"})
		}},
		{"gptq-8bit-channel.json", func() (map[string]any, error) {
			return GPTQConfig(Scheme{Bits: 8, GroupSize: -1, Symmetric: true})
		}},
		{"mlx-4bit-g64.json", func() (map[string]any, error) {
			return MLXConfig(Scheme{Bits: 4, GroupSize: 64, ScaleDType: "BF16"}, []string{"model.layers.0.block_sparse_moe.gate"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			m, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("config differs from %s:\n%s", path, got)
			}
		})
	}
}

func TestConfigRejects(t *testing.T) {
	ok := Scheme{Bits: 4, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}
	checks := []struct {
		name string
		err  error
	}{
		{"ct bits", second(CompressedTensorsConfig(Scheme{Bits: 2, GroupSize: 128, Symmetric: true, ScaleDType: "BF16"}, nil))},
		{"ct empty ignore", second(CompressedTensorsConfig(ok, []string{""}))},
		{"ct scale dtype", second(CompressedTensorsConfig(Scheme{Bits: 4, GroupSize: 128, Symmetric: true}, nil))},
		{"gptq asym", second(GPTQConfig(Scheme{Bits: 4, GroupSize: 128}))},
		{"gptq group", second(GPTQConfig(Scheme{Bits: 4, GroupSize: 100, Symmetric: true}))},
		{"mlx channel", second(MLXConfig(Scheme{Bits: 4, GroupSize: -1, ScaleDType: "BF16"}, nil))},
		{"mlx regex skip", second(MLXConfig(ok, []string{"re:.*gate"}))},
		{"mlx reserved skip", second(MLXConfig(ok, []string{"bits"}))},
	}
	for _, c := range checks {
		if !errors.Is(c.err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", c.name, c.err)
		}
	}
}

func second(_ map[string]any, err error) error { return err }
