package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/imatrix"
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
// last bits) quantizes to nearly the same file: most tensors identical,
// and the imatrix-weighted error of every tensor within 2% of what
// llama's imatrix gives.
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
	weighted := 0
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
		if rel := (*g - *r) / *r; rel > 0.02 || rel < -0.02 {
			t.Errorf("%s: imatrix-weighted error %.6g with mxq's imatrix, %.6g with llama's", got.Name, *g, *r)
		}
	}
	if weighted != 14 || differ > len(want.Tensors)/2 {
		t.Errorf("%d tensors weighted (want 14: 7 per layer), %d differ from llama-quantize's", weighted, differ)
	}
}
