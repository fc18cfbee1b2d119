package gguf

import (
	"reflect"
	"strings"
	"testing"

	parser "github.com/gpustack/gguf-parser-go"
)

// An independent GGUF reader (gpustack/gguf-parser-go, with its own type
// table) must see in our written files exactly what we meant to write, and
// the placement ggml demands: data section at the padded end of the infos,
// tensors contiguous in info order, each blob padded to the alignment.
func TestIndependentParserReadsWrittenFile(t *testing.T) {
	for _, align := range []uint32{32, 64} {
		kv := allKVs()
		if align != DefaultAlignment {
			kv = append(kv, KV{KeyAlignment, Uint32(align)})
		}
		l := mustLayout(t, kv, testTensors(), align)
		path := tempPath(t, "indep.gguf")
		writeSequential(t, path, l)

		pf, err := parser.ParseGGUFFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if pf.Header.Version != parser.GGUFVersionV3 || pf.Header.Magic != parser.GGUFMagicGGUFLe {
			t.Errorf("header %+v", pf.Header)
		}
		if pf.TensorDataStartOffset != l.DataOffset() || int64(pf.Size) != l.Size() {
			t.Errorf("data offset %d, size %d; want %d, %d", pf.TensorDataStartOffset, pf.Size, l.DataOffset(), l.Size())
		}
		if pf.TensorDataStartOffset%int64(align) != 0 {
			t.Errorf("data section at %d is not aligned to %d", pf.TensorDataStartOffset, align)
		}
		compareKVs(t, kv, pf.Header.MetadataKV)

		want := l.Tensors()
		if len(pf.TensorInfos) != len(want) {
			t.Fatalf("%d tensor infos, want %d", len(pf.TensorInfos), len(want))
		}
		var running uint64
		for i, ti := range pf.TensorInfos {
			w := want[i]
			if ti.Name != w.Name || !reflect.DeepEqual(ti.Dimensions, w.Dims) || uint32(ti.Type) != uint32(w.Type) || ti.Offset != w.Offset {
				t.Errorf("tensor %d: parser sees %s %v %v @%d, want %s %v %v @%d",
					i, ti.Name, ti.Dimensions, ti.Type, ti.Offset, w.Name, w.Dims, w.Type, w.Offset)
			}
			// Sizes from the parser's own type table.
			if ti.Offset != running {
				t.Errorf("%s at %d, ggml expects %d", ti.Name, ti.Offset, running)
			}
			size := ti.Bytes()
			if size != w.Size() {
				t.Errorf("%s: parser size %d, ours %d", ti.Name, size, w.Size())
			}
			running += (size + uint64(align) - 1) / uint64(align) * uint64(align)
		}
		if int64(running) != l.Size()-l.DataOffset() {
			t.Errorf("data section %d bytes by the parser, %d by the layout", running, l.Size()-l.DataOffset())
		}
	}
}

// The parser and our reader agree on every value of the real files.
func TestIndependentParserAgreesOnVocabFiles(t *testing.T) {
	for _, name := range []string{"testdata/ggml-vocab-llama-spm.gguf", "testdata/ggml-vocab-gpt-2.gguf"} {
		f, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		pf, err := parser.ParseGGUFFile(name)
		if err != nil {
			t.Fatal(err)
		}
		compareKVs(t, f.KV, pf.Header.MetadataKV)
	}
}

func compareKVs(t *testing.T, ours []KV, theirs parser.GGUFMetadataKVs) {
	t.Helper()
	if len(theirs) != len(ours) {
		t.Fatalf("parser sees %d KVs, want %d", len(theirs), len(ours))
	}
	for i, p := range theirs {
		o := ours[i]
		if p.Key != o.Key || uint32(p.ValueType) != uint32(o.Value.Type) {
			t.Errorf("KV %d: parser sees %q %v, want %q %v", i, p.Key, p.ValueType, o.Key, o.Value.Type)
			continue
		}
		if o.Value.Type != TypeArray {
			if !reflect.DeepEqual(p.Value, trimmed(o.Value.V)) {
				t.Errorf("%s: parser sees %#v, want %#v", o.Key, p.Value, o.Value.V)
			}
			continue
		}
		av := p.ValueArray()
		n := arrayLen(o.Value.V)
		if uint32(av.Type) != uint32(o.Value.ArrayType) || av.Len != uint64(n) || len(av.Array) != n {
			t.Errorf("%s: parser sees array of %d %v, want %d %v", o.Key, av.Len, av.Type, n, o.Value.ArrayType)
			continue
		}
		for j := range n {
			if e := trimmed(elemAt(o.Value.V, j)); !reflect.DeepEqual(av.Array[j], e) {
				t.Errorf("%s[%d]: parser sees %#v, want %#v", o.Key, j, av.Array[j], e)
				break
			}
		}
	}
}

// trimmed mirrors the parser, which returns strings with surrounding white
// space removed (the GPT-2 vocabulary has tokens such as ";\r"); our reader
// keeps the exact bytes, as TestRewriteVocabFilesByteIdentical shows.
func trimmed(x any) any {
	if s, ok := x.(string); ok {
		return strings.TrimSpace(s)
	}
	return x
}
