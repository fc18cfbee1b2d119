package convert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
	"github.com/mxq-dev/mxq/quant"
)

const tinyDir = "../testdata/tiny-mixtral"

func openTiny(t testing.TB) *Source {
	t.Helper()
	return stOpen(t, tinyDir)
}

func writeGGUF(t testing.TB, src *Source, opts GGUFOptions) string {
	t.Helper()
	p, err := PlanGGUF(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.gguf")
	if _, err := p.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// hfFloats reads the HF tensor for role r of the checkpoint.
func hfFloats(t testing.TB, src *Source, r model.TensorRole) []float32 {
	t.Helper()
	name := src.Config.HFName(r)
	st, ok := src.Checkpoint().Lookup(name)
	if !ok {
		t.Fatalf("source has no %s", name)
	}
	out := make([]float32, st.NumElements())
	if err := st.ReadFloat32(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectedGGUFData builds, independently of the engine, the float32 data a
// GGUF tensor must hold: experts concatenated, q/k rows permuted.
func expectedGGUFData(t testing.TB, src *Source, e model.ExpectedTensor) []float32 {
	cfg := src.Config
	if e.Role.Expert == model.AllExperts {
		var all []float32
		for x := range cfg.NumExperts {
			r := e.Role
			r.Expert = x
			all = append(all, hfFloats(t, src, r)...)
		}
		return all
	}
	data := hfFloats(t, src, e.Role)
	if e.Role.Role != model.RoleAttnQ && e.Role.Role != model.RoleAttnK {
		return data
	}
	cols := int(e.Shape[0])
	rows := len(data) / cols
	hd := cfg.HeadDim
	out := make([]float32, len(data))
	// Permute by the reshape/swapaxes definition: view rows as
	// [heads][2][hd/2], swap the last two axes.
	for h := 0; h < rows/hd; h++ {
		for j := 0; j < 2; j++ {
			for i := 0; i < hd/2; i++ {
				from := h*hd + j*(hd/2) + i
				to := h*hd + i*2 + j
				copy(out[to*cols:(to+1)*cols], data[from*cols:(from+1)*cols])
			}
		}
	}
	return out
}

func readGGUFTensor(t testing.TB, f *gguf.File, name string) (*gguf.TensorInfo, []byte) {
	t.Helper()
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("output has no tensor %s", name)
	}
	raw := make([]byte, ti.Size())
	if _, err := f.Section(ti).ReadAt(raw, 0); err != nil {
		t.Fatal(err)
	}
	return ti, raw
}

// The F32 output holds exactly the source values, with experts stacked and
// q/k permuted; undoing the permutation gives the HF tensor back.
func TestF32OutputEqualsSource(t *testing.T) {
	src := openTiny(t)
	out := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeAllF32})
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	expected := src.Config.GGUFTensors()
	if len(f.Tensors) != len(expected) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(expected))
	}
	for _, e := range expected {
		ti, raw := readGGUFTensor(t, f, e.Name)
		if ti.Type != ggml.F32 {
			t.Fatalf("%s: type %s, want F32", e.Name, ti.Type)
		}
		var dims []int64
		for _, d := range ti.Dims {
			dims = append(dims, int64(d))
		}
		if !slices.Equal(dims, e.Shape) {
			t.Fatalf("%s: dims %v, want %v", e.Name, dims, e.Shape)
		}
		got := make([]float32, len(raw)/4)
		if err := quant.Dequantize(ggml.F32, raw, got); err != nil {
			t.Fatal(err)
		}
		want := expectedGGUFData(t, src, e)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: data differs from the source", e.Name)
		}
		if e.Role.Role == model.RoleAttnQ || e.Role.Role == model.RoleAttnK {
			cols := int(e.Shape[0])
			back := make([]float32, len(got))
			permuteRows(back, got, len(got)/cols, cols, src.Config.HeadDim, unpermutedSource)
			if !slices.Equal(back, hfFloats(t, src, e.Role)) {
				t.Fatalf("%s: un-permuting does not give the HF tensor back", e.Name)
			}
		}
	}
}

// Quantized tensors hold exactly what the ggml-exact kernels produce from
// the (permuted, stacked) source; the kernels themselves are proven against
// ggml's own outputs in package quant.
func TestQuantizedTensorsMatchReferenceKernels(t *testing.T) {
	src := openTiny(t)
	for _, ft := range []ggml.FileType{
		ggml.FileTypeQ8_0, ggml.FileTypeQ4_0, ggml.FileTypeQ4_K_M,
		ggml.FileTypeIQ4_NL, ggml.FileTypeIQ4_XS, ggml.FileTypeMXFP4_MOE, ggml.FileTypeTQ1_0, ggml.FileTypeTQ2_0,
	} {
		t.Run(ft.String(), func(t *testing.T) {
			out := writeGGUF(t, src, GGUFOptions{FileType: ft})
			f, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			seen := map[ggml.Type]int{}
			for _, e := range src.Config.GGUFTensors() {
				ti, raw := readGGUFTensor(t, f, e.Name)
				want := make([]byte, len(raw))
				if err := quant.Quantize(ti.Type, expectedGGUFData(t, src, e), want); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(raw, want) {
					t.Fatalf("%s (%s): bytes differ from the reference quantizer", e.Name, ti.Type)
				}
				seen[ti.Type]++
			}
			if ft.DefaultType() != ggml.F32 && seen[ft.DefaultType()] == 0 {
				t.Fatalf("no tensor got the base type %s: %v", ft.DefaultType(), seen)
			}
		})
	}
}

func fileDigest(t testing.TB, path string) [32]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// The bytes do not depend on the number of workers.
func TestDeterministicAcrossWorkers(t *testing.T) {
	src := openTiny(t)
	var first [32]byte
	for i, w := range []int{1, 2, 5} {
		d := fileDigest(t, writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M, Workers: w}))
		if i == 0 {
			first = d
		} else if d != first {
			t.Fatalf("%d workers wrote different bytes than 1 worker", w)
		}
	}
}
