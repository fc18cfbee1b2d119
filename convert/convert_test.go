package convert

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

const tinyDir = "../testdata/tiny-mixtral"

func writeTiny(t *testing.T, ft ggml.FileType) (string, *GGUFPlan) {
	t.Helper()
	src, err := OpenSource(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	p, err := PlanGGUF(src, GGUFOptions{FileType: ft})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	if _, err := p.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out, p
}

func TestTinyQuick(t *testing.T) {
	for _, ft := range []ggml.FileType{ggml.FileTypeAllF32, ggml.FileTypeQ8_0, ggml.FileTypeQ4_K_M} {
		out, _ := writeTiny(t, ft)
		data, _ := os.ReadFile(out)
		os.WriteFile("/tmp/tiny-"+ft.String()+".gguf", data, 0o644)
	}
}
