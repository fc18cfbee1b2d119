package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// A hand-rolled encoder, independent of the package's writer, so that it
// can produce files the writer refuses to make.

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func gstr(s string) []byte { return append(le64(uint64(len(s))), s...) }
func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

func kvRaw(key string, typ uint32, payload ...[]byte) []byte {
	return cat(gstr(key), le32(typ), cat(payload...))
}
func kvU32(key string, v uint32) []byte { return kvRaw(key, 4, le32(v)) }
func kvStr(key, s string) []byte        { return kvRaw(key, 8, gstr(s)) }

type rawTensor struct {
	name string
	dims []uint64
	typ  uint32
	off  uint64
}

type rawFile struct {
	magic    string
	version  uint32
	nT, nKV  *uint64 // counts to claim; nil for the real ones
	kvs      [][]byte
	tensors  []rawTensor
	align    uint64
	dataSize int
}

// marks are the offsets where each KV and tensor info starts, and where
// the infos end.
type marks struct {
	kv, tensor []int64
	infoEnd    int64
}

func (r rawFile) bytes() ([]byte, marks) {
	var m marks
	b := []byte(r.magic)
	b = append(b, le32(r.version)...)
	nT, nKV := uint64(len(r.tensors)), uint64(len(r.kvs))
	if r.nT != nil {
		nT = *r.nT
	}
	if r.nKV != nil {
		nKV = *r.nKV
	}
	b = cat(b, le64(nT), le64(nKV))
	for _, kv := range r.kvs {
		m.kv = append(m.kv, int64(len(b)))
		b = append(b, kv...)
	}
	for _, t := range r.tensors {
		m.tensor = append(m.tensor, int64(len(b)))
		b = cat(b, gstr(t.name), le32(uint32(len(t.dims))))
		for _, d := range t.dims {
			b = append(b, le64(d)...)
		}
		b = cat(b, le32(t.typ), le64(t.off))
	}
	m.infoEnd = int64(len(b))
	for uint64(len(b))%r.align != 0 {
		b = append(b, 0)
	}
	for i := range r.dataSize {
		b = append(b, byte(i))
	}
	return b, m
}

// baseFile is valid: two KVs, an F32 tensor of 32 bytes and a Q4_0 tensor
// of 36 bytes padded to 64.
func baseFile() rawFile {
	return rawFile{
		magic:   "GGUF",
		version: 3,
		kvs: [][]byte{
			kvStr("general.architecture", "llama"),
			kvRaw("tokenizer.ggml.tokens", 9, le32(8), le64(2), gstr("<unk>"), gstr("<s>")),
		},
		tensors: []rawTensor{
			{"tensor.alpha", []uint64{8}, 0, 0},
			{"tensor.beta", []uint64{32, 2}, 2, 32},
		},
		align:    32,
		dataSize: 96,
	}
}

func ptr(v uint64) *uint64 { return &v }

func noTensors(r *rawFile) { r.tensors, r.dataSize = nil, 0 }

type badCase struct {
	name string
	// mod changes the base file; raw, if set, then edits its bytes.
	mod    func(r *rawFile)
	raw    func(b []byte, m marks) []byte
	err    error // ErrFormat or ErrUnsupported
	msg    string
	key    string
	tensor string
	at     func(m marks) int64 // expected FormatError.Offset
}

func at(off int64) func(marks) int64 { return func(marks) int64 { return off } }
func atKV(i int, delta int64) func(marks) int64 {
	return func(m marks) int64 { return m.kv[i] + delta }
}
func atTensor(i int, delta int64) func(marks) int64 {
	return func(m marks) int64 { return m.tensor[i] + delta }
}

// cut truncates the file n bytes after the mark chosen by pos.
func cut(pos func(marks) int64, n int64) func(b []byte, m marks) []byte {
	return func(b []byte, m marks) []byte { return b[:pos(m)+n] }
}

func setKV(i int, kv []byte) func(r *rawFile) { return func(r *rawFile) { r.kvs[i] = kv } }
func addKV(kv []byte) func(r *rawFile)        { return func(r *rawFile) { r.kvs = append(r.kvs, kv) } }
func setTensor(i int, f func(t *rawTensor)) func(r *rawFile) {
	return func(r *rawFile) { f(&r.tensors[i]) }
}

func badCases() []badCase {
	const keyLen = 8 + 20 // gstr("general.architecture")
	// In KV 1 (tokens): key, type, element type, count, then the strings.
	tokCount := int64(8 + 21 + 4 + 4)
	return []badCase{
		{name: "empty file", raw: func([]byte, marks) []byte { return nil },
			err: ErrFormat, msg: "truncated: magic needs 4 bytes, 0 left", at: at(0)},
		{name: "bad magic", raw: func(b []byte, _ marks) []byte { return append([]byte("GGML"), b[4:]...) },
			err: ErrFormat, msg: `bad magic "GGML"`, at: at(0)},
		{name: "legacy ggjt", raw: func(b []byte, _ marks) []byte { return append([]byte("tjgg"), b[4:]...) },
			err: ErrUnsupported, msg: "legacy pre-GGUF", at: at(0)},
		{name: "big-endian magic", raw: func(b []byte, _ marks) []byte { return append([]byte("FUGG"), b[4:]...) },
			err: ErrUnsupported, msg: "big-endian", at: at(0)},
		{name: "big-endian version", mod: func(r *rawFile) { r.version = 0x03000000 },
			err: ErrUnsupported, msg: "version 50331648 (0x3000000): the file is big-endian", at: at(4)},
		{name: "version 1", mod: func(r *rawFile) { r.version = 1 },
			err: ErrUnsupported, msg: "GGUF version 1, only versions 2 and 3", at: at(4)},
		{name: "version 4", mod: func(r *rawFile) { r.version = 4 },
			err: ErrUnsupported, msg: "GGUF version 4", at: at(4)},
		{name: "version 0", mod: func(r *rawFile) { r.version = 0 },
			err: ErrFormat, msg: "bad version 0", at: at(4)},

		{name: "truncated in version", raw: cut(at(0), 6),
			err: ErrFormat, msg: "truncated: version needs 4 bytes, 2 left", at: at(4)},
		{name: "truncated in tensor count", raw: cut(at(0), 12),
			err: ErrFormat, msg: "truncated: tensor count", at: at(8)},
		{name: "truncated in metadata count", raw: cut(at(0), 20),
			err: ErrFormat, msg: "truncated: metadata count", at: at(16)},
		{name: "truncated in key", mod: noTensors, raw: cut(atKV(1, 0), 12),
			err: ErrFormat, msg: "key length 21 exceeds the 4 bytes left", at: atKV(1, 0)},
		{name: "truncated in value type", mod: noTensors, raw: cut(atKV(1, 0), 31),
			err: ErrFormat, msg: "truncated: value type needs 4 bytes, 2 left", key: "tokenizer.ggml.tokens", at: atKV(1, 29)},
		{name: "truncated in string array", raw: cut(atKV(1, 0), tokCount+8+13+8+1),
			err: ErrFormat, msg: "string element length 3 exceeds the 1 bytes left", key: "tokenizer.ggml.tokens", at: atKV(1, tokCount+8+13)},
		{name: "truncated in tensor info", raw: cut(atTensor(1, 0), 8+11+4+4),
			err: ErrFormat, msg: "truncated: dimension needs 8 bytes, 4 left", tensor: "tensor.beta", at: atTensor(1, 8+11+4)},
		{name: "truncated before data", raw: cut(func(m marks) int64 { return m.infoEnd }, 0),
			err: ErrFormat, msg: "data section would start at byte", at: func(m marks) int64 { return m.infoEnd }},
		{name: "truncated in data", raw: func(b []byte, _ marks) []byte { return b[:len(b)-60] },
			err: ErrFormat, msg: "extends past the end", tensor: "tensor.beta", at: atTensor(1, 0)},

		{name: "tensor count larger than file", mod: func(r *rawFile) { r.nT = ptr(1 << 40) },
			err: ErrFormat, msg: "1099511627776 tensors and 2 metadata pairs cannot fit", at: at(8)},
		{name: "metadata count larger than file", mod: func(r *rawFile) { r.nKV = ptr(1<<64 - 1) },
			err: ErrFormat, msg: "cannot fit", at: at(8)},
		{name: "key length larger than file", mod: setKV(0, cat(le64(1<<40), []byte("general"))),
			err: ErrFormat, msg: "key length 1099511627776 exceeds the", at: atKV(0, 0)},
		{name: "string value length larger than file", mod: setKV(0, kvRaw("general.architecture", 8, le64(1<<62))),
			err: ErrFormat, msg: "string value length 4611686018427387904 exceeds the", key: "general.architecture", at: atKV(0, keyLen+4)},
		{name: "array count larger than file", mod: setKV(1, kvRaw("tokenizer.ggml.tokens", 9, le32(8), le64(1<<20), gstr("<unk>"))),
			err: ErrFormat, msg: "array of 1048576 string needs at least 8388608 bytes", key: "tokenizer.ggml.tokens", at: atKV(1, tokCount)},
		{name: "tensor name length larger than file", mod: setTensor(1, func(t *rawTensor) { t.name = "" }),
			raw: func(b []byte, m marks) []byte { copy(b[m.tensor[1]:], le64(1<<50)); return b },
			err: ErrFormat, msg: "tensor name length 1125899906842624 exceeds the", at: atTensor(1, 0)},

		{name: "unknown value type", mod: addKV(kvRaw("x", 13, le32(1))),
			err: ErrFormat, msg: "unknown value type 13", key: "x", at: atKV(2, 9)},
		{name: "nested array", mod: addKV(kvRaw("x", 9, le32(9), le64(1), le32(0), le64(0))),
			err: ErrFormat, msg: "nested arrays are not supported", key: "x", at: atKV(2, 13)},
		{name: "unknown array element type", mod: addKV(kvRaw("x", 9, le32(77), le64(0))),
			err: ErrFormat, msg: "unknown array element type 77", key: "x", at: atKV(2, 13)},
		{name: "bad bool", mod: addKV(kvRaw("x", 7, []byte{2})),
			err: ErrFormat, msg: "bool value is 2, not 0 or 1", key: "x", at: atKV(2, 13)},
		{name: "bad bool in array", mod: addKV(kvRaw("x", 9, le32(7), le64(3), []byte{1, 0, 255})),
			err: ErrFormat, msg: "bool element 2 is 255", key: "x", at: atKV(2, 13+12+2)},
		{name: "duplicate key", mod: addKV(kvStr("general.architecture", "gpt2")),
			err: ErrFormat, msg: "duplicate key", key: "general.architecture", at: atKV(2, 0)},
		{name: "empty key", mod: addKV(kvU32("", 1)),
			err: ErrFormat, msg: "key 2 is empty", at: atKV(2, 0)},
		{name: "alignment not power of two", mod: addKV(kvU32("general.alignment", 48)),
			err: ErrFormat, msg: "alignment 48 is not a power of two", key: "general.alignment", at: atKV(2, 0)},
		{name: "alignment zero", mod: addKV(kvU32("general.alignment", 0)),
			err: ErrFormat, msg: "alignment 0 is not a power of two", key: "general.alignment", at: atKV(2, 0)},
		{name: "alignment wrong type", mod: addKV(kvRaw("general.alignment", 10, le64(32))),
			err: ErrFormat, msg: "must be of type uint32, not uint64", key: "general.alignment", at: atKV(2, 0)},

		{name: "name longer than 63 bytes", mod: setTensor(0, func(t *rawTensor) { t.name = strings.Repeat("x", 64) }),
			err: ErrFormat, msg: "name is 64 bytes, ggml allows at most 63", tensor: strings.Repeat("x", 64), at: atTensor(0, 0)},
		{name: "duplicate tensor name", mod: setTensor(1, func(t *rawTensor) { t.name = "tensor.alpha" }),
			err: ErrFormat, msg: "duplicate tensor name", tensor: "tensor.alpha", at: atTensor(1, 0)},
		{name: "five dimensions", mod: setTensor(1, func(t *rawTensor) { t.dims = []uint64{32, 1, 1, 1, 2} }),
			err: ErrFormat, msg: "5 dimensions, ggml allows at most 4", tensor: "tensor.beta", at: atTensor(1, 8+11)},
		{name: "negative dimension", mod: setTensor(0, func(t *rawTensor) { t.dims = []uint64{8, 1 << 63} }),
			err: ErrFormat, msg: "dimension 1 is 9223372036854775808, negative", tensor: "tensor.alpha", at: atTensor(0, 0)},
		{name: "element count overflow", mod: setTensor(0, func(t *rawTensor) { t.dims = []uint64{1 << 32, 1 << 20, 1 << 11} }),
			err: ErrFormat, msg: "overflows int64", tensor: "tensor.alpha", at: atTensor(0, 0)},
		{name: "row not a block multiple", mod: setTensor(1, func(t *rawTensor) { t.dims = []uint64{33, 2} }),
			err: ErrFormat, msg: "Q4_0 rows of 33 elements are not a multiple of the block size 32", tensor: "tensor.beta", at: atTensor(1, 0)},
		{name: "removed tensor type", mod: setTensor(1, func(t *rawTensor) { t.typ = 4 }),
			err: ErrFormat, msg: "unknown ggml type 4", tensor: "tensor.beta", at: atTensor(1, 0)},
		{name: "tensor type out of range", mod: setTensor(1, func(t *rawTensor) { t.typ = 1000 }),
			err: ErrFormat, msg: "unknown ggml type 1000", tensor: "tensor.beta", at: atTensor(1, 0)},
		{name: "first offset not zero", mod: setTensor(0, func(t *rawTensor) { t.off = 32 }),
			err: ErrFormat, msg: "data offset 32, expected 0", tensor: "tensor.alpha", at: atTensor(0, 0)},
		{name: "misaligned offset", mod: setTensor(1, func(t *rawTensor) { t.off = 40 }),
			err: ErrFormat, msg: "data offset 40 is not a multiple of the alignment 32", tensor: "tensor.beta", at: atTensor(1, 0)},
		{name: "gap between tensors", mod: setTensor(1, func(t *rawTensor) { t.off = 64 }),
			err: ErrFormat, msg: "data offset 64, expected 32: tensor data must be contiguous", tensor: "tensor.beta", at: atTensor(1, 0)},
		{name: "tensors out of order", mod: func(r *rawFile) { r.tensors[0].off, r.tensors[1].off = 64, 0 },
			err: ErrFormat, msg: "data offset 64, expected 0", tensor: "tensor.alpha", at: atTensor(0, 0)},
		{name: "data past end of file", mod: setTensor(1, func(t *rawTensor) { t.dims = []uint64{32, 4} }),
			err: ErrFormat, msg: "data [", tensor: "tensor.beta", at: atTensor(1, 0)},
	}
}

func (c badCase) input() ([]byte, marks) {
	r := baseFile()
	if c.mod != nil {
		c.mod(&r)
	}
	b, m := r.bytes()
	if c.raw != nil {
		b = c.raw(b, m)
	}
	return b, m
}

func TestBaseFileIsValid(t *testing.T) {
	b, _ := baseFile().bytes()
	f, err := NewFile(bytes.NewReader(b), int64(len(b)), "base.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 2 || f.Tensors[1].Size() != 36 || f.DataOffset+96 != int64(len(b)) {
		t.Fatalf("%+v", f)
	}
	// Version 2 has the same layout and is accepted.
	r := baseFile()
	r.version = 2
	b, _ = r.bytes()
	if f, err := NewFile(bytes.NewReader(b), int64(len(b)), "v2.gguf"); err != nil || f.Version != 2 {
		t.Fatalf("v2: %v", err)
	}
	// Only the last tensor's bytes must be present, not its padding.
	r = baseFile()
	r.dataSize = 32 + 36
	b, _ = r.bytes()
	if _, err := NewFile(bytes.NewReader(b), int64(len(b)), "short-pad.gguf"); err != nil {
		t.Fatalf("unpadded last tensor: %v", err)
	}
}

func TestNewFileBadInput(t *testing.T) {
	for _, tc := range badCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, m := tc.input()
			_, err := NewFile(bytes.NewReader(b), int64(len(b)), "bad.gguf")
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FormatError", err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v does not wrap %v", err, tc.err)
			}
			if tc.err == ErrFormat && errors.Is(err, ErrUnsupported) || tc.err == ErrUnsupported && errors.Is(err, ErrFormat) {
				t.Errorf("error %v wraps both sentinels", err)
			}
			if !strings.Contains(fe.Msg, tc.msg) || fe.Key != tc.key || fe.Tensor != tc.tensor || fe.File != "bad.gguf" {
				t.Errorf("got %q (key %q, tensor %q, file %q); want msg with %q, key %q, tensor %q",
					fe.Msg, fe.Key, fe.Tensor, fe.File, tc.msg, tc.key, tc.tensor)
			}
			if want := tc.at(m); fe.Offset != want {
				t.Errorf("offset %d, want %d (%v)", fe.Offset, want, err)
			}
			if s := err.Error(); strings.Contains(s, "\n") || !strings.HasPrefix(s, "gguf: bad.gguf: byte ") {
				t.Errorf("error text %q", s)
			}
		})
	}
}

// A reader that is shorter than the size it was opened with, or failing,
// gives an error, not a panic or a silent success.
func TestNewFileShortReader(t *testing.T) {
	b, _ := baseFile().bytes()
	_, err := NewFile(bytes.NewReader(b[:50]), int64(len(b)), "short.gguf")
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "past the readable data") {
		t.Fatalf("got %v", err)
	}
	_, err = NewFile(bytes.NewReader(b), -1, "neg.gguf")
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("negative size: %v", err)
	}
	_, err = NewFile(failingReader{}, 100, "io.gguf")
	var fe *FormatError
	if !errors.Is(err, errDisk) || errors.As(err, &fe) {
		t.Fatalf("I/O error: %v", err)
	}
}

var errDisk = errors.New("disk on fire")

type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errDisk }

// ggml's 1 GiB limits on strings and arrays apply even when the file is big
// enough; a zero-extended reader stands in for a huge file.
func TestNewFileGGMLLimits(t *testing.T) {
	const huge = 3 << 30
	tests := []struct {
		name string
		kv   []byte
		want string
	}{
		{"string", kvRaw("s", 8, le64(1<<30+1)), "string length 1073741825 exceeds ggml's limit of 1073741824"},
		{"array", kvRaw("a", 9, le32(0), le64(1<<30+1)), "array of 1073741825 elements exceeds ggml's limit"},
	}
	for _, tc := range tests {
		r := rawFile{magic: "GGUF", version: 3, kvs: [][]byte{tc.kv}, align: 1}
		b, _ := r.bytes()
		_, err := NewFile(zeroExtended(b), huge, "huge.gguf")
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(fe.Msg, tc.want) || fe.Key == "" {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// zeroExtended reads as b followed by zeros.
type zeroExtended []byte

func (z zeroExtended) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(z)) {
		copy(p, z[off:])
	}
	return len(p), nil
}
