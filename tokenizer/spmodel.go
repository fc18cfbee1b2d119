package tokenizer

import (
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// PieceType is a SentencePiece piece type. GGUF's tokenizer.ggml.token_type
// uses the same numbers (llama.cpp's LLAMA_TOKEN_TYPE_*).
type PieceType int32

// SentencePiece / GGUF token types.
const (
	TypeUndefined   PieceType = 0
	TypeNormal      PieceType = 1
	TypeUnknown     PieceType = 2
	TypeControl     PieceType = 3
	TypeUserDefined PieceType = 4
	TypeUnused      PieceType = 5
	TypeByte        PieceType = 6
)

func (t PieceType) String() string {
	switch t {
	case TypeUndefined:
		return "UNDEFINED"
	case TypeNormal:
		return "NORMAL"
	case TypeUnknown:
		return "UNKNOWN"
	case TypeControl:
		return "CONTROL"
	case TypeUserDefined:
		return "USER_DEFINED"
	case TypeUnused:
		return "UNUSED"
	case TypeByte:
		return "BYTE"
	}
	return fmt.Sprintf("PieceType(%d)", int32(t))
}

// SentencePiece model types (TrainerSpec.ModelType).
const (
	ModelUnigram = 1
	ModelBPE     = 2
	ModelWord    = 3
	ModelChar    = 4
)

// Piece is one vocabulary entry of a SentencePiece model.
type Piece struct {
	Piece string
	Score float32
	Type  PieceType
}

// TrainerSpec holds the TrainerSpec fields that matter for conversion.
// Defaults are those of sentencepiece_model.proto for absent fields.
type TrainerSpec struct {
	ModelType    int32 // ModelUnigram, ModelBPE, ...
	VocabSize    int32
	ByteFallback bool
	UnkID        int32
	BOSID        int32
	EOSID        int32
	PadID        int32 // -1 = none
	UnkPiece     string
	BOSPiece     string
	EOSPiece     string
	PadPiece     string
}

// NormalizerSpec holds the NormalizerSpec fields that change tokenization.
type NormalizerSpec struct {
	Name                   string
	AddDummyPrefix         bool
	RemoveExtraWhitespaces bool
	EscapeWhitespaces      bool
	HasCharsMap            bool // a precompiled_charsmap is present (not applied by Encode)
}

// Model is a decoded SentencePiece ModelProto (tokenizer.model).
type Model struct {
	Pieces     []Piece
	Trainer    TrainerSpec
	Normalizer NormalizerSpec
}

// maxModelSize bounds how much of a tokenizer.model is read into memory.
// Real models are well under 10 MB; the largest public ones are ~5 MB.
const maxModelSize = safeio.TokenizerLimit

// ReadModel decodes a SentencePiece model of size bytes from r. name is used
// in error messages.
func ReadModel(r io.ReaderAt, size int64, name string) (*Model, error) {
	if size < 0 || size > maxModelSize {
		return nil, &FormatError{File: name, Offset: -1, Msg: fmt.Sprintf("size %d outside 0..%d", size, maxModelSize)}
	}
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, 0); err != nil && !(err == io.EOF && size == 0) {
		return nil, fmt.Errorf("tokenizer: read %s: %w", name, err)
	}
	return ParseModel(buf, name)
}

// OpenModel reads and decodes a tokenizer.model file.
func OpenModel(path string) (*Model, error) {
	f, st, err := safeio.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	return ReadModel(f, st.Size(), path)
}

// ParseModel decodes a serialized SentencePiece ModelProto. Unknown fields
// are skipped, as protobuf requires; malformed wire data, pieces with
// invalid UTF-8 or unknown types, and out-of-range special ids are errors.
func ParseModel(data []byte, name string) (*Model, error) {
	m := &Model{
		Trainer: TrainerSpec{
			ModelType: ModelUnigram, VocabSize: 8000,
			UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1,
			UnkPiece: "<unk>", BOSPiece: "<s>", EOSPiece: "</s>", PadPiece: "<pad>",
		},
		Normalizer: NormalizerSpec{AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true},
	}
	r := &wireReader{file: name, buf: data}
	for !r.done() {
		f, err := r.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1: // pieces
			if err := r.want(f, wireBytes, "pieces"); err != nil {
				return nil, err
			}
			p, err := parsePiece(r.sub(f))
			if err != nil {
				return nil, err
			}
			m.Pieces = append(m.Pieces, p)
		case 2: // trainer_spec
			if err := r.want(f, wireBytes, "trainer_spec"); err != nil {
				return nil, err
			}
			if err := parseTrainer(r.sub(f), &m.Trainer); err != nil {
				return nil, err
			}
		case 3: // normalizer_spec
			if err := r.want(f, wireBytes, "normalizer_spec"); err != nil {
				return nil, err
			}
			if err := parseNormalizer(r.sub(f), &m.Normalizer); err != nil {
				return nil, err
			}
		}
	}
	if err := m.check(name); err != nil {
		return nil, err
	}
	return m, nil
}

func parsePiece(r *wireReader) (Piece, error) {
	p := Piece{Type: TypeNormal}
	seenPiece := false
	for !r.done() {
		f, err := r.next()
		if err != nil {
			return p, err
		}
		switch f.num {
		case 1:
			if err := r.want(f, wireBytes, "piece"); err != nil {
				return p, err
			}
			if !utf8.Valid(f.data) {
				return p, r.errf(f.dataAt, "piece is not valid UTF-8")
			}
			p.Piece, seenPiece = string(f.data), true
		case 2:
			if err := r.want(f, wireFixed32, "score"); err != nil {
				return p, err
			}
			p.Score = math.Float32frombits(uint32(f.u))
			if p.Score != p.Score {
				// A NaN score leaves the merge order undefined.
				return p, r.errf(f.offset, "score is NaN")
			}
		case 3:
			if err := r.want(f, wireVarint, "type"); err != nil {
				return p, err
			}
			if f.u < uint64(TypeNormal) || f.u > uint64(TypeByte) {
				return p, r.errf(f.offset, "piece type %d out of range 1..6", int64(f.u))
			}
			p.Type = PieceType(f.u)
		}
	}
	if !seenPiece || p.Piece == "" {
		return p, r.errf(r.base, "empty piece")
	}
	return p, nil
}

func parseTrainer(r *wireReader, t *TrainerSpec) error {
	for !r.done() {
		f, err := r.next()
		if err != nil {
			return err
		}
		var dst *int32
		var name string
		switch f.num {
		case 3:
			dst, name = &t.ModelType, "model_type"
		case 4:
			dst, name = &t.VocabSize, "vocab_size"
		case 40:
			dst, name = &t.UnkID, "unk_id"
		case 41:
			dst, name = &t.BOSID, "bos_id"
		case 42:
			dst, name = &t.EOSID, "eos_id"
		case 43:
			dst, name = &t.PadID, "pad_id"
		case 35:
			if err := r.want(f, wireVarint, "byte_fallback"); err != nil {
				return err
			}
			t.ByteFallback = f.u != 0
		case 45, 46, 47, 48:
			if err := r.want(f, wireBytes, "special piece"); err != nil {
				return err
			}
			s := string(f.data)
			switch f.num {
			case 45:
				t.UnkPiece = s
			case 46:
				t.BOSPiece = s
			case 47:
				t.EOSPiece = s
			case 48:
				t.PadPiece = s
			}
		}
		if dst != nil {
			if err := r.want(f, wireVarint, name); err != nil {
				return err
			}
			v, ok := int32Value(f.u)
			if !ok {
				return r.errf(f.offset, "%s: %d does not fit int32", name, f.u)
			}
			*dst = v
		}
	}
	return nil
}

func parseNormalizer(r *wireReader, n *NormalizerSpec) error {
	for !r.done() {
		f, err := r.next()
		if err != nil {
			return err
		}
		switch f.num {
		case 1:
			if err := r.want(f, wireBytes, "name"); err != nil {
				return err
			}
			n.Name = string(f.data)
		case 2:
			if err := r.want(f, wireBytes, "precompiled_charsmap"); err != nil {
				return err
			}
			n.HasCharsMap = len(f.data) > 0
		case 3, 4, 5:
			if err := r.want(f, wireVarint, "normalizer flag"); err != nil {
				return err
			}
			v := f.u != 0
			switch f.num {
			case 3:
				n.AddDummyPrefix = v
			case 4:
				n.RemoveExtraWhitespaces = v
			case 5:
				n.EscapeWhitespaces = v
			}
		}
	}
	return nil
}

// check applies the consistency rules sentencepiece enforces when it loads a
// model: at least one piece, unique pieces, at most one UNKNOWN piece.
// (sentencepiece finds special tokens by piece type, not by the trainer_spec
// ids, so those are not checked.)
func (m *Model) check(name string) error {
	bad := func(format string, args ...any) error {
		return &FormatError{File: name, Offset: -1, Msg: fmt.Sprintf(format, args...)}
	}
	if len(m.Pieces) == 0 {
		return bad("no pieces")
	}
	seen := make(map[string]int, len(m.Pieces))
	unk := -1
	for i, p := range m.Pieces {
		if j, dup := seen[p.Piece]; dup {
			return bad("piece %d %q duplicates piece %d", i, p.Piece, j)
		}
		seen[p.Piece] = i
		if p.Type == TypeUnknown {
			if unk >= 0 {
				return bad("pieces %d and %d are both UNKNOWN", unk, i)
			}
			unk = i
		}
	}
	return nil
}

// BytePiece is the piece name SentencePiece gives the byte-fallback token of b.
func BytePiece(b byte) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})
}

// Marshal serializes m as a SentencePiece ModelProto. Only the fields this
// package models are written; sentencepiece fills the rest with defaults.
func (m *Model) Marshal() []byte {
	var out wireWriter
	for _, p := range m.Pieces {
		var pw wireWriter
		pw.string(1, p.Piece)
		pw.float(2, p.Score)
		if p.Type != TypeNormal {
			pw.varint(3, uint64(p.Type))
		}
		out.bytes(1, pw.buf)
	}
	var tw wireWriter
	t := m.Trainer
	tw.int32(3, t.ModelType)
	tw.int32(4, t.VocabSize)
	tw.bool(35, t.ByteFallback)
	tw.int32(40, t.UnkID)
	tw.int32(41, t.BOSID)
	tw.int32(42, t.EOSID)
	tw.int32(43, t.PadID)
	tw.string(45, t.UnkPiece)
	tw.string(46, t.BOSPiece)
	tw.string(47, t.EOSPiece)
	tw.string(48, t.PadPiece)
	out.bytes(2, tw.buf)
	var nw wireWriter
	nz := m.Normalizer
	nw.string(1, nz.Name)
	nw.bool(3, nz.AddDummyPrefix)
	nw.bool(4, nz.RemoveExtraWhitespaces)
	nw.bool(5, nz.EscapeWhitespaces)
	out.bytes(3, nw.buf)
	return out.buf
}
