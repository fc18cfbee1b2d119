package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
)

// memSink is an in-memory Sink.
type memSink struct {
	mu  sync.Mutex
	buf []byte
}

func (m *memSink) Truncate(size int64) error { m.buf = make([]byte, size); return nil }
func (m *memSink) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(m.buf[off:], p), nil
}
func (m *memSink) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off+int64(len(p)) > int64(len(m.buf)) {
		return 0, io.ErrUnexpectedEOF
	}
	return copy(p, m.buf[off:]), nil
}

// Whatever order and concurrency the pieces of a file are written in, the
// digest is that of the whole file, whether the pieces ahead of the hash
// are all held or (with a small limit) some are read back; a byte written
// twice or never is an error, not a wrong digest.
func TestOrderedDigest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 100 {
		size := rng.IntN(1 << 16)
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var cuts []int
		for off := 0; off < size; off += 1 + rng.IntN(4096) {
			cuts = append(cuts, off)
		}
		cuts = append(cuts, size)
		order := rng.Perm(len(cuts) - 1)
		sink := &memSink{}
		sink.Truncate(int64(size))
		d := newOrderedDigest(sink)
		if trial%2 == 1 {
			d.limit = int64(rng.IntN(3 << 12))
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for k := w; k < len(order); k += 4 {
					i := order[k]
					d.WriteAt(data[cuts[i]:cuts[i+1]], int64(cuts[i]))
				}
			})
		}
		wg.Wait()
		got, err := d.Sum(int64(size))
		want := sha256.Sum256(data)
		if err != nil || got != hex.EncodeToString(want[:]) {
			t.Fatalf("trial %d (%d bytes, %d writes): digest %s, error %v; want %x", trial, size, len(order), got, err, want)
		}
		if d.holds != 0 {
			t.Fatalf("trial %d: %d bytes still counted as held", trial, d.holds)
		}
	}
	d := newOrderedDigest(&memSink{buf: make([]byte, 8)})
	d.WriteAt([]byte{1, 2, 3, 4}, 0)
	d.WriteAt([]byte{1, 2}, 2)
	if _, err := d.Sum(8); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a byte written twice: error %v", err)
	}
	d = newOrderedDigest(&memSink{buf: make([]byte, 8)})
	d.WriteAt([]byte{1, 2, 3, 4}, 4)
	if _, err := d.Sum(8); err == nil {
		t.Error("bytes never written: no error")
	}
}

// The report's sha256 is that of the bytes on disk, for every type and
// worker count.
func TestGGUFDigestIsOfTheFile(t *testing.T) {
	src := openTiny(t)
	for _, tc := range []struct {
		ft      ggml.FileType
		workers int
	}{{ggml.FileTypeAllF32, 1}, {ggml.FileTypeAllF32, 3}, {ggml.FileTypeQ8_0, 2}, {ggml.FileTypeQ4_K_M, 2}} {
		p, err := PlanGGUF(src, GGUFOptions{FileType: tc.ft, Workers: tc.workers})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.gguf")
		r, err := p.Write(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if len(r.Files) != 1 || r.Files[0].SHA256 != hex.EncodeToString(sum[:]) || r.Files[0].Bytes != int64(len(data)) {
			t.Errorf("%s, %d workers: report %+v, file %d bytes sha256 %x", tc.ft, tc.workers, r.Files, len(data), sum)
		}
	}
}

// A safetensors folder's report lists every file in it, each with the size
// and sha256 of the bytes on disk (computed while writing, so re-read
// here): 16-bit and every integer layout, one shard and several, a source
// folder (side files copied) and a GGUF (tokenizer files made), with a
// hold limit small enough that some pieces are read back.
func TestSafetensorsDigestsAreOfTheFiles(t *testing.T) {
	gg := stTinyGGUF(t, ggml.FileTypeAllF32)
	for _, tc := range []struct {
		name string
		src  string
		opts SafetensorsOptions
	}{
		{"bf16", tinyDir, SafetensorsOptions{Bits: 16}},
		{"f32 shards", tinyDir, SafetensorsOptions{Bits: 16, DType: "F32", ShardSize: 1 << 20, Workers: 3}},
		{"ct4", tinyDir, SafetensorsOptions{Bits: 4, ShardSize: 1 << 20, Workers: 2}},
		{"ct8 g32", tinyDir, SafetensorsOptions{Bits: 8, GroupSize: 32}},
		{"gptq", tinyDir, SafetensorsOptions{Bits: 4, Layout: LayoutGPTQ, ShardSize: 1 << 20}},
		{"mlx", tinyDir, SafetensorsOptions{Bits: 4, Layout: LayoutMLX, ShardSize: 1 << 20, Workers: 2}},
		{"gguf", gg, SafetensorsOptions{Bits: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			was := holdLimit
			holdLimit = 4 << 10
			defer func() { holdLimit = was }()
			out, r := stWrite(t, stOpen(t, tc.src), tc.opts)
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(r.Files) {
				t.Fatalf("%d files in the folder, %d in the report", len(entries), len(r.Files))
			}
			for i, e := range entries {
				f := r.Files[i]
				data, err := os.ReadFile(filepath.Join(out, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				if f.Path != filepath.Join(out, e.Name()) || f.Bytes != int64(len(data)) || f.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("report %+v; file %s: %d bytes, sha256 %x", f, e.Name(), len(data), sum)
				}
			}
		})
	}
}
