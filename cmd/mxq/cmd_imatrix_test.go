package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/imatrix"
)

const llamaImatrix = "../../testdata/tiny-mixtral-imatrix"

// TestImatrixAgreesWithLlama runs `mxq imatrix` on the ids llama-imatrix
// was given, cut the same way, and compares its file entry by entry with
// llama-imatrix's: the same entries, counts exactly, sums within 1e-4
// relative (see compareImatrix). The partial run reproduces the expert no
// token reached.
func TestImatrixAgreesWithLlama(t *testing.T) {
	for _, c := range []struct {
		ids, want, chunk string
		unrouted         []expertSlot
	}{
		{"ids.txt", "tiny-mixtral.imatrix.gguf", "128", []expertSlot{}},
		{"ids.partial.txt", "tiny-mixtral.partial.imatrix.gguf", "16", []expertSlot{{Layer: 1, Expert: 0}}},
	} {
		t.Run(c.ids, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "tiny.imatrix.gguf")
			code, stdout, stderr := runCLI(t, "imatrix", tiny, "--tokens", filepath.Join(llamaImatrix, c.ids), "--chunk-size", c.chunk, "-o", out, "--json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var s imatrixSummary
			if err := json.Unmarshal([]byte(stdout), &s); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Unrouted, c.unrouted) || s.Entries != 16 || s.Filled {
				t.Errorf("summary: unrouted %v, %d entries, filled %v", s.Unrouted, s.Entries, s.Filled)
			}
			got, err := imatrix.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			want, err := imatrix.Read(filepath.Join(llamaImatrix, c.want))
			if err != nil {
				t.Fatal(err)
			}
			compareImatrix(t, got, want, 1e-4)
			for _, l := range s.Layers {
				e, _ := got.Lookup(fmt.Sprintf("blk.%d.ffn_down_exps.weight", l.Layer))
				for x, n := range l.ExpertTokens {
					if float32(n) != e.Counts[x] {
						t.Errorf("layer %d: summary tokens %v, file counts %v", l.Layer, l.ExpertTokens, e.Counts)
						break
					}
				}
			}
		})
	}
}

// TestImatrixFromGGUF computes the matrix from mxq's F32 GGUF of
// tiny-mixtral (llama.cpp's tensor names and layouts, merged experts, q/k
// rows permuted) and compares it with llama-imatrix's as above.
func TestImatrixFromGGUF(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tiny.f32.gguf")
	if code, _, stderr := runCLI(t, "quantize", tiny, "--type", "F32", "-o", src, "-q"); code != exitOK {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "tiny.imatrix.gguf")
	if code, _, stderr := runCLI(t, "imatrix", src, "--tokens", filepath.Join(llamaImatrix, "ids.txt"), "--chunk-size", "128", "-o", out); code != exitOK {
		t.Fatalf("imatrix: exit %d: %s", code, stderr)
	}
	got, err := imatrix.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := imatrix.Read(filepath.Join(llamaImatrix, "tiny-mixtral.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	compareImatrix(t, got, want, 1e-4)
}

// compareImatrix checks entries, counts (exactly) and sums within tol
// relative to the value, or to the mean value of its matrix for a value
// below that mean: both forward passes round each activation to about 1e-7
// of its vector's scale, so a component far below the others (in a matrix
// that saw a single token) has a larger relative error that says nothing
// about the collection. It logs the largest plain relative difference too.
func compareImatrix(t *testing.T, got, want *imatrix.Matrix, tol float64) {
	t.Helper()
	if got.ChunkCount != want.ChunkCount || got.ChunkSize != want.ChunkSize || len(got.Entries) != len(want.Entries) {
		t.Fatalf("%d chunks of %d, %d entries; want %d of %d, %d", got.ChunkCount, got.ChunkSize, len(got.Entries),
			want.ChunkCount, want.ChunkSize, len(want.Entries))
	}
	var worst, scaled float64
	var worstAt string
	for i, w := range want.Entries {
		g := got.Entries[i]
		if g.Name != w.Name || g.NPerRow != w.NPerRow || g.NMat != w.NMat {
			t.Fatalf("entry %d: %s %d × %d, want %s %d × %d", i, g.Name, g.NMat, g.NPerRow, w.Name, w.NMat, w.NPerRow)
		}
		if !slices.Equal(g.Counts, w.Counts) {
			t.Errorf("%s: counts %v, want %v", g.Name, g.Counts, w.Counts)
		}
		for j, wv := range w.InSum2 {
			gv := g.InSum2[j]
			diff := math.Abs(float64(gv) - float64(wv))
			if rel := diff / math.Abs(float64(wv)); diff > 0 && rel > worst {
				worst, worstAt = rel, g.Name
			}
			mat := j / g.NPerRow
			var mean float64
			for _, v := range w.InSum2[mat*g.NPerRow : (mat+1)*g.NPerRow] {
				mean += float64(v) / float64(g.NPerRow)
			}
			var rel float64
			if diff != 0 || math.IsNaN(float64(gv)) {
				rel = diff / math.Max(math.Abs(float64(wv)), mean)
			}
			scaled = max(scaled, rel)
			if !(rel <= tol) {
				t.Errorf("%s: value %d (matrix %d): %v, want %v (relative %.2g)", g.Name, j, mat, gv, wv, rel)
				break
			}
		}
	}
	t.Logf("largest difference relative to the value or its matrix's mean %.3g; to the value alone %.3g (%s)", scaled, worst, worstAt)
}

// TestImatrixFillAndDat fills the unrouted expert of the partial run and
// writes the legacy format: both read back with the weights they promise.
func TestImatrixFillAndDat(t *testing.T) {
	dir := t.TempDir()
	ids := filepath.Join(llamaImatrix, "ids.partial.txt")
	filled := filepath.Join(dir, "filled.imatrix.gguf")
	code, stdout, stderr := runCLI(t, "imatrix", tiny, "--tokens", ids, "--chunk-size", "16", "-o", filled, "--fill-unrouted")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "layer 1: expert 0") || !strings.Contains(stdout, "--fill-unrouted") {
		t.Errorf("text summary does not report the unrouted expert:\n%s", stdout)
	}
	m, err := imatrix.Read(filled)
	if err != nil {
		t.Fatal(err)
	}
	want := []imatrix.ExpertRef{{Name: "blk.1.ffn_down_exps.weight"}, {Name: "blk.1.ffn_gate_exps.weight"}, {Name: "blk.1.ffn_up_exps.weight"}}
	if !slices.Equal(m.Filled, want) || len(m.Unrouted()) != 0 {
		t.Fatalf("filled %v, unrouted %v", m.Filled, m.Unrouted())
	}
	if w, _, _ := m.Weights("blk.1.ffn_up_exps.weight", 256, 8); w[0] == 1 || !(w[0] > 0) {
		t.Errorf("filled expert weight %v", w[0])
	}

	dat := filepath.Join(dir, "tiny.imatrix.dat")
	if code, _, stderr := runCLI(t, "imatrix", tiny, "--tokens", ids, "--chunk-size", "16", "-o", dat, "--dat"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	d, err := imatrix.Read(dat)
	if err != nil {
		t.Fatal(err)
	}
	llama, err := imatrix.Read(filepath.Join(llamaImatrix, "tiny-mixtral.partial.imatrix.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Legacy || len(d.Entries) != len(llama.Entries) || d.ChunkCount != 1 || d.Datasets[0] != ids {
		t.Fatalf("legacy %v, %d entries, %d chunks, datasets %q", d.Legacy, len(d.Entries), d.ChunkCount, d.Datasets)
	}
	for i, e := range llama.Entries {
		if d.Entries[i].Name != e.Name || d.Entries[i].Counts[0] != e.Counts[0] {
			t.Errorf("entry %s ncall %v, want %s ncall %v", d.Entries[i].Name, d.Entries[i].Counts, e.Name, e.Counts)
		}
	}
}

// TestImatrixText calibrates on text tokenized with the model's tokenizer.
func TestImatrixText(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("The keeper climbed the ninety-seven steps to light the lamp. ", 8)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "t.imatrix.gguf")
	code, stdout, stderr := runCLI(t, "imatrix", tiny, "--text", text, "--chunk-size", "32", "--chunks", "2", "-o", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s imatrixSummary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	m, err := imatrix.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Chunks != 2 || s.Tokens != 64 || s.Arithmetic != "float32" || m.ChunkCount != 2 || m.ChunkSize != 32 || !slices.Equal(m.Datasets, []string{text}) {
		t.Errorf("summary %+v; file %d chunks of %d, datasets %q", s, m.ChunkCount, m.ChunkSize, m.Datasets)
	}
	if e, _ := m.Lookup("blk.0.attn_q.weight"); e == nil || e.Counts[0] != 64 {
		t.Errorf("attn_q entry %+v", e)
	}
	// The bf16 arithmetic runs the same chunks and says so.
	code, stdout, stderr = runCLI(t, "imatrix", tiny, "--text", text, "--chunk-size", "32", "--chunks", "2", "-o", out, "--force", "--arithmetic", "bf16")
	if code != exitOK || !strings.Contains(stdout, "64 tokens in 2 chunks of 32") || !strings.Contains(stdout, "bf16 arithmetic") {
		t.Errorf("bf16: exit %d: %s%s", code, stdout, stderr)
	}
}

func TestImatrixUsage(t *testing.T) {
	dir := t.TempDir()
	ids := filepath.Join(llamaImatrix, "ids.partial.txt")
	existing := filepath.Join(dir, "exists.gguf")
	if err := os.WriteFile(existing, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	idsCopy := filepath.Join(dir, "ids.txt")
	if err := os.WriteFile(idsCopy, []byte("1 2 3"), 0o644); err != nil {
		t.Fatal(err)
	}
	bigID := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(bigID, []byte("1 5000"), 0o644); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "notes.gguf")
	if err := os.WriteFile(notes, []byte("my notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x.gguf")
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no calibration", []string{"imatrix", tiny, "-o", out}, exitUsage, "--text and --tokens"},
		{"both", []string{"imatrix", tiny, "-o", out, "--text", ids, "--tokens", ids}, exitUsage, "--text and --tokens"},
		{"chunk size", []string{"imatrix", tiny, "-o", out, "--tokens", ids, "--chunk-size", "0"}, exitUsage, "--chunk-size"},
		{"dat and fill", []string{"imatrix", tiny, "-o", out, "--tokens", ids, "--dat", "--fill-unrouted"}, exitUsage, "--fill-unrouted"},
		{"arithmetic", []string{"imatrix", tiny, "-o", out, "--tokens", ids, "--arithmetic", "int8"}, exitUsage, `--arithmetic must be float32 or bf16, got "int8"`},
		{"existing output", []string{"imatrix", tiny, "-o", existing, "--tokens", ids}, exitUsage, "--force"},
		{"force over a file that is not an importance matrix", []string{"imatrix", tiny, "-o", notes, "--tokens", ids, "--force"}, exitUsage, "not an importance matrix"},
		{"output folder missing", []string{"imatrix", tiny, "-o", filepath.Join(dir, "nowhere", "x.gguf"), "--tokens", ids}, exitUsage, "does not exist"},
		{"output is the tokens", []string{"imatrix", tiny, "-o", idsCopy, "--tokens", idsCopy, "--force"}, exitUsage, "input"},
		{"output is a file of the model", []string{"imatrix", tiny, "-o", filepath.Join(tiny, "config.json"), "--tokens", ids, "--force"}, exitUsage, "is the input"},
		{"output in the model folder", []string{"imatrix", tiny, "-o", filepath.Join(tiny, "new.imatrix.gguf"), "--tokens", ids}, exitUsage, "never writes where it reads"},
		{"too few tokens", []string{"imatrix", tiny, "-o", out, "--tokens", ids, "--chunk-size", "17"}, exitError, "16 tokens do not fill one chunk of 17"},
		{"token outside the vocabulary", []string{"imatrix", tiny, "-o", out, "--tokens", bigID, "--chunk-size", "1"}, exitError, "token 1 (id 5000) is outside the vocabulary of 1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, stderr, c.code, c.msg)
			}
		})
	}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "keep" {
		t.Fatal("an existing output was touched without --force")
	}
	if data, err := os.ReadFile(notes); err != nil || string(data) != "my notes" {
		t.Fatal("--force replaced a file that is not an importance matrix")
	}
	if data, err := os.ReadFile(idsCopy); err != nil || string(data) != "1 2 3" {
		t.Fatal("the tokens file was overwritten")
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a failed run left an output")
	}
}
