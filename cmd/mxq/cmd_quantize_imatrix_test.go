package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
	"github.com/mxq-dev/mxq/quant"
	"github.com/mxq-dev/mxq/quantplan"
	"github.com/mxq-dev/mxq/report"
)

// llamaDump is the per-tensor listing of a GGUF llama-quantize wrote
// (testdata/tiny-mixtral-imatrix/*.json): type, shape and sha256 of each
// tensor's data, and the metadata keys in file order.
type llamaDump struct {
	Tensors []struct {
		Name   string   `json:"name"`
		Type   string   `json:"type"`
		Shape  []uint64 `json:"shape"`
		Size   int64    `json:"size"`
		SHA256 string   `json:"sha256"`
	} `json:"tensors"`
	KV   map[string]json.RawMessage `json:"kv"`
	keys []string                   // KV's keys in file order
}

func readLlamaDump(t *testing.T, name string) *llamaDump {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(llamaImatrix, name))
	if err != nil {
		t.Fatal(err)
	}
	var d llamaDump
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// The key order is the file's: read the kv object token by token.
	dec := json.NewDecoder(bytes.NewReader(raw))
	for depth := 0; ; {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tok == "kv" && depth == 1 {
			dec.Token() // {
			for dec.More() {
				k, _ := dec.Token()
				d.keys = append(d.keys, k.(string))
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
			return &d
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// tensorHashes opens a GGUF and returns its tensors and the sha256 of each
// one's data.
func tensorHashes(t *testing.T, path string) (*gguf.File, map[string]string) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sums := map[string]string{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f.Section(ti), 0, int64(ti.Size()))); err != nil {
			t.Fatal(err)
		}
		sums[ti.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return f, sums
}

// sameTensors compares the GGUF at path with llama-quantize's listing
// tensor by tensor: the same names, types, shapes and data bytes. It
// returns the number of tensors whose data differ.
func sameTensors(t *testing.T, path string, want *llamaDump) (differ int) {
	t.Helper()
	f, sums := tensorHashes(t, path)
	if len(f.Tensors) != len(want.Tensors) {
		t.Errorf("%d tensors, llama-quantize wrote %d", len(f.Tensors), len(want.Tensors))
	}
	for _, w := range want.Tensors {
		ti, ok := f.Tensor(w.Name)
		if !ok {
			t.Errorf("%s: missing", w.Name)
			continue
		}
		if ti.Type.String() != w.Type || !slices.Equal(ti.Dims, w.Shape) {
			t.Errorf("%s: %v %v, llama-quantize: %s %v", w.Name, ti.Type, ti.Dims, w.Type, w.Shape)
			continue
		}
		if sums[w.Name] != w.SHA256 {
			differ++
		}
	}
	return differ
}

// checkImatrixKeys verifies the quantize.imatrix.* keys: the values
// llama-quantize wrote (the file as given), and the same place in the key
// order: after general.file_type and general.quantization_version, last.
func checkImatrixKeys(t *testing.T, path, imatrixArg string, want *llamaDump) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wantKeys []string
	for _, k := range want.keys {
		if strings.HasPrefix(k, "quantize.imatrix.") {
			wantKeys = append(wantKeys, k)
		}
	}
	if n := len(wantKeys); n != 4 || !slices.Equal(want.keys[len(want.keys)-n:], wantKeys) {
		t.Fatalf("llama-quantize's keys %v: expected the four imatrix keys last", want.keys)
	}
	var got []string
	for _, kv := range f.KV[len(f.KV)-len(wantKeys):] {
		got = append(got, kv.Key)
	}
	if !slices.Equal(got, wantKeys) {
		t.Errorf("last keys %v, llama-quantize's %v", got, wantKeys)
	}
	before := func(a, b string) bool {
		ia := slices.IndexFunc(f.KV, func(kv gguf.KV) bool { return kv.Key == a })
		ib := slices.IndexFunc(f.KV, func(kv gguf.KV) bool { return kv.Key == b })
		return ia >= 0 && ib >= 0 && ia < ib
	}
	if !before("general.file_type", wantKeys[0]) || !before("general.quantization_version", wantKeys[0]) {
		t.Errorf("the imatrix keys do not follow general.file_type and general.quantization_version")
	}
	for _, k := range wantKeys {
		v, _ := f.Lookup(k)
		gotJSON, _ := json.Marshal(v.V)
		wantJSON := string(want.KV[k])
		if k == imatrix.KeyQuantizeFile {
			wantJSON = `"` + imatrixArg + `"`
		}
		if string(gotJSON) != wantJSON {
			t.Errorf("%s = %s, want %s", k, gotJSON, wantJSON)
		}
		if k == imatrix.KeyQuantizeEntriesCount || k == imatrix.KeyQuantizeChunksCount {
			if v.Type != gguf.TypeUint32 {
				t.Errorf("%s is %v, llama-quantize writes UINT32", k, v.Type)
			}
		}
	}
}

func quantizeOK(t *testing.T, args ...string) {
	t.Helper()
	if code, _, stderr := runCLI(t, append([]string{"quantize", "-q"}, args...)...); code != exitOK {
		t.Fatalf("quantize %v: exit %d: %s", args, code, stderr)
	}
}

// TestQuantizeImatrixMatchesLlama quantizes tiny-mixtral with llama's
// imatrix (both formats, and the partial one whose unrouted expert gets
// weight 1) and compares every tensor's bytes with llama-quantize's. The
// same types without the imatrix must differ, so the check has teeth.
func TestQuantizeImatrixMatchesLlama(t *testing.T) {
	supported := func(name string) bool {
		ft, err := ggml.ParseFileType(name)
		return err == nil && slices.Contains(quantplan.Supported(), ft)
	}
	dir := t.TempDir()
	for _, c := range []struct{ imatrix, typ, dump string }{
		{"tiny-mixtral.imatrix", "Q4_K_M", "tiny-mixtral.imatrix.Q4_K_M.json"},
		{"tiny-mixtral.imatrix", "Q3_K_M", "tiny-mixtral.imatrix.Q3_K_M.json"},
		{"tiny-mixtral.imatrix", "Q2_K", "tiny-mixtral.imatrix.Q2_K.json"},
		{"tiny-mixtral.imatrix", "IQ3_XXS", "tiny-mixtral.imatrix.IQ3_XXS.json"},
		{"tiny-mixtral.imatrix", "IQ2_XS", "tiny-mixtral.imatrix.IQ2_XS.json"},
		{"tiny-mixtral.imatrix", "IQ4_XS", "tiny-mixtral.imatrix.IQ4_XS.json"},
		{"tiny-mixtral.partial.imatrix", "Q4_K_M", "tiny-mixtral.partial.imatrix.Q4_K_M.json"},
		{"tiny-mixtral.partial.imatrix", "IQ2_XS", "tiny-mixtral.partial.imatrix.IQ2_XS.json"},
	} {
		for _, format := range []string{"gguf", "dat"} {
			t.Run(c.imatrix+"."+format+"/"+c.typ, func(t *testing.T) {
				if !supported(c.typ) {
					t.Skipf("mxq does not make %s files", c.typ)
				}
				want := readLlamaDump(t, c.dump)
				im := filepath.Join(llamaImatrix, c.imatrix+"."+format)
				out := filepath.Join(dir, c.imatrix+"."+format+"."+c.typ+".gguf")
				quantizeOK(t, tiny, "--type", c.typ, "--imatrix", im, "-o", out)
				if n := sameTensors(t, out, want); n != 0 {
					t.Errorf("%d tensors differ from llama-quantize's", n)
				}
				checkImatrixKeys(t, out, im, want)
			})
		}
	}
	t.Run("without imatrix", func(t *testing.T) {
		for _, typ := range []string{"Q4_K_M", "Q2_K"} {
			out := filepath.Join(dir, "plain."+typ+".gguf")
			quantizeOK(t, tiny, "--type", typ, "-o", out)
			if n := sameTensors(t, out, readLlamaDump(t, "tiny-mixtral.imatrix."+typ+".json")); n < 10 {
				t.Errorf("%s without the imatrix: only %d tensors differ from llama-quantize's with it", typ, n)
			}
		}
	})
}

// llama-quantize's input was the F32 GGUF of tiny-mixtral. mxq's F32 file
// of the BF16 folder has the same tensors (BF16 → F32 is exact), and
// quantizing that GGUF with the imatrix gives llama-quantize's bytes too.
func TestQuantizeImatrixFromF32GGUF(t *testing.T) {
	dir := t.TempDir()
	f32 := filepath.Join(dir, "tiny.f32.gguf")
	quantizeOK(t, tiny, "--type", "F32", "-o", f32)
	if n := sameTensors(t, f32, readLlamaDump(t, "tiny-mixtral.f32.json")); n != 0 {
		t.Fatalf("%d tensors of the F32 GGUF differ from llama.cpp's", n)
	}
	im := filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf")
	out := filepath.Join(dir, "q3.gguf")
	quantizeOK(t, f32, "--type", "Q3_K_M", "--imatrix", im, "-o", out)
	want := readLlamaDump(t, "tiny-mixtral.imatrix.Q3_K_M.json")
	if n := sameTensors(t, out, want); n != 0 {
		t.Errorf("%d tensors differ from llama-quantize's", n)
	}
	checkImatrixKeys(t, out, im, want)

	// Tensors already of their target type are copied, as llama-quantize
	// does, whatever the imatrix: requantizing the file to its own type
	// keeps every tensor's bytes.
	same := filepath.Join(dir, "q3-again.gguf")
	quantizeOK(t, out, "--type", "Q3_K_M", "--allow-requantize", "--imatrix", filepath.Join(llamaImatrix, "tiny-mixtral.partial.imatrix.gguf"), "-o", same)
	if n := sameTensors(t, same, want); n != 0 {
		t.Errorf("requantized to its own type: %d tensors changed", n)
	}

	// Requantizing a file made with another imatrix replaces its keys.
	re := filepath.Join(dir, "q2.gguf")
	partial := filepath.Join(llamaImatrix, "tiny-mixtral.partial.imatrix.dat")
	quantizeOK(t, out, "--type", "Q2_K", "--allow-requantize", "--imatrix", partial, "-o", re)
	g, err := gguf.Open(re)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	n := 0
	for _, kv := range g.KV {
		if strings.HasPrefix(kv.Key, "quantize.imatrix.") {
			n++
		}
	}
	if v, _ := g.Lookup(imatrix.KeyQuantizeFile); n != 4 || v.V != partial {
		t.Errorf("requantized: %d imatrix keys, file %v", n, v.V)
	}
}

// An imatrix computed by mxq itself (its sums differ from llama's in the
// last bits) quantizes to nearly the same file: the tensors quantized
// without weights are identical to llama-quantize's, and the
// imatrix-weighted error of every tensor is within 0.5% of what llama's
// imatrix gives.
func TestQuantizeWithOwnImatrix(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, "own.imatrix.gguf")
	if code, _, stderr := runCLI(t, "imatrix", tiny, "--tokens", filepath.Join(llamaImatrix, "ids.txt"), "--chunk-size", "128", "-o", own, "-q"); code != exitOK {
		t.Fatalf("imatrix: exit %d: %s", code, stderr)
	}
	reports := map[string]*report.Report{}
	for name, im := range map[string]string{"own": own, "llama": filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf")} {
		out := filepath.Join(dir, name+".gguf")
		rep := filepath.Join(dir, name+".json")
		quantizeOK(t, tiny, "--type", "Q4_K_M", "--imatrix", im, "-o", out, "--report", rep)
		raw, err := os.ReadFile(rep)
		if err != nil {
			t.Fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		reports[name] = &r
	}
	want := readLlamaDump(t, "tiny-mixtral.imatrix.Q4_K_M.json")
	differ := sameTensors(t, filepath.Join(dir, "own.gguf"), want)
	t.Logf("%d of %d tensors differ from llama-quantize's", differ, len(want.Tensors))
	weighted, worst := 0, 0.0
	for i, got := range reports["own"].Tensors {
		ref := reports["llama"].Tensors[i]
		g, r := got.Metrics.ImatrixError, ref.Metrics.ImatrixError
		if (g == nil) != (r == nil) {
			t.Errorf("%s: imatrix-weighted error %v with mxq's imatrix, %v with llama's", got.Name, g, r)
			continue
		}
		if g == nil {
			continue
		}
		weighted++
		rel := (*g - *r) / *r
		worst = max(worst, math.Abs(rel))
		if math.Abs(rel) > 0.005 {
			t.Errorf("%s: imatrix-weighted error %.6g with mxq's imatrix, %.6g with llama's", got.Name, *g, *r)
		}
	}
	t.Logf("imatrix-weighted errors within %.2g relative of those with llama's imatrix", worst)
	// Only the 10 tensors whose quantizer takes weights (per layer
	// attn_q, attn_output and the three expert tensors) may differ.
	if weighted != 14 || differ > 10 {
		t.Errorf("%d tensors weighted (want 14: 7 per layer), %d differ from llama-quantize's", weighted, differ)
	}
}

// Bad importance matrices are refused before anything is written, with
// one line naming the file and, where there is one, the entry; flag
// mistakes are usage errors.
func TestQuantizeImatrixBadInput(t *testing.T) {
	dir := t.TempDir()
	llama := filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf")
	variant := func(name string, edit func(m *imatrix.Matrix)) string {
		m, err := imatrix.Read(llama)
		if err != nil {
			t.Fatal(err)
		}
		edit(m)
		path := filepath.Join(dir, name+".imatrix.gguf")
		if err := m.WriteGGUF(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// patched writes a valid file with the value marker somewhere and
	// then stores v in its place, which the writer would refuse.
	const marker = float32(1234.5678)
	patched := func(name string, v float32, edit func(m *imatrix.Matrix)) string {
		path := variant(name, edit)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var from, to [4]byte
		binary.LittleEndian.PutUint32(from[:], math.Float32bits(marker))
		binary.LittleEndian.PutUint32(to[:], math.Float32bits(v))
		if bytes.Count(b, from[:]) != 1 {
			t.Fatalf("%s: marker not found once", name)
		}
		if err := os.WriteFile(path, bytes.Replace(b, from[:], to[:], 1), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const upExps = "blk.1.ffn_up_exps.weight"
	last := func(m *imatrix.Matrix) *imatrix.Entry { return &m.Entries[len(m.Entries)-1] }
	raw, err := os.ReadFile(llama)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.imatrix.gguf")
	if err := os.WriteFile(truncated, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.imatrix")
	if err := os.WriteFile(garbage, []byte("not an importance matrix at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, c := range []struct {
		name  string
		file  string
		args  []string
		code  int
		wants []string
	}{
		{"another model's names", variant("renamed", func(m *imatrix.Matrix) { last(m).Name = "blk.7.ffn_up_exps.weight" }),
			nil, exitError, []string{"renamed", "blk.7.ffn_up_exps.weight", "names no weight"}},
		{"another model's sizes", variant("resized", func(m *imatrix.Matrix) {
			e := last(m)
			e.NPerRow /= 2
			e.InSum2 = e.InSum2[:e.NPerRow*e.NMat]
		}), nil, exitError, []string{"resized", upExps, "the model's weight needs 8 × 256"}},
		{"fewer experts", variant("experts", func(m *imatrix.Matrix) {
			e := last(m)
			e.NMat = 4
			e.InSum2, e.Counts = e.InSum2[:4*e.NPerRow], e.Counts[:4]
		}), nil, exitError, []string{"experts", upExps, "needs 8 × 256"}},
		{"NaN statistic", patched("nan", float32(math.NaN()), func(m *imatrix.Matrix) { last(m).InSum2[300] = marker }),
			nil, exitError, []string{"nan.imatrix.gguf", upExps, "NaN"}},
		{"negative statistic", patched("negative", -1, func(m *imatrix.Matrix) { last(m).InSum2[5] = marker }),
			nil, exitError, []string{"negative", upExps, "non-negative"}},
		{"negative count", patched("count", -3, func(m *imatrix.Matrix) { last(m).Counts[2] = marker }),
			nil, exitError, []string{"count", upExps, "count 2"}},
		{"weights beyond float32", variant("tiny-count", func(m *imatrix.Matrix) { last(m).Counts[1] = 1e-45 }),
			nil, exitError, []string{"tiny-count", upExps, "matrix 1", "finite"}},
		{"weights that overflow the sums", variant("huge", func(m *imatrix.Matrix) {
			for i := range m.Entries {
				e := &m.Entries[i]
				for j := range e.InSum2 {
					e.InSum2[j] = 3e38
				}
				for j := range e.Counts {
					e.Counts[j] = 1
				}
			}
		}), nil, exitError, []string{"huge", "overflow", "nothing was written"}},
		{"truncated", truncated, nil, exitError, []string{"truncated.imatrix.gguf", "past the end"}},
		{"not an imatrix", garbage, nil, exitError, []string{"garbage.imatrix"}},
		{"missing", filepath.Join(dir, "absent.gguf"), nil, exitError, []string{"absent.gguf"}},
		{"empty flag", "", nil, exitUsage, []string{"--imatrix"}},
		{"safetensors output", llama, []string{"--format", "safetensors", "--bits", "4"}, exitUsage, []string{"--imatrix", "safetensors"}},
	} {
		if inputs == nil {
			inputs = listDir(t, dir)
		}
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			args := []string{"quantize", tiny, "--imatrix", c.file, "-o", out}
			if c.args == nil {
				args[len(args)-1] += ".gguf"
				args = append(args, "--type", "Q4_K_M")
			} else {
				args = append(args, c.args...)
			}
			code, _, stderr := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, stderr)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n") + 1; lines != 1 {
				t.Errorf("%d lines: %s", lines, stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("message lacks %q: %s", w, stderr)
				}
			}
			if after := listDir(t, dir); !slices.Equal(after, inputs) {
				t.Errorf("folder holds %v, before the run %v", after, inputs)
			}
		})
	}
}

// Q2_K_S needs an importance matrix: refused without one, made with one.
func TestQuantizeQ2KS(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q2ks.gguf")
	code, _, stderr := runCLI(t, "quantize", tiny, "--type", "Q2_K_S", "-o", out)
	if code != exitUsage || !strings.Contains(stderr, "importance matrix") {
		t.Fatalf("without imatrix: exit %d: %s", code, stderr)
	}
	quantizeOK(t, tiny, "--type", "Q2_K_S", "--imatrix", filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.dat"), "-o", out)
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ti, ok := f.Tensor("blk.1.ffn_up_exps.weight"); !ok || ti.Type != ggml.Q2_K {
		t.Errorf("ffn_up_exps: %v", ti)
	}
	if v, ok := f.Lookup("general.file_type"); !ok || v.V != uint32(ggml.FileTypeQ2_K_S) {
		t.Errorf("general.file_type %v", v)
	}
}

// listDir lists the names in dir, hidden ones included.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// readTensorF32 decodes a GGUF tensor to float32.
func readTensorF32(t *testing.T, f *gguf.File, name string) (*gguf.TensorInfo, []float32) {
	t.Helper()
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %s", f.Name, name)
	}
	raw := make([]byte, ti.Size())
	if _, err := f.Section(ti).ReadAt(raw, 0); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, ti.NumElements())
	if err := quant.Dequantize(ti.Type, raw, out); err != nil {
		t.Fatal(err)
	}
	return ti, out
}

// What calibration buys, in the quantity the weighted quantizers
// minimise: for every tensor (every expert) quantized with importance
// weights, the imatrix-weighted error Σw(x−x̂)²/Σwx², measured from the
// decoded files, is lower with the imatrix than without, and the report's
// figures agree with this measurement.
func TestImatrixLowersWeightedError(t *testing.T) {
	dir := t.TempDir()
	f32 := filepath.Join(dir, "f32.gguf")
	quantizeOK(t, tiny, "--type", "F32", "-o", f32)
	src, err := gguf.Open(f32)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	imPath := filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf")
	m, err := imatrix.Read(imPath)
	if err != nil {
		t.Fatal(err)
	}
	// sums returns Σw(x−q)² and Σwx², w applied to every row.
	sums := func(x, q, w []float32) (e2, x2 float64) {
		for i := range x {
			wi := float64(w[i%len(w)])
			d := float64(x[i]) - float64(q[i])
			e2 += wi * d * d
			x2 += wi * float64(x[i]) * float64(x[i])
		}
		return e2, x2
	}
	agree := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }
	open := func(path string) *gguf.File {
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	for _, typ := range []string{"Q4_K_M", "Q3_K_M", "Q2_K"} {
		plain, calibrated := filepath.Join(dir, typ+".gguf"), filepath.Join(dir, typ+".imatrix.gguf")
		quantizeOK(t, f32, "--type", typ, "-o", plain)
		rep := filepath.Join(dir, typ+".json")
		quantizeOK(t, f32, "--type", typ, "--imatrix", imPath, "-o", calibrated, "--report", rep)
		raw, err := os.ReadFile(rep)
		if err != nil {
			t.Fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		fp, fc := open(plain), open(calibrated)
		checked := 0
		var totals [2][2]float64 // [with, without][e2, x2]
		for _, rt := range r.Tensors {
			ti, x := readTensorF32(t, src, rt.Name)
			tc, qc := readTensorF32(t, fc, rt.Name)
			nPerRow, nMat := int(ti.Dims[0]), 1
			if len(ti.Dims) == 3 {
				nMat = int(ti.Dims[2])
			}
			w, ok, err := m.Weights(rt.Name, nPerRow, nMat)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || !quant.UsesWeights(tc.Type) {
				continue
			}
			_, qp := readTensorF32(t, fp, rt.Name)
			per := len(x) / nMat
			var with, without [2]float64
			for e := range nMat {
				ew, xs := w[e*nPerRow:(e+1)*nPerRow], x[e*per:(e+1)*per]
				e2c, x2 := sums(xs, qc[e*per:(e+1)*per], ew)
				e2p, _ := sums(xs, qp[e*per:(e+1)*per], ew)
				if e2c >= e2p {
					t.Errorf("%s %s expert %d: imatrix-weighted error %.4g with the imatrix, %.4g without", typ, rt.Name, e, e2c/x2, e2p/x2)
				}
				if nMat > 1 && !agree(*rt.Experts[e].ImatrixError, e2c/x2) {
					t.Errorf("%s %s expert %d: report %g, measured %g", typ, rt.Name, e, *rt.Experts[e].ImatrixError, e2c/x2)
				}
				with[0], with[1] = with[0]+e2c, with[1]+x2
				without[0], without[1] = without[0]+e2p, without[1]+x2
			}
			if !agree(*rt.Metrics.ImatrixError, with[0]/with[1]) {
				t.Errorf("%s %s: report %g, measured %g", typ, rt.Name, *rt.Metrics.ImatrixError, with[0]/with[1])
			}
			for i, s := range [][2]float64{with, without} {
				totals[i][0] += s[0]
				totals[i][1] += s[1]
			}
			t.Logf("%s %-28s %-5s imatrix-weighted error %.4e with the imatrix, %.4e without (%+.1f%%)",
				typ, rt.Name, tc.Type, with[0]/with[1], without[0]/without[1], 100*(with[0]/without[0]-1))
			checked++
		}
		t.Logf("%s all weighted tensors: %.4e with, %.4e without (%+.1f%%)", typ,
			totals[0][0]/totals[0][1], totals[1][0]/totals[1][1], 100*(totals[0][0]/totals[1][0]-1))
		// Per layer attn_q, attn_output and the three expert tensors;
		// attn_k and attn_v are Q8_0, which takes no weights.
		if checked != 10 {
			t.Errorf("%s: %d tensors checked, want 10", typ, checked)
		}
	}
}

// Experts no calibration token reached are named on stderr: they are
// quantized without weights.
func TestQuantizeImatrixNotesUnrouted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.gguf")
	code, _, stderr := runCLI(t, "quantize", tiny, "--type", "Q4_K_M", "-q", "-o", out,
		"--imatrix", filepath.Join(llamaImatrix, "tiny-mixtral.partial.imatrix.gguf"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "3 expert matrices got no calibration token and are quantized without importance weights: " +
		"blk.1.ffn_down_exps.weight:0, blk.1.ffn_gate_exps.weight:0, blk.1.ffn_up_exps.weight:0"
	if !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr: %q", stderr)
	}
	code, _, stderr = runCLI(t, "quantize", tiny, "--type", "Q4_K_M", "-q", "-o", out, "--force",
		"--imatrix", filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf"))
	if code != exitOK || stderr != "" {
		t.Errorf("full imatrix: exit %d, stderr %q", code, stderr)
	}
}
