package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The families beyond Mixtral inspect from their config alone; an unknown
// architecture shows its tensor headers and exits 1 naming it.
func TestInspectFamilies(t *testing.T) {
	for _, m := range []string{"qwen3-30b-a3b", "deepseek-v3", "gpt-oss-120b", "phi-3.5-moe", "olmoe-1b-7b", "qwen1.5-moe-a2.7b"} {
		code, out, errOut := runCLI(t, "inspect", filepath.Join("..", "..", "testdata", "arch", m, "config.json"))
		if code != 0 || !strings.Contains(out, "active per token") || errOut != "" {
			t.Errorf("%s: exit %d, stderr %q", m, code, errOut)
		}
	}

	dir := t.TempDir()
	tiny := filepath.Join("..", "..", "testdata", "tiny-mixtral")
	ents, err := os.ReadDir(tiny)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".safetensors") || strings.HasSuffix(e.Name(), ".index.json") {
			b, err := os.ReadFile(filepath.Join(tiny, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"jamba"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "inspect", dir)
	if code != exitError || !strings.Contains(out, "TENSOR HEADERS (inferred") || !strings.Contains(errOut, `"jamba"`) || !strings.Contains(errOut, "Qwen3-MoE") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "inspect", "--json", dir)
	if code != exitError || !strings.Contains(out, `"header_survey"`) {
		t.Errorf("--json: exit %d", code)
	}
}
