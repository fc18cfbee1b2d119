package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
)

// inspected is the part of inspect's JSON report these tests compare.
type inspected struct {
	Params struct {
		Total, Shared, Experts, Active int64
		ByGroup                        map[string]int64 `json:"by_group"`
	}
	Checkpoint struct {
		Tensors         int
		ExpectedTensors int   `json:"expected_tensors"`
		DataBytes       int64 `json:"data_bytes"`
		FileBytes       int64 `json:"file_bytes"`
		Quantization    string
		BitsPerWeight   float64 `json:"bits_per_weight"`
		Missing         []string
		Unrecognized    []struct{ Name string }
	}
	Memory *struct {
		Weights []struct {
			Name          string
			Bytes         int64
			BitsPerWeight float64 `json:"bits_per_weight"`
		}
	}
}

func inspectJSON(t *testing.T, path string) inspected {
	t.Helper()
	code, stdout, stderr := runCLI(t, "inspect", "--json", path)
	if code != exitOK {
		t.Fatalf("inspect %s: exit %d: %s", path, code, stderr)
	}
	var r inspected
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("inspect %s: %v", path, err)
	}
	return r
}

// TestInspectOwnOutputs: inspecting each output mxq writes from
// tiny-mixtral counts the source's parameters exactly, reports the files'
// real sizes, and quantize's report carries the memory estimate.
func TestInspectOwnOutputs(t *testing.T) {
	src := inspectJSON(t, tiny)
	dir := t.TempDir()
	type output struct {
		name   string
		args   []string
		layout string // "" for a GGUF
	}
	var outputs []output
	for _, layout := range []string{"compressed-tensors", "gptq", "mlx"} {
		for _, bits := range []string{"4", "8"} {
			outputs = append(outputs, output{layout + "-" + bits, []string{"--format", "safetensors", "--layout", layout, "--bits", bits}, layout})
		}
	}
	outputs = append(outputs, output{"compressed-tensors-channel", []string{"--format", "safetensors", "--bits", "8", "--group-size", "-1"}, "compressed-tensors"})
	outputs = append(outputs, output{"mlx-head", []string{"--format", "safetensors", "--layout", "mlx", "--bits", "4", "--quantize-head", "--quantize-embeddings"}, "mlx"})
	for _, typ := range []string{"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q4_K_M", "Q4_0", "Q2_K", "IQ4_XS", "MXFP4_MOE", "TQ2_0"} {
		outputs = append(outputs, output{typ, []string{"--type", typ}, ""})
	}
	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			path := filepath.Join(dir, o.name)
			isGGUF := o.layout == ""
			if isGGUF {
				path += ".gguf"
			}
			code, stdout, stderr := runCLI(t, append([]string{"quantize", tiny, "-o", path, "--json", "-q"}, o.args...)...)
			if code != exitOK {
				t.Fatalf("quantize: exit %d: %s", code, stderr)
			}
			var rep struct {
				VRAM *json.RawMessage `json:"vram"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.VRAM == nil {
				t.Error("quantize's report has no memory estimate")
			}
			got := inspectJSON(t, path)
			if got.Params.Total != src.Params.Total || got.Params.Shared != src.Params.Shared ||
				got.Params.Experts != src.Params.Experts || got.Params.Active != src.Params.Active {
				t.Errorf("params total/shared/experts/active %d/%d/%d/%d, source %d/%d/%d/%d",
					got.Params.Total, got.Params.Shared, got.Params.Experts, got.Params.Active,
					src.Params.Total, src.Params.Shared, src.Params.Experts, src.Params.Active)
			}
			for g, n := range src.Params.ByGroup {
				if got.Params.ByGroup[g] != n {
					t.Errorf("%s: %d parameters, source %d", g, got.Params.ByGroup[g], n)
				}
			}
			c := got.Checkpoint
			if len(c.Missing) > 0 || len(c.Unrecognized) > 0 || c.Tensors != c.ExpectedTensors {
				t.Errorf("%d tensors, %d expected, missing %v, unrecognized %v", c.Tensors, c.ExpectedTensors, c.Missing, c.Unrecognized)
			}
			files, data := filesAndData(t, path, isGGUF)
			if c.FileBytes != files || c.DataBytes != data {
				t.Errorf("file bytes %d, data bytes %d; the files hold %d and %d", c.FileBytes, c.DataBytes, files, data)
			}
			if got.Memory == nil || len(got.Memory.Weights) == 0 || got.Memory.Weights[0].Name != "as stored" ||
				got.Memory.Weights[0].Bytes != data {
				t.Fatalf("memory estimate %+v, want the stored %d bytes first", got.Memory, data)
			}
			bpw := float64(data) * 8 / float64(src.Params.Total)
			if w := got.Memory.Weights[0].BitsPerWeight; w != bpw {
				t.Errorf("stored bits per weight %v, want %v", w, bpw)
			}
			if !isGGUF && (c.BitsPerWeight != bpw || !strings.HasPrefix(c.Quantization, o.layout+" ")) {
				t.Errorf("quantization %q at %v bits per weight, want %v", c.Quantization, c.BitsPerWeight, bpw)
			}
		})
	}
}

// filesAndData measures an output independently of inspect: the size of
// its weight files, and the tensor bytes their headers declare.
func filesAndData(t *testing.T, path string, isGGUF bool) (files, data int64) {
	t.Helper()
	if isGGUF {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i := range f.Tensors {
			data += int64(f.Tensors[i].Size())
		}
		return fi.Size(), data
	}
	names, err := filepath.Glob(filepath.Join(path, "*.safetensors"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no safetensors in %s: %v", path, err)
	}
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil {
			t.Fatal(err)
		}
		files += fi.Size()
	}
	ck, err := safetensors.OpenCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	return files, ck.DataSize()
}

// TestInspectBadQuantizedOutputs: a quantized folder whose configs
// contradict each other or name a scheme mxq does not read fails every
// command that opens it with one line naming the files and the problem.
func TestInspectBadQuantizedOutputs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "gptq")
	if code, _, stderr := runCLI(t, "quantize", tiny, "-o", out, "--format", "safetensors", "--layout", "gptq", "--bits", "4", "-q"); code != exitOK {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	rewrite := func(name, from, to string) {
		path := filepath.Join(out, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), from) {
			t.Fatalf("%s holds no %s", name, from)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name       string
		file       string
		from, to   string
		wantStderr []string
	}{
		{"conflicting configs", "quantize_config.json", `"bits": 4`, `"bits": 8`, []string{"config.json", "quantize_config.json", "gptq 4-bit", "gptq 8-bit"}},
		{"unknown scheme", "config.json", `"quant_method": "gptq"`, `"quant_method": "awq"`, []string{"config.json", `quant_method "awq" is not supported`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rewrite(tc.file, tc.from, tc.to)
			defer rewrite(tc.file, tc.to, tc.from)
			for _, args := range [][]string{
				{"inspect", out},
				{"validate", tiny, out},
				{"quantize", out, "-o", filepath.Join(dir, tc.name+".gguf"), "--bits", "8", "-q"},
			} {
				code, _, stderr := runCLI(t, args...)
				if code != exitError || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
					t.Errorf("%s: exit %d, stderr %q; want exit %d and one line", args[0], code, stderr, exitError)
				}
				for _, w := range tc.wantStderr {
					if !strings.Contains(stderr, w) {
						t.Errorf("%s: stderr %q does not mention %q", args[0], stderr, w)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(dir, tc.name+".gguf")); err == nil {
				t.Error("quantize wrote an output")
			}
		})
	}
}
