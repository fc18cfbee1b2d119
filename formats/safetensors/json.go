package safetensors

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner is a small strict JSON reader over an in-memory document,
// enough for safetensors headers and shard indexes. Compared with
// encoding/json it reports duplicate keys (the caller sees every key),
// rejects unpaired UTF-16 surrogate escapes as serde_json does, gives exact
// byte offsets, and allocates only the strings and numbers it returns, which
// matters for checkpoints with tens of thousands of tensors.
//
// The input must already be valid UTF-8.
type jsonScanner struct {
	b   []byte
	pos int
}

// maxJSONDepth matches serde_json's default recursion limit.
const maxJSONDepth = 128

// jsonError is a syntax error at a byte offset of the document.
type jsonError struct {
	off int
	msg string
}

func (e *jsonError) Error() string { return e.msg }

func (s *jsonScanner) fail(format string, args ...any) error {
	return &jsonError{off: s.pos, msg: "invalid JSON: " + fmt.Sprintf(format, args...)}
}

// unexpected describes the byte at pos for an error message.
func (s *jsonScanner) unexpected(want string) error {
	if s.pos >= len(s.b) {
		return s.fail("unexpected end of input, expected %s", want)
	}
	r, _ := utf8.DecodeRune(s.b[s.pos:])
	return s.fail("unexpected %q, expected %s", r, want)
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peekPos skips space and returns the position of the next token.
func (s *jsonScanner) peekPos() int {
	s.skipSpace()
	return s.pos
}

// peek returns the next non-space byte without consuming it (0 at the end).
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

// consume skips space and the byte c, or fails.
func (s *jsonScanner) consume(c byte) error {
	if s.peek() != c {
		return s.unexpected(strconv.QuoteRune(rune(c)))
	}
	s.pos++
	return nil
}

// next is called after an object member or array element: it consumes ','
// and reports true, or consumes the closing byte and reports false.
func (s *jsonScanner) next(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case closing:
		s.pos++
		return false, nil
	}
	return false, s.unexpected(fmt.Sprintf("',' or %q", rune(closing)))
}

// objectStart consumes '{' and reports whether the object has members.
func (s *jsonScanner) objectStart() (bool, error) {
	if err := s.consume('{'); err != nil {
		return false, err
	}
	if s.peek() == '}' {
		s.pos++
		return false, nil
	}
	return true, nil
}

// key reads a member name and the ':' after it.
func (s *jsonScanner) key() (string, error) {
	k, err := s.keyBytes()
	return string(k), err
}

// keyBytes is key without the copy (see strBytes).
func (s *jsonScanner) keyBytes() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a string key")
	}
	k, err := s.strBytes()
	if err != nil {
		return nil, err
	}
	return k, s.consume(':')
}

// str reads a string; pos must be at its opening quote.
func (s *jsonScanner) str() (string, error) {
	b, err := s.strBytes()
	return string(b), err
}

// strBytes is str without the copy when the string has no escapes: the
// result may alias the document and must not be modified.
func (s *jsonScanner) strBytes() ([]byte, error) {
	s.pos++ // opening quote
	start := s.pos
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.b[start : s.pos-1], nil
		case c == '\\':
			return s.escapedStr(start)
		case c < 0x20:
			return nil, s.fail("control character %#02x in string", c)
		}
		s.pos++
	}
	return nil, s.fail("unterminated string")
}

// escapedStr finishes a string containing escapes, copying from start.
func (s *jsonScanner) escapedStr(start int) ([]byte, error) {
	buf := append([]byte(nil), s.b[start:s.pos]...)
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		switch {
		case c == '"':
			s.pos++
			return buf, nil
		case c < 0x20:
			return nil, s.fail("control character %#02x in string", c)
		case c != '\\':
			buf = append(buf, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.b) {
			s.pos = len(s.b)
			return nil, s.fail("unterminated string")
		}
		esc := s.b[s.pos+1]
		s.pos += 2
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			escStart := s.pos - 2
			r, err := s.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				unpaired := r >= 0xdc00 || s.pos+1 >= len(s.b) || s.b[s.pos] != '\\' || s.b[s.pos+1] != 'u'
				if !unpaired {
					s.pos += 2
					lo, err := s.hex4()
					if err != nil {
						return nil, err
					}
					r = utf16.DecodeRune(r, lo)
					unpaired = r == utf8.RuneError
				}
				if unpaired {
					s.pos = escStart
					return nil, s.fail("unpaired surrogate escape")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			s.pos -= 2
			return nil, s.fail("invalid escape %q", "\\"+string(rune(esc)))
		}
	}
	return nil, s.fail("unterminated string")
}

func (s *jsonScanner) hex4() (rune, error) {
	if s.pos+4 > len(s.b) {
		return 0, s.fail("truncated \\u escape")
	}
	var r rune
	for _, c := range s.b[s.pos : s.pos+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, s.fail("invalid \\u escape")
		}
	}
	s.pos += 4
	return r, nil
}

// number reads a JSON number and returns its text, aliasing the document;
// pos must be at its first byte.
func (s *jsonScanner) number() ([]byte, error) {
	start := s.pos
	if s.pos < len(s.b) && s.b[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.b) && s.b[s.pos] == '0':
		s.pos++
	case s.pos < len(s.b) && '1' <= s.b[s.pos] && s.b[s.pos] <= '9':
		s.digits()
	default:
		return nil, s.unexpected("a digit")
	}
	if s.pos < len(s.b) && s.b[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return nil, s.unexpected("a digit")
		}
	}
	if s.pos < len(s.b) && (s.b[s.pos] == 'e' || s.b[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.b) && (s.b[s.pos] == '+' || s.b[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return nil, s.unexpected("a digit")
		}
	}
	return s.b[start:s.pos], nil
}

func (s *jsonScanner) digits() int {
	start := s.pos
	for s.pos < len(s.b) && '0' <= s.b[s.pos] && s.b[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// intArray reads an array of at most limit integers that fit in int64. For
// any other value it returns errNotInts with pos at the value, so the
// caller can report the field; for a longer array, errTooLong.
func (s *jsonScanner) intArray(limit int) ([]int64, error) {
	start := s.pos
	notInts := func() ([]int64, error) {
		s.pos = start
		return nil, errNotInts
	}
	if s.peek() != '[' {
		return notInts()
	}
	start = s.pos
	s.pos++
	if s.peek() == ']' {
		s.pos++
		return []int64{}, nil
	}
	// Count the elements first (one more than the commas before the first
	// ']', an upper bound for an array of numbers), so that an overlong
	// array is refused before anything is allocated and a valid one is
	// allocated once.
	n := 1
	for _, c := range s.b[s.pos:] {
		if c == ']' {
			break
		}
		if c == ',' {
			n++
		}
	}
	if n > limit {
		return nil, errTooLong
	}
	v := make([]int64, 0, n)
	for {
		if c := s.peek(); c != '-' && (c < '0' || c > '9') {
			return notInts()
		}
		text, err := s.number()
		if err != nil {
			return nil, err
		}
		n, ok := parseInt(text)
		if !ok {
			return notInts()
		}
		v = append(v, n)
		more, err := s.next(']')
		if err != nil {
			return nil, err
		}
		if !more {
			return v, nil
		}
	}
}

// parseInt converts the text of a JSON number to int64 if it is an
// integer (no fraction or exponent) in range.
func parseInt(text []byte) (int64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range text {
		if c < '0' || c > '9' || n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n <= math.MaxInt64:
		return int64(n), true
	case neg && n <= 1<<63:
		return int64(-n), true
	}
	return 0, false
}

// errNotInts reports a value that is not an array of integers.
var errNotInts = errors.New("not an array of integers")

// errTooLong reports an array of integers longer than its caller allows.
var errTooLong = errors.New("too many integers")

// skip consumes any JSON value.
func (s *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return s.fail("nesting deeper than %d", maxJSONDepth)
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := s.number()
		return err
	case c == '{':
		more, err := s.objectStart()
		for more && err == nil {
			if _, err = s.key(); err != nil {
				return err
			}
			if err = s.skip(depth + 1); err != nil {
				return err
			}
			more, err = s.next('}')
		}
		return err
	case c == '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			more, err := s.next(']')
			if err != nil || !more {
				return err
			}
		}
	}
	for _, lit := range []string{"true", "false", "null"} {
		if s.literal(lit) {
			return nil
		}
	}
	return s.unexpected("a JSON value")
}

// literal consumes lit if it is next.
func (s *jsonScanner) literal(lit string) bool {
	s.skipSpace()
	if len(s.b)-s.pos >= len(lit) && string(s.b[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// end checks that only whitespace remains.
func (s *jsonScanner) end() error {
	if s.peek() != 0 || s.pos < len(s.b) {
		return s.fail("trailing data after the JSON value")
	}
	return nil
}
