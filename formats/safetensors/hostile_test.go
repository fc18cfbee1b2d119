package safetensors

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/internal/hostile"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// Headers and indexes that would take more memory than the metadata
// budget — alone or, for a checkpoint, all files together — are refused
// with one line, after allocating little more than the budget.
func TestHostileHeadersAreBounded(t *testing.T) {
	dir := t.TempDir()
	shards := filepath.Join(dir, "shards")
	if err := os.Mkdir(shards, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		name := fmt.Sprintf("model-%05d-of-00003.safetensors", i+1)
		if err := hostile.SafetensorsZeroTensors(filepath.Join(shards, name), fmt.Sprintf("s%d.", i), 70_000); err != nil {
			t.Fatal(err)
		}
	}
	// Each shard alone is within the budget.
	if f, err := Open(filepath.Join(shards, "model-00001-of-00003.safetensors")); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	indexed := filepath.Join(dir, "indexed")
	if err := os.Mkdir(indexed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := hostile.Index(filepath.Join(indexed, IndexFileName), 400_000); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		write func(path string) error
		open  func(path string) error
		want  string
	}{
		{"200k zero-size tensors", func(p string) error { return hostile.SafetensorsZeroTensors(p, "t", 200_000) }, openFile1, `tensor "t1`},
		{"9M-dimension shape", func(p string) error { return hostile.SafetensorsLongShape(p, 9_000_000) }, openFile1, `tensor "t": byte 57: shape`},
		{"3 shards together", nil, openCheckpoint(shards), "model-00003-of-00003.safetensors"},
		{"index of 400k tensors", nil, openCheckpoint(indexed), "weight_map"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".safetensors")
			if c.write != nil {
				if err := c.write(path); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			n := testutil.Allocated(func() { err = c.open(path) })
			if err == nil || !strings.Contains(err.Error(), "64 MiB") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want the metadata budget refusal naming %q", err, c.want)
			}
			if n > 192<<20 { // cumulative, garbage included
				t.Errorf("allocated %d MiB before refusing", n>>20)
			}
			t.Logf("%v after %d MiB allocated", err, n>>20)
		})
	}
}

func openFile1(path string) error {
	f, err := Open(path)
	if err == nil {
		f.Close()
	}
	return err
}

func openCheckpoint(dir string) func(string) error {
	return func(string) error {
		c, err := OpenCheckpoint(dir)
		if err == nil {
			c.Close()
		}
		return err
	}
}
