package tokenizer

import (
	"strings"
	"unicode"
)

// byteRunes is GPT-2's bytes_to_unicode: every byte as the printable rune
// byte-level vocabularies spell it with. Printable Latin-1 bytes stand for
// themselves; the others take the runes from U+0100 on, in byte order.
var byteRunes = func() (t [256]rune) {
	next := rune(256)
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			t[b] = rune(b)
		} else {
			t[b] = next
			next++
		}
	}
	return t
}()

// encodeByteLevel tokenizes text with a "gpt2" vocabulary as Hugging Face
// tokenizers and llama.cpp do: USER_DEFINED tokens matched whole, the rest
// split by the vocabulary's pre-tokenizer, each piece's UTF-8 bytes spelled
// with byteRunes and merged by merge rank. The tokenizer.json normalizer
// (NFC for Qwen) is not applied, as in llama.cpp. BOS is prepended only
// when asked for and the vocabulary adds one.
func (v *Vocab) encodeByteLevel(text string, addBOS bool) []int {
	var out []int
	if bos := v.BOS; addBOS && bos >= 0 && v.AddBOS != nil && *v.AddBOS {
		out = append(out, bos)
	}
	v.buildIndex()
	for text != "" {
		at, tok := len(text), ""
		for _, u := range v.userDefined {
			if i := strings.Index(text, u); i >= 0 && i < at {
				at, tok = i, u
			}
		}
		for _, piece := range splitQwen2([]rune(text[:at])) {
			out = v.mergeBytes(piece, out)
		}
		if tok == "" {
			break
		}
		id, _ := v.TokenID(tok)
		out = append(out, id)
		text = text[at+len(tok):]
	}
	return out
}

// mergeBytes appends the tokens of one pre-tokenized piece: its bytes as
// byte runes, then repeatedly the adjacent pair of lowest merge rank
// (leftmost first) joined.
func (v *Vocab) mergeBytes(piece string, out []int) []int {
	syms := make([]string, 0, len(piece))
	for i := 0; i < len(piece); i++ {
		syms = append(syms, string(byteRunes[piece[i]]))
	}
	for len(syms) > 1 {
		best, bestRank := -1, 0
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := v.mergeRank[[2]string{syms[i], syms[i+1]}]; ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	for _, s := range syms {
		if id, ok := v.TokenID(s); ok {
			out = append(out, id)
		}
	}
	return out
}

// splitQwen2 is the Qwen2 pre-tokenizer, the regex
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// matched leftmost-first at each position, written out because Go's regexp
// has no look-ahead.
func splitQwen2(s []rune) []string {
	var out []string
	for i := 0; i < len(s); {
		n := qwen2Match(s, i)
		out = append(out, string(s[i:i+n]))
		i += n
	}
	return out
}

// qwen2Match is the length of the pre-tokenizer's match at s[i:] (at least 1).
func qwen2Match(s []rune, i int) int {
	n := len(s)
	letter := func(j int) bool { return j < n && unicode.IsLetter(s[j]) }
	number := func(j int) bool { return j < n && unicode.IsNumber(s[j]) }
	space := func(j int) bool { return j < n && unicode.IsSpace(s[j]) }
	newline := func(j int) bool { return j < n && (s[j] == '\r' || s[j] == '\n') }
	run := func(j int, in func(int) bool) int {
		for in(j) {
			j++
		}
		return j
	}
	c := s[i]
	if c == '\'' && i+1 < n {
		next := unicode.ToLower(s[i+1])
		switch {
		case next == 's' || next == 't' || next == 'm' || next == 'd':
			return 2
		case i+2 < n && (next == 'r' || next == 'v') && unicode.ToLower(s[i+2]) == 'e',
			i+2 < n && next == 'l' && unicode.ToLower(s[i+2]) == 'l':
			return 3
		}
	}
	if !newline(i) && !letter(i) && !number(i) && letter(i+1) {
		return run(i+1, letter) - i
	}
	if letter(i) {
		return run(i, letter) - i
	}
	if number(i) {
		return 1
	}
	symbol := func(j int) bool { return j < n && !space(j) && !letter(j) && !number(j) }
	j := i
	if c == ' ' && symbol(i+1) {
		j++
	}
	if symbol(j) {
		return run(run(j, symbol), newline) - i
	}
	end := run(i, space)
	for k := end - 1; k >= i; k-- {
		if newline(k) {
			return k + 1 - i
		}
	}
	if end == n || end-i == 1 {
		return end - i
	}
	return end - 1 - i
}
