// Package testutil holds what the tests of several packages share: the
// tiny-mixtral checkpoint of testdata and transformers' reference output
// for it.
package testutil

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// Reference is transformers' float32 output for tiny-mixtral
// (testdata/README.md describes it).
type Reference struct {
	InputIDs     []int         `json:"input_ids"`
	Logits       [][]float64   `json:"logits"`
	Hidden       [][][]float64 `json:"hidden_states"`
	RouterLogits [][][]float64 `json:"router_logits"`
	RouterTopK   [][][]int     `json:"router_topk"`
}

// root finds the module's folder: the nearest one above the working
// directory (a test's package folder) that holds go.mod.
var root = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
})

// testdata returns the path of name in the module's testdata folder.
func testdata(t testing.TB, name string) string {
	t.Helper()
	dir, err := root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "testdata", name)
}

// Testdata returns the path of name in the module's testdata folder.
func Testdata(t testing.TB, name string) string {
	t.Helper()
	return testdata(t, name)
}

var loadReference = sync.OnceValues(func() (*Reference, error) {
	dir, err := root()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "testdata", "tiny-mixtral-reference.json.gz"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var r Reference
	if err := json.NewDecoder(z).Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
})

// TinyReference returns the reference output, read once per test binary.
// Callers must not modify it.
func TinyReference(t testing.TB) *Reference {
	t.Helper()
	r, err := loadReference()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// CopyTiny copies the tiny-mixtral checkpoint, less the files named in
// skip, into a new temporary folder named tiny, so that a test can damage
// it, and returns that folder.
func CopyTiny(t testing.TB, skip ...string) string {
	t.Helper()
	src := testdata(t, "tiny-mixtral")
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if slices.Contains(skip, e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Allocated runs f and returns the bytes it allocated, garbage included.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
