package tokenizer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseModelMixtral(t *testing.T) {
	m, err := OpenModel(filepath.Join(mixtralDir, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pieces) != 32000 {
		t.Fatalf("%d pieces, want 32000", len(m.Pieces))
	}
	want := map[int]Piece{
		0:   {"<unk>", 0, TypeUnknown},
		1:   {"<s>", 0, TypeControl},
		2:   {"</s>", 0, TypeControl},
		259: {"▁▁", -1e9, TypeNormal},
		261: {"▁t", -2, TypeNormal},
	}
	for id, p := range want {
		if m.Pieces[id] != p {
			t.Errorf("piece %d = %+v, want %+v", id, m.Pieces[id], p)
		}
	}
	for b := 0; b < 256; b++ {
		if p := m.Pieces[3+b]; p.Piece != BytePiece(byte(b)) || p.Type != TypeByte {
			t.Fatalf("piece %d = %+v, want byte piece %s", 3+b, p, BytePiece(byte(b)))
		}
	}
	wantTrainer := TrainerSpec{ModelType: ModelBPE, VocabSize: 32000, ByteFallback: true, UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1,
		UnkPiece: "<unk>", BOSPiece: "<s>", EOSPiece: "</s>", PadPiece: "<pad>"}
	if m.Trainer != wantTrainer {
		t.Errorf("trainer = %+v, want %+v", m.Trainer, wantTrainer)
	}
	wantNorm := NormalizerSpec{Name: "identity", AddDummyPrefix: true, EscapeWhitespaces: true}
	if m.Normalizer != wantNorm {
		t.Errorf("normalizer = %+v, want %+v", m.Normalizer, wantNorm)
	}
}

func TestParseModelTiny(t *testing.T) {
	m, err := OpenModel(filepath.Join(tinyDir, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pieces) != 1024 || m.Trainer.VocabSize != 1024 || !m.Trainer.ByteFallback || m.Trainer.ModelType != ModelBPE {
		t.Fatalf("%d pieces, trainer %+v", len(m.Pieces), m.Trainer)
	}
	for id, typ := range map[int]PieceType{0: TypeUnknown, 1: TypeControl, 2: TypeControl, 3: TypeByte, 258: TypeByte, 259: TypeNormal, 1023: TypeNormal} {
		if m.Pieces[id].Type != typ {
			t.Errorf("piece %d type %v, want %v", id, m.Pieces[id].Type, typ)
		}
	}
}

func TestModelMarshalRoundTrip(t *testing.T) {
	for _, dir := range []string{mixtralDir, tinyDir} {
		m, err := OpenModel(filepath.Join(dir, "tokenizer.model"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseModel(m.Marshal(), "marshalled")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Errorf("%s: model changed in a Marshal/ParseModel round trip", dir)
		}
	}
}

// msg assembles protobuf bytes for the hostile-input table.
type msg []byte

func (m msg) key(num, wire int) msg { return binary.AppendUvarint(m, uint64(num)<<3|uint64(wire)) }
func (m msg) varint(num int, v uint64) msg {
	return binary.AppendUvarint(m.key(num, wireVarint), v)
}
func (m msg) bytes(num int, b []byte) msg {
	return append(binary.AppendUvarint(m.key(num, wireBytes), uint64(len(b))), b...)
}
func (m msg) fixed32(num int, v uint32) msg {
	return binary.LittleEndian.AppendUint32(m.key(num, wireFixed32), v)
}

func piece(s string, typ PieceType) []byte {
	return msg(nil).bytes(1, []byte(s)).fixed32(2, 0).varint(3, uint64(typ))
}

// minimal is a valid one-piece model.
func minimal() msg { return msg(nil).bytes(1, piece("<unk>", TypeUnknown)) }

func TestParseModelHostile(t *testing.T) {
	tooBigVarint := append(msg(nil).key(2, wireBytes), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02)
	realModel := readFile(t, filepath.Join(tinyDir, "tokenizer.model"))
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "no pieces"},
		{"truncated key", "\x80", "offset 0: truncated varint"},
		{"varint over 64 bits", string(tooBigVarint), "offset 1: varint overflows 64 bits"},
		{"length past end", "\x0a\x05ab", "offset 1: field 1: length 5 exceeds the 2 bytes left"},
		{"huge length", "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "exceeds the 0 bytes left"},
		{"group wire type", "\x0b", "unsupported wire type 3"},
		{"wire type 7", "\x0f", "unsupported wire type 7"},
		{"field number 0", "\x00\x00", "invalid field number 0"},
		{"field number too big", string(msg(nil).varint(1<<29, 1)), "invalid field number"},
		{"pieces as varint", string(msg(nil).varint(1, 5)), "pieces (field 1): wire type 0, want 2"},
		{"empty piece message", string(msg(nil).bytes(1, nil)), "empty piece"},
		{"empty piece text", string(msg(nil).bytes(1, msg(nil).bytes(1, nil))), "empty piece"},
		{"invalid utf-8", string(msg(nil).bytes(1, msg(nil).bytes(1, []byte{0xff}))), "offset 4: piece is not valid UTF-8"},
		{"type 0", string(msg(nil).bytes(1, piece("a", 0))), "piece type 0 out of range"},
		{"type 7", string(msg(nil).bytes(1, piece("a", 7))), "piece type 7 out of range"},
		{"score as varint", string(msg(nil).bytes(1, msg(nil).bytes(1, []byte("a")).varint(2, 1))), "score (field 2): wire type 0, want 5"},
		{"truncated score", string(msg(nil).bytes(1, append(msg(nil).bytes(1, []byte("a")), 0x15, 0, 0))), "offset 6: field 2: truncated fixed32"},
		{"NaN score", string(msg(nil).bytes(1, msg(nil).bytes(1, []byte("a")).fixed32(2, 0x7fc00000))), "offset 5: score is NaN"},
		{"truncated fixed64", "\x09\x00", "truncated fixed64"},
		{"duplicate piece", string(minimal().bytes(1, piece("a", TypeNormal)).bytes(1, piece("a", TypeNormal))), `piece 2 "a" duplicates piece 1`},
		{"two unknown", string(minimal().bytes(1, piece("<u2>", TypeUnknown))), "both UNKNOWN"},
		{"vocab_size overflow", string(minimal().bytes(2, msg(nil).varint(4, 1<<40))), "vocab_size: 1099511627776 does not fit int32"},
		{"trainer as varint", string(minimal().varint(2, 1)), "trainer_spec (field 2): wire type 0"},
		{"normalizer flag as bytes", string(minimal().bytes(3, msg(nil).bytes(3, nil))), "normalizer flag (field 3): wire type 2"},
		{"bad nested length", string(minimal().bytes(2, []byte{0x22, 0x09})), "field 4: length 9 exceeds the 0 bytes left"},
		{"truncated real model", string(realModel[:len(realModel)/2]), "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseModel([]byte(tc.data), "x.model")
			if err == nil {
				t.Fatalf("parsed %d pieces, want error %q", len(m.Pieces), tc.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v is not ErrFormat", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tokenizer: x.model: ") {
				t.Errorf("error %q, want it to name x.model and contain %q", err, tc.want)
			}
		})
	}
}

func TestParseModelAccepts(t *testing.T) {
	tests := []struct {
		name  string
		data  msg
		check func(*Model) bool
	}{
		{"unknown fields skipped", minimal().varint(99, 7).bytes(100, []byte("x")).fixed32(101, 1).
			bytes(2, msg(nil).varint(200, 1).bytes(201, nil)).key(102, wireFixed64).append64(),
			func(m *Model) bool { return len(m.Pieces) == 1 }},
		{"negative pad id", minimal().bytes(2, msg(nil).varint(43, uint64(1<<64-1))),
			func(m *Model) bool { return m.Trainer.PadID == -1 }},
		{"defaults", minimal(), func(m *Model) bool {
			return m.Trainer.ModelType == ModelUnigram && m.Trainer.BOSID == 1 && m.Normalizer.AddDummyPrefix && m.Normalizer.RemoveExtraWhitespaces
		}},
		{"normalizer fields", minimal().bytes(3, msg(nil).bytes(1, []byte("nmt_nfkc")).bytes(2, []byte{1, 2}).varint(3, 0).varint(4, 0)),
			func(m *Model) bool {
				return m.Normalizer == NormalizerSpec{Name: "nmt_nfkc", HasCharsMap: true, EscapeWhitespaces: true}
			}},
		{"last value wins", minimal().bytes(2, msg(nil).varint(3, 1)).bytes(2, msg(nil).varint(3, 2)),
			func(m *Model) bool { return m.Trainer.ModelType == ModelBPE }},
	}
	for _, tc := range tests {
		m, err := ParseModel(tc.data, "x.model")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.check(m) {
			t.Errorf("%s: unexpected model %+v", tc.name, m)
		}
	}
}

func (m msg) append64() msg { return append(m, 0, 0, 0, 0, 0, 0, 0, 0) }

func TestReadModel(t *testing.T) {
	data := readFile(t, filepath.Join(tinyDir, "tokenizer.model"))
	m, err := ReadModel(bytes.NewReader(data), int64(len(data)), "tiny")
	if err != nil || len(m.Pieces) != 1024 {
		t.Fatalf("ReadModel: %v", err)
	}
	if _, err := ReadModel(bytes.NewReader(data), int64(len(data))+10, "tiny"); err == nil {
		t.Error("size past the end of the reader: no error")
	}
	if _, err := ReadModel(bytes.NewReader(nil), maxModelSize+1, "huge"); !errors.Is(err, ErrFormat) {
		t.Errorf("oversized model: %v, want ErrFormat before any allocation", err)
	}
	if _, err := OpenModel(filepath.Join(t.TempDir(), "missing.model")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
