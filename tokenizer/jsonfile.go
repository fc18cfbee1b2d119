package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// readSmallFile reads path whole, through safeio's checks (a regular
// file of at most limit bytes); it returns (nil, nil) when the file does
// not exist.
func readSmallFile(path string, limit int64) ([]byte, error) {
	data, err := safeio.ReadFile(path, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, fileError(path, err)
}

// Bounds on the number of values (array elements and object members) in
// tokenizer JSON. Decoded, each costs tens of bytes however short its text
// ("0," is two bytes), so the size limit alone does not bound memory.
// tokenizer.json is decoded into typed fields; the largest public ones (a
// 200k-token vocabulary with 450k merges) hold about 2 million values.
// Files and parts decoded generically (tokenizer_config.json,
// special_tokens_map.json, added_tokens.json, normalizers, post-processors)
// hold a few thousand.
const (
	maxTokenizerValues = 3 << 20
	maxGenericValues   = 1 << 20
)

// checkJSONValues refuses data with more than limit values before it is
// decoded. It counts the commas, colons and opening brackets outside
// strings, an upper bound that needs no allocation.
func checkJSONValues(path string, data []byte, limit int) error {
	n, inString := 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ',' || c == ':' || c == '[' || c == '{':
			n++
		}
	}
	if n > limit {
		return &FormatError{File: path, Offset: -1, Msg: fmt.Sprintf("more than %d JSON values; a tokenizer file needs far fewer", limit)}
	}
	return nil
}

// fileError turns safeio's refusal of path (not a regular file, too large)
// into a FormatError; other errors pass unchanged.
func fileError(path string, err error) error {
	if errors.Is(err, safeio.ErrNotRegular) || errors.Is(err, safeio.ErrTooLarge) {
		return &FormatError{File: path, Offset: -1, Msg: strings.TrimPrefix(err.Error(), path+": ")}
	}
	return err
}

// jsonObject is a decoded JSON object; numbers stay json.Number so integers
// and floats can be told apart as Python's json module does.
type jsonObject map[string]any

// readJSONObject reads dir/name as a JSON object. A missing file gives
// (nil, nil).
func readJSONObject(dir, name string) (jsonObject, error) {
	path := filepath.Join(dir, name)
	limit := int64(safeio.TokenizerLimit)
	if name == "config.json" {
		limit = safeio.ConfigLimit
	}
	data, err := readSmallFile(path, limit)
	if err != nil || data == nil {
		return nil, err
	}
	if err := checkJSONValues(path, data, maxGenericValues); err != nil {
		return nil, err
	}
	return parseJSONObject(data, path)
}

func parseJSONObject(data []byte, path string) (jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(path, data, err)
	}
	if dec.More() {
		return nil, &FormatError{File: path, Offset: dec.InputOffset(), Msg: "trailing data after the JSON value"}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &FormatError{File: path, Offset: -1, Msg: "top-level JSON value is not an object"}
	}
	return jsonObject(obj), nil
}

func jsonError(path string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &FormatError{File: path, Offset: se.Offset, Msg: se.Error()}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &FormatError{File: path, Offset: te.Offset, Key: te.Field, Msg: te.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &FormatError{File: path, Offset: int64(len(data)), Msg: "unexpected end of JSON"}
	}
	return &FormatError{File: path, Offset: -1, Msg: err.Error()}
}

// object returns o[key] as an object (nil if absent or another type).
func (o jsonObject) object(key string) jsonObject {
	m, _ := o[key].(map[string]any)
	return m
}

// str returns o[key] when it is a string.
func (o jsonObject) str(key string) (string, bool) {
	s, ok := o[key].(string)
	return s, ok
}

// boolean returns o[key] when it is a JSON boolean.
func (o jsonObject) boolean(key string) (bool, bool) {
	b, ok := o[key].(bool)
	return b, ok
}

// tokenContent extracts a token string the way SpecialVocab accepts one:
// a plain string or an AddedToken object with a string "content".
func tokenContent(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		s, _ := t["content"].(string)
		return s
	}
	return ""
}

// tokenEntry is tokenContent that also reports whether v had a usable form.
func tokenEntry(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case map[string]any:
		s, ok := t["content"].(string)
		return s, ok
	}
	return "", false
}

// jsonInt returns v as an int when it is a JSON integer literal (Python's
// isinstance(v, int) after json.load; booleans and floats do not count).
func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok || strings.ContainsAny(string(n), ".eE") {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}
