package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTinyReference(t *testing.T) {
	r := TinyReference(t)
	if len(r.InputIDs) == 0 || len(r.Logits) != len(r.InputIDs) || len(r.Hidden) == 0 || len(r.RouterTopK) == 0 {
		t.Errorf("reference holds %d ids, %d logit rows, %d hidden states, %d routed layers",
			len(r.InputIDs), len(r.Logits), len(r.Hidden), len(r.RouterTopK))
	}
	if TinyReference(t) != r {
		t.Error("the reference was read twice")
	}
}

func TestCopyTiny(t *testing.T) {
	dir := CopyTiny(t, "tokenizer.model")
	if filepath.Base(dir) != "tiny" {
		t.Errorf("copied into %s", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.model")); !os.IsNotExist(err) {
		t.Errorf("skipped file: %v", err)
	}
}
