package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const tinyDir = "../../testdata/tiny-mixtral"

// rawFile assembles a file from a literal JSON header and data bytes,
// without the writer, so tests can express malformed headers.
func rawFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

// readHeader returns the first 8+N bytes of a safetensors file on disk.
func readHeader(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data)
	return data[:8+n]
}

func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFormatErr asserts err is a one-line *FormatError naming every want.
func checkFormatErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want one mentioning %q", wants)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
	if !errorsIsFormat(err) {
		t.Errorf("errors.Is(%v, ErrFormat) = false", err)
	}
}

// mixtral8x7bShape gives the shape of a Mixtral-8x7B tensor from its name
// (hidden 4096, intermediate 14336, 8 KV heads of 128, 8 experts, vocab
// 32000), enough to rebuild the real checkpoint's headers.
func mixtral8x7bShape(name string) []int64 {
	const h, inter, kv, experts, vocab = 4096, 14336, 1024, 8, 32000
	switch {
	case name == "model.embed_tokens.weight", name == "lm_head.weight":
		return []int64{vocab, h}
	case strings.HasSuffix(name, "norm.weight"):
		return []int64{h}
	case strings.HasSuffix(name, "q_proj.weight"), strings.HasSuffix(name, "o_proj.weight"):
		return []int64{h, h}
	case strings.HasSuffix(name, "k_proj.weight"), strings.HasSuffix(name, "v_proj.weight"):
		return []int64{kv, h}
	case strings.HasSuffix(name, "block_sparse_moe.gate.weight"):
		return []int64{experts, h}
	case strings.HasSuffix(name, ".w1.weight"), strings.HasSuffix(name, ".w3.weight"):
		return []int64{inter, h}
	case strings.HasSuffix(name, ".w2.weight"):
		return []int64{h, inter}
	}
	return nil
}

// buildFile lays out tensors with the writer and fills each with the bytes
// 0, 1, 2, ... (mod 251), returning the whole file.
func buildFile(t testing.TB, meta map[string]string, tensors []TensorInfo) []byte {
	t.Helper()
	l, err := NewLayout(meta, tensors)
	if err != nil {
		t.Fatal(err)
	}
	out := l.Header()
	for i := int64(0); i < l.Size()-l.DataOffset(); i++ {
		out = append(out, byte(i%251))
	}
	return out
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func itoa(i int) string { return strconv.Itoa(i) }

func cmpString(a, b string) int { return strings.Compare(a, b) }

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
