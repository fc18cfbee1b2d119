package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuantizeSafetensorsCLI: each safetensors output through the command
// line, its JSON report, and the refusals with their exit codes; a refused
// or failed run leaves nothing in the output's folder.
func TestQuantizeSafetensorsCLI(t *testing.T) {
	dir := t.TempDir()
	ct := filepath.Join(dir, "ct")
	code, stdout, stderr := runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", ct, "--bits", "4", "--json", "-q")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Format, Target string
		Files          []struct{ Path, SHA256 string }
		Tensors        []struct{ Name, Type string }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v", err)
	}
	if rep.Format != "safetensors" || rep.Target != "compressed-tensors W4A16 g128" || len(rep.Files) == 0 || len(rep.Tensors) == 0 {
		t.Errorf("report %s %s, %d files, %d tensors", rep.Format, rep.Target, len(rep.Files), len(rep.Tensors))
	}
	if data, err := os.ReadFile(filepath.Join(ct, "config.json")); err != nil || !strings.Contains(string(data), `"pack-quantized"`) {
		t.Errorf("config.json: %v", err)
	}

	fp16 := filepath.Join(dir, "fp16")
	if code, _, stderr := runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", fp16, "--bits", "16", "--dtype", "fp16", "--shard-size", "4MB", "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(fp16, "model.safetensors.index.json")); err != nil {
		t.Error(err)
	}
	mlx := filepath.Join(dir, "mlx")
	if code, _, stderr := runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", mlx, "--bits", "8", "--layout", "mlx", "--quantize-head", "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"16 bits in a layout", []string{"--bits", "16", "--layout", "gptq"}, exitUsage, "8- and 4-bit"},
		{"unknown layout", []string{"--bits", "4", "--layout", "awq"}, exitUsage, "awq"},
		{"odd group", []string{"--bits", "4", "--group-size", "96"}, exitUsage, "group size"},
		{"GGUF type", []string{"--bits", "4", "--type", "Q4_K_M"}, exitUsage, "--type is for GGUF"},
		{"no bits", nil, exitUsage, "--bits"},
		{"bad shard size", []string{"--bits", "16", "--shard-size", "lots"}, exitUsage, "--shard-size"},
		{"bad dtype", []string{"--bits", "16", "--dtype", "fp8"}, exitUsage, "--dtype"},
		{"embeddings in gptq", []string{"--bits", "4", "--layout", "gptq", "--quantize-embeddings"}, exitUsage, "mlx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			args := append([]string{"quantize", tiny, "--format", "safetensors", "-o", filepath.Join(parent, "out")}, tc.args...)
			code, _, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, stderr, tc.code, tc.msg)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("a refused run left %v", entries)
			}
		})
	}

	// An existing folder is kept without --force and replaced with it.
	code, _, stderr = runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", ct, "--bits", "8", "-q")
	if code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("exit %d, stderr %q for an existing output", code, stderr)
	}
	if code, _, stderr := runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", ct, "--bits", "8", "--layout", "gptq", "--force", "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(ct, "quantize_config.json")); err != nil {
		t.Error("--force did not replace the output")
	}

	// Thresholds: exit 3, with the output and the report written.
	q4 := filepath.Join(dir, "q4")
	code, _, stderr = runCLI(t, "quantize", tiny, "--format", "safetensors", "-o", q4, "--bits", "4", "--max-rel-error", "0.01", "--report", filepath.Join(dir, "r.json"), "-q")
	if code != exitThresholds {
		t.Errorf("exit %d, want %d: %s", code, exitThresholds, stderr)
	}
	if _, err := os.Stat(filepath.Join(q4, "model.safetensors")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.json")); err != nil {
		t.Error(err)
	}
}

// TestConvertCLI: a Q8_0 GGUF back to a bf16 Hugging Face folder.
func TestConvertCLI(t *testing.T) {
	dir := t.TempDir()
	gguf := filepath.Join(dir, "tiny.gguf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "-o", gguf, "--bits", "8", "-q"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	hf := filepath.Join(dir, "hf")
	code, stdout, stderr := runCLI(t, "convert", gguf, "-o", hf, "--json", "-q")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct{ Format, Target string }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Format != "safetensors" || rep.Target != "bf16" {
		t.Errorf("report %+v: %v", rep, err)
	}
	for _, name := range []string{"model.safetensors", "config.json", "generation_config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(hf, name)); err != nil {
			t.Error(err)
		}
	}
	code, _, stderr = runCLI(t, "convert", gguf, "-o", filepath.Join(dir, "x"), "--format", "gguf")
	if code != exitUsage || !strings.Contains(stderr, "mxq quantize") {
		t.Errorf("exit %d, stderr %q for --format gguf", code, stderr)
	}
	code, _, stderr = runCLI(t, "convert", gguf, "-o", hf)
	if code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("exit %d, stderr %q for an existing output", code, stderr)
	}
}
