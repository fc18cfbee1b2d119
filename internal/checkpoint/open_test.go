package checkpoint_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mxq-dev/mxq/convert"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/forward"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/checkpoint"
	"github.com/mxq-dev/mxq/internal/testutil"
	"github.com/mxq-dev/mxq/model"
)

// written holds outputs of tiny-mixtral shared by the tests, each made once.
var written sync.Map

// tinyOutput writes tiny-mixtral as name ("gptq-4", "mlx-8",
// "compressed-tensors-4", "Q4_K_M.gguf", …) into a folder the tests share
// (never modified by them: tests that damage a checkpoint copy it first).
func tinyOutput(t *testing.T, name string) string {
	t.Helper()
	if p, ok := written.Load(name); ok {
		return p.(string)
	}
	src, err := convert.OpenSource(testutil.Testdata(t, "tiny-mixtral"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(sharedDir, name)
	if ftName, ok := strings.CutSuffix(name, ".gguf"); ok {
		ft, err := ggml.ParseFileType(ftName)
		if err != nil {
			t.Fatal(err)
		}
		p, err := convert.PlanGGUF(src, convert.GGUFOptions{FileType: ft})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(context.Background(), out); err != nil {
			t.Fatal(err)
		}
	} else {
		i := strings.LastIndex(name, "-")
		layout, bits := name[:i], name[i+1:]
		opts := convert.SafetensorsOptions{Layout: layout, Bits: map[string]int{"4": 4, "8": 8}[bits], GroupSize: 32}
		p, err := convert.PlanSafetensors(src, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(context.Background(), out); err != nil {
			t.Fatal(err)
		}
	}
	written.Store(name, out)
	return out
}

var sharedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "checkpoint-test-")
	if err != nil {
		panic(err)
	}
	sharedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestOpenOutputs: every layout mxq writes opens with the source's logical
// tensors: same names, shapes and parameters, with the stored bytes of the
// files.
func TestOpenOutputs(t *testing.T) {
	tiny, err := checkpoint.Open(testutil.Testdata(t, "tiny-mixtral"))
	if err != nil {
		t.Fatal(err)
	}
	defer tiny.Close()
	if tiny.Format() != "safetensors" || tiny.Quant != nil {
		t.Fatalf("tiny-mixtral opened as %s", tiny.Format())
	}
	want := map[string][]int64{}
	for _, x := range tiny.Tensors {
		want[x.Name] = x.Shape
	}
	for _, tc := range []struct {
		name, format, quant string
	}{
		{"gptq-4", "gptq", "gptq 4-bit group 32"},
		{"gptq-8", "gptq", "gptq 8-bit group 32"},
		{"compressed-tensors-4", "compressed-tensors", "compressed-tensors 4-bit group 32"},
		{"compressed-tensors-8", "compressed-tensors", "compressed-tensors 8-bit group 32"},
		{"mlx-4", "mlx", "mlx 4-bit group 32"},
		{"mlx-8", "mlx", "mlx 8-bit group 32"},
		{"Q4_K_M.gguf", "gguf", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tinyOutput(t, tc.name)
			c, err := checkpoint.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Format() != tc.format {
				t.Errorf("format %s, want %s", c.Format(), tc.format)
			}
			if c.Quant != nil && checkpoint.Describe(c.Quant) != tc.quant || c.Quant == nil && tc.quant != "" {
				t.Errorf("quantization %v, want %s", c.Quant, tc.quant)
			}
			// A GGUF merges each layer's experts into one tensor per role.
			if c.Params() != tiny.Params() || c.GGUF() == nil && len(c.Tensors) != len(tiny.Tensors) {
				t.Errorf("%d tensors, %d parameters; source %d, %d", len(c.Tensors), c.Params(), len(tiny.Tensors), tiny.Params())
			}
			var stored int64
			if c.GGUF() != nil {
				for i := range c.GGUF().Tensors {
					stored += int64(c.GGUF().Tensors[i].Size())
				}
			} else {
				stored = c.Safetensors().DataSize()
				for _, x := range c.Tensors {
					if s, ok := want[x.Name]; !ok || !equal(s, x.Shape) {
						t.Errorf("%s %v: source has %v", x.Name, x.Shape, s)
					}
				}
			}
			if c.DataBytes() != stored {
				t.Errorf("data bytes %d, the files' tensors hold %d", c.DataBytes(), stored)
			}
			if bpw := float64(stored) * 8 / float64(tiny.Params()); c.BitsPerWeight() != bpw {
				t.Errorf("bits per weight %v, want %v", c.BitsPerWeight(), bpw)
			}
			src, err := c.Forward()
			if err != nil {
				t.Fatal(err)
			}
			if d := src.Dims(); d.Experts != 8 || d.Layers != 2 {
				t.Errorf("forward dims %+v", d)
			}
			es, ok := src.(forward.ExpertSource)
			if !ok {
				t.Fatal("the forward source cannot read one expert at a time")
			}
			if _, err := es.Expert(1, 7); err != nil {
				t.Errorf("expert 7 of layer 1: %v", err)
			}
		})
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// copyDir copies the files of dir into a new temporary folder.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// editConfig rewrites the JSON object in path with edit.
func editConfig(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropTensor rewrites model.safetensors in dir without the tensor name.
func dropTensor(t *testing.T, dir, name string) {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	ck, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var infos []safetensors.TensorInfo
	byName := map[string]safetensors.Tensor{}
	for _, x := range ck.Tensors() {
		if x.Name != name {
			infos = append(infos, x.TensorInfo)
			byName[x.Name] = x
		}
	}
	if len(infos) == len(ck.Tensors()) {
		t.Fatalf("no tensor %s", name)
	}
	l, err := safetensors.NewLayout(nil, infos)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model.safetensors")
	err = safetensors.WriteFile(out, l, func(n string, w io.Writer) error {
		_, err := io.Copy(w, byName[n].Open())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ck.Close()
	if err := os.Rename(out, path); err != nil {
		t.Fatal(err)
	}
}

// TestOpenBadInput: a checkpoint that contradicts itself fails with one
// error naming the file, key or tensor at fault.
func TestOpenBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   string
		damage func(t *testing.T, dir string)
		want   []string
	}{
		{"conflicting configs", "gptq-4", func(t *testing.T, dir string) {
			editConfig(t, filepath.Join(dir, "quantize_config.json"), func(m map[string]any) { m["bits"] = 8 })
		}, []string{"config.json", "quantize_config.json", "gptq 4-bit group 32", "gptq 8-bit group 32"}},
		{"mlx sections disagree", "mlx-4", func(t *testing.T, dir string) {
			editConfig(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				m["quantization_config"] = map[string]any{"group_size": 64, "bits": 4}
			})
		}, []string{`"quantization"`, `"quantization_config"`, "mlx 4-bit group 32", "mlx 4-bit group 64"}},
		{"unknown scheme", "gptq-4", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "quantize_config.json"))
			editConfig(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				m["quantization_config"] = map[string]any{"quant_method": "awq", "bits": 4}
			})
		}, []string{"config.json", `quant_method "awq" is not supported`}},
		{"missing scales", "gptq-4", func(t *testing.T, dir string) {
			dropTensor(t, dir, "model.layers.1.self_attn.k_proj.scales")
		}, []string{"model.safetensors", "model.layers.1.self_attn.k_proj", `"scales" missing`}},
		{"missing mlx scales", "mlx-4", func(t *testing.T, dir string) {
			dropTensor(t, dir, "model.layers.0.block_sparse_moe.switch_mlp.up_proj.scales")
		}, []string{"model.safetensors", "model.layers.0.block_sparse_moe.switch_mlp.up_proj", `"scales" missing`}},
		{"missing weight_shape", "compressed-tensors-4", func(t *testing.T, dir string) {
			dropTensor(t, dir, "model.layers.0.block_sparse_moe.experts.3.w2.weight_shape")
		}, []string{"model.layers.0.block_sparse_moe.experts.3.w2", `"weight_shape" missing`}},
		{"bits disagree with tensors", "compressed-tensors-4", func(t *testing.T, dir string) {
			editConfig(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				g := m["quantization_config"].(map[string]any)["config_groups"].(map[string]any)["group_0"].(map[string]any)
				g["weights"].(map[string]any)["num_bits"] = 8
			})
		}, []string{"model.safetensors", "module model.layers.", `tensor "weight_packed" is I32`}},
		{"quantized module the config leaves alone", "compressed-tensors-4", func(t *testing.T, dir string) {
			editConfig(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				g := m["quantization_config"].(map[string]any)["config_groups"].(map[string]any)["group_0"].(map[string]any)
				g["targets"] = []any{"re:.*experts.*"}
			})
		}, []string{"model.safetensors", "_proj: stored as compressed-tensors tensors", "leaves it unquantized"}},
		{"config missing", "gptq-4", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.json"))
		}, []string{"config.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, tinyOutput(t, tc.from))
			tc.damage(t, dir)
			c, err := checkpoint.Open(dir)
			if err == nil {
				c.Close()
				t.Fatal("opened")
			}
			msg := err.Error()
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

// TestOpenRecognition: what each kind of path opens as.
func TestOpenRecognition(t *testing.T) {
	tiny := testutil.Testdata(t, "tiny-mixtral")
	ggufPath := tinyOutput(t, "Q8_0.gguf")
	noExt := filepath.Join(t.TempDir(), "model-q8")
	data, err := os.ReadFile(ggufPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noExt, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, format string
		tensors      int
	}{
		{tiny, "safetensors", 65},
		{filepath.Join(tiny, "model.safetensors.index.json"), "safetensors", 65},
		{filepath.Join(tiny, "model-00002-of-00003.safetensors"), "safetensors", -1},
		{ggufPath, "gguf", -1},
		{noExt, "gguf", -1},
		{tinyOutput(t, "mlx-4"), "mlx", 65},
		{filepath.Join(tinyOutput(t, "gptq-8"), "model.safetensors"), "gptq", 65},
	} {
		c, err := checkpoint.Open(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if c.Format() != tc.format || tc.tensors >= 0 && len(c.Tensors) != tc.tensors {
			t.Errorf("%s: %s with %d tensors, want %s with %d", tc.path, c.Format(), len(c.Tensors), tc.format, tc.tensors)
		}
		for _, x := range c.Tensors {
			if c.GGUF() == nil && model.ClassifyHF(x.Name).Role == model.RoleUnknown {
				t.Errorf("%s: tensor %s has no role", tc.path, x.Name)
			}
		}
		c.Close()
	}
	if _, err := checkpoint.Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing path opened")
	}
}
