package inspect

import (
	"path/filepath"
	"strings"
	"testing"
)

// One shard of a sharded checkpoint, given alone, gets a plain [error]
// finding naming the folder and index to inspect instead; the folder and a
// single-file checkpoint get none.
func TestSingleShard(t *testing.T) {
	shard := filepath.Join(sparseDir, "model-00001-of-00019.safetensors")
	r := mustInspect(t, shard, Options{})
	if len(r.Findings) == 0 || r.Findings[0].Code != "single-shard" || r.Findings[0].Severity != SeverityError {
		t.Fatalf("first finding %+v, want the single-shard error", r.Findings)
	}
	msg := r.Findings[0].Message
	for _, want := range []string{"shard 1 of 19", sparseDir, "model.safetensors.index.json"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}

	// Without the index beside it, the folder alone is named.
	lone := filepath.Join(t.TempDir(), "model-00002-of-00003.safetensors")
	copyFile(t, filepath.Join(tinyDir, "model-00002-of-00003.safetensors"), lone)
	// That shard alone describes no model: the error says why.
	if _, err := Inspect(lone, Options{}); err == nil || !strings.Contains(err.Error(), "shard 2 of 3") || !strings.Contains(err.Error(), "all 3 shards") {
		t.Errorf("error %v, want the single-shard explanation", err)
	}

	// Whole checkpoints: folders, an index, a single file ("-of-00001"
	// included).
	one := t.TempDir()
	copyFile(t, filepath.Join(tinyDir, "model-00001-of-00003.safetensors"), filepath.Join(one, "model.safetensors"))
	copyFile(t, filepath.Join(tinyDir, "model-00001-of-00003.safetensors"), filepath.Join(one, "model-00001-of-00001.safetensors"))
	for _, path := range []string{sparseDir, tinyDir, filepath.Join(tinyDir, "model.safetensors.index.json"),
		filepath.Join(one, "model.safetensors"), filepath.Join(one, "model-00001-of-00001.safetensors")} {
		if _, ok := codes(mustInspect(t, path, Options{}))["single-shard"]; ok {
			t.Errorf("%s: single-shard finding on a whole checkpoint", path)
		}
	}
}
