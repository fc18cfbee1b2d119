package convert

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/formats/safetensors"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
)

func editConfig(t *testing.T, dir, from, to string) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), from) {
		t.Fatalf("config.json has no %q", from)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// poisonTensor writes value (as BF16 bits) over element index of a tensor.
func poisonTensor(t *testing.T, dir, tensor string, index int64, bf16 uint16) {
	t.Helper()
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := ckpt.Lookup(tensor)
	if !ok {
		t.Fatalf("no tensor %s", tensor)
	}
	path, off := st.File.Name, st.File.DataOffset+st.Begin+2*index
	ckpt.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], bf16)
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func convertDir(dir, out string, ft ggml.FileType) error {
	src, err := OpenSource(dir)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := PlanGGUF(src, GGUFOptions{FileType: ft})
	if err != nil {
		return err
	}
	_, err = p.Write(context.Background(), out)
	return err
}

// assertNothingWritten checks that out does not exist and that no
// temporary file was left beside it.
func assertNothingWritten(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists after a failed conversion", out)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

func TestBadInputs(t *testing.T) {
	const expert = "model.layers.1.block_sparse_moe.experts.3.w2.weight"
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  []string // substrings of the error
	}{
		{"missing tokenizer", func(t *testing.T) string {
			return testutil.CopyTiny(t, "tokenizer.model", "tokenizer.json")
		}, []string{"tokenizer"}},
		{"unknown architecture", func(t *testing.T) string {
			dir := testutil.CopyTiny(t)
			editConfig(t, dir, `"MixtralForCausalLM"`, `"GPT2LMHeadModel"`)
			editConfig(t, dir, `"model_type": "mixtral"`, `"model_type": "gpt2"`)
			return dir
		}, []string{"GPT2LMHeadModel"}},
		{"shape mismatch", func(t *testing.T) string {
			dir := testutil.CopyTiny(t)
			editConfig(t, dir, `"intermediate_size": 512`, `"intermediate_size": 768`)
			return dir
		}, []string{"shape", "config.json"}},
		{"NaN weight", func(t *testing.T) string {
			dir := testutil.CopyTiny(t)
			poisonTensor(t, dir, expert, 1000, 0x7fc0)
			return dir
		}, []string{expert, "NaN"}},
		{"Inf weight", func(t *testing.T) string {
			dir := testutil.CopyTiny(t)
			poisonTensor(t, dir, expert, 7, 0xff80)
			return dir
		}, []string{expert, "Inf"}},
		{"missing shard", func(t *testing.T) string {
			return testutil.CopyTiny(t, "model-00002-of-00003.safetensors")
		}, []string{"model-00002-of-00003.safetensors"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			out := filepath.Join(t.TempDir(), "out.gguf")
			err := convertDir(dir, out, ggml.FileTypeQ8_0)
			if err == nil {
				t.Fatal("conversion succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			assertNothingWritten(t, out)
		})
	}
}

func TestF16OverflowSuggestsBF16(t *testing.T) {
	dir := testutil.CopyTiny(t)
	poisonTensor(t, dir, "model.layers.0.self_attn.o_proj.weight", 5, 0x47c0) // 98304 > 65504
	out := filepath.Join(t.TempDir(), "out.gguf")
	err := convertDir(dir, out, ggml.FileTypeMostlyF16)
	if err == nil || !strings.Contains(err.Error(), "BF16") || !strings.Contains(err.Error(), "attn_output") {
		t.Fatalf("want an F16 overflow error suggesting BF16, got %v", err)
	}
	assertNothingWritten(t, out)
	if err := convertDir(dir, out, ggml.FileTypeBF16); err != nil {
		t.Fatalf("BF16 output of the same checkpoint: %v", err)
	}
}

func TestUnwritableOutput(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(parent, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := convertDir(tinyDir, filepath.Join(parent, "out.gguf"), ggml.FileTypeQ8_0); err == nil {
		t.Fatal("writing below a regular file succeeded")
	}
}

// failingSink fails after n bytes, as a full disk does. Workers write to
// it concurrently, as io.WriterAt allows.
type failingSink struct{ left atomic.Int64 }

func (s *failingSink) WriteAt(p []byte, _ int64) (int, error) {
	if s.left.Add(-int64(len(p))) < 0 {
		return 0, errors.New("no space left on device")
	}
	return len(p), nil
}
func (s *failingSink) Truncate(int64) error { return nil }

func TestDiskFullStopsCleanly(t *testing.T) {
	src := openTiny(t)
	p, err := PlanGGUF(src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	if err != nil {
		t.Fatal(err)
	}
	sink := &failingSink{}
	sink.left.Store(p.Size() / 2)
	err = p.Run(context.Background(), sink)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("want the write error, got %v", err)
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	src := openTiny(t)
	p, err := PlanGGUF(src, GGUFOptions{FileType: ggml.FileTypeQ4_K_M})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "out.gguf")
	if _, err := p.Write(ctx, out); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	assertNothingWritten(t, out)
}

func TestRequantizeNeedsFlag(t *testing.T) {
	src := openTiny(t)
	q8 := writeGGUF(t, src, GGUFOptions{FileType: ggml.FileTypeQ8_0})
	gsrc, err := OpenSource(q8)
	if err != nil {
		t.Fatal(err)
	}
	defer gsrc.Close()
	if _, err := PlanGGUF(gsrc, GGUFOptions{FileType: ggml.FileTypeQ4_0}); err == nil || !strings.Contains(err.Error(), "--allow-requantize") {
		t.Fatalf("want a requantize refusal, got %v", err)
	}
	if _, err := PlanGGUF(gsrc, GGUFOptions{FileType: ggml.FileTypeQ4_0, AllowRequantize: true}); err != nil {
		t.Fatal(err)
	}
}

// A finite weight that the output type cannot hold (an F16 block scale
// overflowing, a float rounding past BF16's largest value) is an error
// naming the tensor and element, and nothing is written.
func TestUnstorableValues(t *testing.T) {
	const expert = "model.layers.1.block_sparse_moe.experts.3.w2.weight"
	huge := func(t *testing.T) string { // 9.96e6: a Q8_0/Q4_0 scale of about 78000 > 65504
		dir := testutil.CopyTiny(t)
		poisonTensor(t, dir, expert, 7, 0x4b18)
		return dir
	}
	floatMax := func(t *testing.T) string { // an F32 GGUF holding FLT_MAX
		f32 := stTinyGGUF(t, ggml.FileTypeAllF32)
		src, err := OpenSource(f32)
		if err != nil {
			t.Fatal(err)
		}
		ti, ok := src.GGUF().Tensor("blk.0.attn_output.weight")
		if !ok {
			t.Fatal("no attn_output")
		}
		_, base, _ := src.GGUF().Section(ti).Outer()
		src.Close()
		f, err := os.OpenFile(f32, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(math.MaxFloat32))
		if _, err := f.WriteAt(b[:], base+4*(2*256+9)); err != nil {
			t.Fatal(err)
		}
		return f32
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string
		ft    ggml.FileType
		want  []string
	}{
		{"Q8_0 scale overflows F16", huge, ggml.FileTypeQ8_0, []string{"blk.1.ffn_down_exps.weight", "[768, 7]", "Inf"}},
		{"Q4_0 scale overflows F16", huge, ggml.FileTypeQ4_0, []string{"blk.1.ffn_down_exps.weight", "[768, 7]"}},
		{"FLT_MAX rounds to BF16 Inf", floatMax, ggml.FileTypeBF16, []string{"blk.0.attn_output.weight", "[2, 9]", "BF16", "+Inf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			err := convertDir(tc.setup(t), out, tc.ft)
			if err == nil {
				t.Fatal("conversion succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			assertNothingWritten(t, out)
		})
	}
}

// Quantizing a GGUF checks its tensor set as converting it back does: a
// vocabulary-only or incomplete file is refused by every path.
func TestGGUFTensorSetChecked(t *testing.T) {
	incomplete := func(t *testing.T) string {
		p, err := PlanGGUF(openTiny(t), GGUFOptions{FileType: ggml.FileTypeAllF32})
		if err != nil {
			t.Fatal(err)
		}
		var kept []gguf.TensorInfo
		for _, ti := range p.layout.Tensors() {
			if ti.Name != "blk.1.attn_k.weight" {
				kept = append(kept, ti)
			}
		}
		l, err := gguf.NewLayout(p.layout.KV(), kept, 32)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "incomplete.gguf")
		err = gguf.WriteFile(path, l, func(_ int, ti gguf.TensorInfo, w io.Writer) error {
			_, err := w.Write(make([]byte, ti.Size()))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		want string
	}{
		{"vocabulary only", func(*testing.T) string { return "../formats/gguf/testdata/ggml-vocab-llama-spm.gguf" }, "no tensors"},
		{"a tensor missing", incomplete, "blk.1.attn_k.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := OpenSource(tc.path(t))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			for _, ft := range []ggml.FileType{ggml.FileTypeQ4_K_M, ggml.FileTypeAllF32} {
				if _, err := PlanGGUF(src, GGUFOptions{FileType: ft}); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("GGUF %s: error %v, want one mentioning %q", ft, err, tc.want)
				}
			}
			for _, bits := range []int{16, 4} {
				if _, err := PlanSafetensors(src, SafetensorsOptions{Bits: bits}); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("safetensors %d bits: error %v, want one mentioning %q", bits, err, tc.want)
				}
			}
		})
	}
}
