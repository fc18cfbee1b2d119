package imatrix

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/internal/testutil"
)

// dump is the JSON description of one of llama.cpp's imatrix files in
// testdata/tiny-mixtral-imatrix.
type dump struct {
	Format     string   `json:"format"`
	ChunkCount int      `json:"chunk_count"`
	Datasets   []string `json:"datasets"`
	NEntries   int      `json:"n_entries"`
	Entries    []struct {
		Name          string    `json:"name"`
		NPerRow       int       `json:"n_per_row"`
		NMat          int       `json:"n_mat"`
		Counts        []float32 `json:"counts"`
		InSum2Head    []float32 `json:"in_sum2_head"`
		InSum2SHA256  string    `json:"in_sum2_sha256"`
		NCall         int       `json:"ncall"`
		NVal          int       `json:"nval"`
		ValuesHead    []float32 `json:"values_head"`
		ValuesSHA256  string    `json:"values_sha256"`
		WeightsHead   []float32 `json:"weights_head"`
		WeightsSHA256 string    `json:"weights_sha256"`
	} `json:"entries"`
}

func fixture(t testing.TB, name string) string {
	return testutil.Testdata(t, filepath.Join("tiny-mixtral-imatrix", name))
}

func readDump(t *testing.T, name string) *dump {
	t.Helper()
	raw, err := os.ReadFile(fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var d dump
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func sha(v []float32) string {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	s := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(s[:])
}

var llamaFiles = []string{
	"tiny-mixtral.imatrix.gguf", "tiny-mixtral.imatrix.dat",
	"tiny-mixtral.partial.imatrix.gguf", "tiny-mixtral.partial.imatrix.dat",
}

// TestReadLlamaFiles reads llama-imatrix's files in both formats and
// compares every entry, and the weights llama-quantize derives from it,
// with the dumps made by llama.cpp's own code.
func TestReadLlamaFiles(t *testing.T) {
	for _, file := range llamaFiles {
		t.Run(file, func(t *testing.T) {
			m, err := Read(fixture(t, file))
			if err != nil {
				t.Fatal(err)
			}
			d := readDump(t, strings.TrimSuffix(file, ".gguf")+".json")
			legacy := d.Format == "dat"
			if m.Legacy != legacy || m.ChunkCount != d.ChunkCount || !slices.Equal(m.Datasets, d.Datasets) || len(m.Entries) != d.NEntries {
				t.Fatalf("read legacy %v, %d chunks, datasets %q, %d entries; want %v, %d, %q, %d",
					m.Legacy, m.ChunkCount, m.Datasets, len(m.Entries), legacy, d.ChunkCount, d.Datasets, d.NEntries)
			}
			for i, want := range d.Entries {
				e := &m.Entries[i]
				if e.Name != want.Name {
					t.Fatalf("entry %d is %q, want %q", i, e.Name, want.Name)
				}
				head, hash, nPerRow, nMat := want.InSum2Head, want.InSum2SHA256, want.NPerRow, want.NMat
				counts := want.Counts
				if legacy {
					head, hash, nPerRow, nMat = want.ValuesHead, want.ValuesSHA256, want.NVal, 1
					counts = []float32{float32(want.NCall)}
				}
				if e.NPerRow != nPerRow || e.NMat != nMat || !slices.Equal(e.Counts, counts) {
					t.Errorf("%s: %d × %d, counts %v; want %d × %d, %v", e.Name, e.NMat, e.NPerRow, e.Counts, nMat, nPerRow, counts)
				}
				if !slices.Equal(e.InSum2[:len(head)], head) || sha(e.InSum2) != hash {
					t.Errorf("%s: values %v… (sha256 %s), want %v… (%s)", e.Name, e.InSum2[:len(head)], sha(e.InSum2), head, hash)
				}
				w, ok, err := m.Weights(e.Name, nPerRow, nMat)
				if err != nil || !ok {
					t.Fatalf("%s: Weights: %v %v", e.Name, ok, err)
				}
				if !slices.Equal(w[:len(want.WeightsHead)], want.WeightsHead) || sha(w) != want.WeightsSHA256 {
					t.Errorf("%s: weights %v… (sha256 %s), want %v… (%s)", e.Name, w[:8], sha(w), want.WeightsHead, want.WeightsSHA256)
				}
			}
		})
	}
}

// TestDatAndGGUFSameWeights checks that the two formats of one matrix give
// llama-quantize's weights bit for bit, per expert of the merged tensors.
func TestDatAndGGUFSameWeights(t *testing.T) {
	for _, stem := range []string{"tiny-mixtral", "tiny-mixtral.partial"} {
		g, err := Read(fixture(t, stem+".imatrix.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Read(fixture(t, stem+".imatrix.dat"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range g.Entries {
			wg, _, err := g.Weights(e.Name, e.NPerRow, e.NMat)
			if err != nil {
				t.Fatal(err)
			}
			wd, ok, err := d.Weights(e.Name, e.NPerRow, e.NMat)
			if err != nil || !ok {
				t.Fatalf("%s: %s: %v %v", stem, e.Name, ok, err)
			}
			for i := range wg {
				if math.Float32bits(wg[i]) != math.Float32bits(wd[i]) {
					t.Fatalf("%s: %s: weight %d (expert %d): gguf %v, dat %v", stem, e.Name, i, i/e.NPerRow, wg[i], wd[i])
				}
			}
		}
	}
}

// TestWriteLikeLlama writes what was read and compares bytes with the file
// llama-imatrix wrote: GGUF from GGUF, .dat from GGUF (the same state
// saved in the legacy format) and .dat from .dat.
func TestWriteLikeLlama(t *testing.T) {
	dir := t.TempDir()
	for _, stem := range []string{"tiny-mixtral", "tiny-mixtral.partial"} {
		g, err := Read(fixture(t, stem+".imatrix.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, stem+".gguf")
		if err := g.WriteGGUF(out); err != nil {
			t.Fatal(err)
		}
		sameBytes(t, out, fixture(t, stem+".imatrix.gguf"))

		out = filepath.Join(dir, stem+".dat")
		if err := g.WriteDat(out); err != nil {
			t.Fatal(err)
		}
		sameBytes(t, out, fixture(t, stem+".imatrix.dat"))

		d, err := Read(fixture(t, stem+".imatrix.dat"))
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(dir, stem+".dat2")
		if err := d.WriteDat(out); err != nil {
			t.Fatal(err)
		}
		sameBytes(t, out, fixture(t, stem+".imatrix.dat"))
		if err := d.WriteGGUF(out); err == nil {
			t.Error("WriteGGUF of a legacy matrix succeeded")
		}
	}
}

func sameBytes(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Errorf("%s differs from %s (%d vs %d bytes) from byte %d", got, filepath.Base(want), len(a), len(b), i)
	}
}

// TestUnroutedExpert covers the partial matrix: layer 1's expert 0 got no
// token. llama-quantize gives its columns weight 1; FillUnrouted gives it
// the pooled mean of the other experts and records it.
func TestUnroutedExpert(t *testing.T) {
	m, err := Read(fixture(t, "tiny-mixtral.partial.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	want := []ExpertRef{{"blk.1.ffn_down_exps.weight", 0}, {"blk.1.ffn_gate_exps.weight", 0}, {"blk.1.ffn_up_exps.weight", 0}}
	if got := m.Unrouted(); !slices.Equal(got, want) {
		t.Fatalf("Unrouted = %v, want %v", got, want)
	}
	w, _, err := m.Weights("blk.1.ffn_up_exps.weight", 256, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range w[:256] {
		if v != 1 {
			t.Fatalf("unrouted expert weight %d = %v, want 1", i, v)
		}
	}
	e, _ := m.Lookup("blk.1.ffn_up_exps.weight")
	var sum0 float64
	var tokens float64
	for j := 1; j < 8; j++ {
		sum0 += float64(e.InSum2[j*256])
		tokens += float64(e.Counts[j])
	}
	if got := m.FillUnrouted(); !slices.Equal(got, want) || !slices.Equal(m.Filled, want) {
		t.Fatalf("FillUnrouted = %v (Filled %v), want %v", got, m.Filled, want)
	}
	if len(m.Unrouted()) != 0 {
		t.Fatalf("still unrouted after filling: %v", m.Unrouted())
	}
	w, _, _ = m.Weights("blk.1.ffn_up_exps.weight", 256, 8)
	if mean := float32(sum0 / tokens); w[0] != mean || e.Counts[0] != 1 {
		t.Errorf("filled expert weight %v count %v, want the pooled mean %v with count 1", w[0], e.Counts[0], mean)
	}
	// The filled list survives a round trip through the GGUF format.
	out := filepath.Join(t.TempDir(), "filled.gguf")
	if err := m.WriteGGUF(out); err != nil {
		t.Fatal(err)
	}
	back, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Filled, want) {
		t.Errorf("filled list read back as %v", back.Filled)
	}
}

// TestWeightsLookup covers a missing entry (quantized without weights, as
// llama-quantize does) and a size mismatch (an error naming the entry).
func TestWeightsLookup(t *testing.T) {
	m, err := Read(fixture(t, "tiny-mixtral.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if w, ok, err := m.Weights("output.weight", 256, 1); ok || err != nil || w != nil {
		t.Errorf("missing entry: %v %v %v", w, ok, err)
	}
	for _, c := range []struct{ nPerRow, nMat int }{{512, 8}, {256, 1}, {0, 8}, {2048, 1}} {
		_, ok, err := m.Weights("blk.0.ffn_gate_exps.weight", c.nPerRow, c.nMat)
		if c.nPerRow == 2048 {
			// llama-quantize compares the total size only.
			if err != nil {
				t.Errorf("%d × %d: %v", c.nMat, c.nPerRow, err)
			}
			continue
		}
		if !ok || err == nil || !strings.Contains(err.Error(), "blk.0.ffn_gate_exps.weight") {
			t.Errorf("%d × %d: ok %v, err %v; want an error naming the entry", c.nMat, c.nPerRow, ok, err)
		}
	}
}

func TestExpertWeightsAndCheckModel(t *testing.T) {
	m, err := Read(fixture(t, "tiny-mixtral.partial.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := m.Weights("blk.1.ffn_down_exps.weight", 512, 8)
	for e := range 8 {
		w, ok, err := m.ExpertWeights("blk.1.ffn_down_exps.weight", e, 512, 8)
		if !ok || err != nil || !slices.Equal(w, all[e*512:(e+1)*512]) {
			t.Fatalf("expert %d: %v %v", e, ok, err)
		}
	}
	if _, _, err := m.ExpertWeights("blk.1.ffn_down_exps.weight", 8, 512, 8); err == nil {
		t.Error("expert 8 of 8 accepted")
	}
	var shapes []TensorShape
	for l := range 2 {
		for _, s := range []TensorShape{{"attn_q", 256, 1}, {"attn_k", 256, 1}, {"attn_v", 256, 1}, {"attn_output", 256, 1},
			{"ffn_gate_inp", 256, 1}, {"ffn_gate_exps", 256, 8}, {"ffn_up_exps", 256, 8}, {"ffn_down_exps", 512, 8}} {
			s.Name = "blk." + strconv.Itoa(l) + "." + s.Name + ".weight"
			shapes = append(shapes, s)
		}
	}
	shapes = append(shapes, TensorShape{"output.weight", 256, 1})
	if err := m.CheckModel(shapes); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckModel(shapes[8:]); err == nil || !strings.Contains(err.Error(), `"blk.0.`) {
		t.Errorf("a model without layer 0: %v", err)
	}
	shapes[7].NPerRow = 1024
	if err := m.CheckModel(shapes); err == nil || !strings.Contains(err.Error(), `"blk.0.ffn_down_exps.weight" has 4096 values`) {
		t.Errorf("a wider ffn_down: %v", err)
	}
}

func TestQuantizeMetadata(t *testing.T) {
	m, err := Read(fixture(t, "tiny-mixtral.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	kv := m.QuantizeMetadata("tiny-mixtral.imatrix.gguf")
	got := map[string]string{}
	var keys []string
	for _, p := range kv {
		got[p.Key] = p.Value.String()
		keys = append(keys, p.Key)
	}
	// As llama-quantize wrote them into tiny-mixtral.imatrix.Q4_K_M.gguf.
	want := map[string]string{
		KeyQuantizeFile: `"tiny-mixtral.imatrix.gguf"`, KeyQuantizeDataset: `"ids.txt"`,
		KeyQuantizeEntriesCount: "16", KeyQuantizeChunksCount: "4",
	}
	if len(got) != len(want) {
		t.Fatalf("keys %v", keys)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	long := strings.Repeat("x", 300)
	if s, _ := m.QuantizeMetadata(long)[0].Value.AsString(); len(s) != 127 {
		t.Errorf("file name kept %d bytes, want 127", len(s))
	}
}
