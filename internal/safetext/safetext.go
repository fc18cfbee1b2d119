// Package safetext makes names and messages that come from model files
// safe to print on a terminal: control characters (ESC sequences that
// rewrite the screen, newlines that fake extra lines), other invisible or
// direction-changing characters and invalid UTF-8 are shown escaped, while
// ordinary names print as they are.
package safetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable reports whether s is valid UTF-8 made only of characters that
// print as themselves (strconv.IsPrint: letters, marks, numbers,
// punctuation, symbols and the ASCII space).
func printable(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !strconv.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// Name returns s unchanged when every character prints as itself, and
// otherwise s as a double-quoted Go string literal ("a\x1b[31m\n"), so that
// a hostile tensor name or key shows what it holds instead of acting on
// the terminal.
func Name(s string) string {
	if printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// Line returns s with every character that does not print as itself
// replaced by its Go escape (\n, \x1b, \u202e; \xff for a byte of invalid
// UTF-8), keeping the rest: a message built from untrusted text stays one
// line and cannot drive the terminal.
func Line(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&15, 16))
		case r == '\\' || strconv.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\x1b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// Error returns err with its message passed through Line, for errors that
// may quote names from a model file; errors.Is and errors.As still see
// err. Errors whose message is already safe are returned as they are.
func Error(err error) error {
	if err == nil || printable(err.Error()) {
		return err
	}
	return &lineError{err}
}

type lineError struct{ err error }

func (e *lineError) Error() string { return Line(e.err.Error()) }
func (e *lineError) Unwrap() error { return e.err }

// Args returns args with every string passed through Name, for printf-style
// writers whose string arguments may be names from a model file.
func Args(args []any) []any {
	var out []any // a copy, made at the first string that needs escaping
	for i, a := range args {
		if s, ok := a.(string); ok && !printable(s) {
			if out == nil {
				out = append([]any(nil), args...)
			}
			out[i] = Name(s)
		}
	}
	if out == nil {
		return args
	}
	return out
}
