package tokenizer

import "strings"

// Encode tokenizes text as SentencePiece BPE does (a "gpt2" vocabulary:
// as byte-level BPE does, see encodeByteLevel) (llama.cpp's
// llm_tokenizer_spm follows the same algorithm): a dummy "▁" prefix, spaces
// replaced by "▁", then repeatedly merging the adjacent pair whose merged
// piece has the highest score (ties: leftmost), and byte fallback to <0xNN>
// tokens for what no piece covers. When the vocabulary came from
// tokenizer.json, the Hugging Face merge ranks order the merges instead.
//
// Text is never parsed for special tokens: "<s>" in text is three
// characters, as in sentencepiece and llama.cpp without parse_special. Only
// NORMAL, USER_DEFINED and UNUSED pieces can be formed by merges, as in
// sentencepiece (llama.cpp also forms CONTROL and BYTE pieces when the text
// spells them out). USER_DEFINED pieces are matched whole, before merging.
// NFKC-style normalization (precompiled_charsmap) and
// remove_extra_whitespaces are not applied; llama.cpp applies neither.
func (v *Vocab) Encode(text string, addBOS bool) []int {
	if v.Model == "gpt2" {
		return v.encodeByteLevel(text, addBOS)
	}
	var out []int
	if bos := v.BOSToken(); addBOS && bos >= 0 {
		out = append(out, bos)
	}
	if text == "" {
		return out
	}
	v.buildIndex()
	if v.prefixSpace() {
		text = " " + text
	}
	text = strings.ReplaceAll(text, " ", "▁")
	e := encoder{v: v, s: text}
	e.split()
	e.merge()
	return e.emit(out)
}

// BOSToken is the id llama.cpp prepends: v.BOS, or 1 for a "llama" vocabulary
// without a bos_token_id key (llama.cpp's default for SentencePiece
// vocabularies); -1 if there is none.
func (v *Vocab) BOSToken() int {
	if v.BOS >= 0 {
		return v.BOS
	}
	if v.Model == "llama" && len(v.Tokens) > 1 {
		return 1
	}
	return -1
}

func (v *Vocab) prefixSpace() bool {
	if v.AddSpacePrefix != nil {
		return *v.AddSpacePrefix
	}
	if v.Normalizer != nil {
		return v.Normalizer.AddDummyPrefix
	}
	return true
}

// symbol is a piece of the input: s[start:end], in a doubly linked list.
type symbol struct {
	start, end int
	prev, next int
	frozen     bool // a user-defined piece: never merged
}

type bigram struct {
	left, right int
	score       float64
	size        int
}

// agenda is a binary max-heap of candidate merges: highest score first,
// then the leftmost pair. (Hand-rolled to avoid boxing every push.)
type agenda []bigram

func (a agenda) less(i, j int) bool {
	if a[i].score != a[j].score {
		return a[i].score > a[j].score
	}
	return a[i].left < a[j].left
}

func (a *agenda) push(x bigram) {
	*a = append(*a, x)
	h := *a
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (a *agenda) pop() bigram {
	h := *a
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*a = h
	return top
}

type encoder struct {
	v        *Vocab
	s        string
	syms     []symbol
	queue    agenda
	revMerge map[string][2]string // merged UNUSED piece → its two halves
}

// utf8Len is the sequence length llama.cpp derives from a lead byte.
func utf8Len(b byte) int {
	switch {
	case b < 0xC0:
		return 1
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	}
	return 4
}

func (e *encoder) split() {
	ud := e.v.userDefined
	for pos := 0; pos < len(e.s); {
		n, frozen := 0, false
		for _, u := range ud {
			if strings.HasPrefix(e.s[pos:], u) {
				n, frozen = len(u), true
				break
			}
		}
		if n == 0 {
			n = min(utf8Len(e.s[pos]), len(e.s)-pos)
		}
		i := len(e.syms)
		e.syms = append(e.syms, symbol{start: pos, end: pos + n, prev: i - 1, next: i + 1, frozen: frozen})
		pos += n
	}
	e.syms[len(e.syms)-1].next = -1
}

// candidate reports whether the pair l+r may be merged, and the merge score.
func (e *encoder) candidate(l, r symbol) (float64, bool) {
	piece := e.s[l.start:r.end]
	id, ok := e.v.index[piece]
	if !ok {
		return 0, false
	}
	typ := e.v.tokenType(int(id))
	switch typ {
	case TypeNormal, TypeUserDefined, TypeUnused:
	default:
		return 0, false
	}
	var score float64
	if e.v.mergeRank != nil {
		rank, ok := e.v.mergeRank[[2]string{e.s[l.start:l.end], e.s[r.start:r.end]}]
		if !ok {
			return 0, false
		}
		score = -float64(rank)
	} else if int(id) < len(e.v.Scores) {
		score = float64(e.v.Scores[id])
	}
	if typ == TypeUnused {
		if e.revMerge == nil {
			e.revMerge = map[string][2]string{}
		}
		e.revMerge[piece] = [2]string{e.s[l.start:l.end], e.s[r.start:r.end]}
	}
	return score, true
}

func (e *encoder) tryAdd(left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l, r := e.syms[left], e.syms[right]
	if l.frozen || r.frozen {
		return
	}
	if score, ok := e.candidate(l, r); ok {
		e.queue.push(bigram{left: left, right: right, score: score, size: r.end - l.start})
	}
}

func (e *encoder) merge() {
	for i := 1; i < len(e.syms); i++ {
		e.tryAdd(i-1, i)
	}
	for len(e.queue) > 0 {
		b := e.queue.pop()
		l, r := &e.syms[b.left], &e.syms[b.right]
		// Skip pairs made stale by an earlier merge.
		if l.end <= l.start || r.end <= r.start || l.next != b.right || r.end-l.start != b.size {
			continue
		}
		l.end = r.end
		l.next = r.next
		if r.next >= 0 {
			e.syms[r.next].prev = b.left
		}
		r.start, r.end = 0, 0
		e.tryAdd(l.prev, b.left)
		e.tryAdd(b.left, l.next)
	}
}

func (e *encoder) emit(out []int) []int {
	prevUnk := false
	for i := 0; i >= 0 && i < len(e.syms); i = e.syms[i].next {
		out = e.resegment(e.s[e.syms[i].start:e.syms[i].end], out, &prevUnk)
	}
	return out
}

// resegment outputs piece, splitting merged UNUSED pieces back into their
// halves as sentencepiece does, and falling back to bytes for pieces that
// are not in the vocabulary.
func (e *encoder) resegment(piece string, out []int, prevUnk *bool) []int {
	v := e.v
	if id, ok := v.index[piece]; ok {
		switch v.tokenType(int(id)) {
		case TypeNormal, TypeUserDefined:
			*prevUnk = false
			return append(out, int(id))
		case TypeUnused:
			if halves, ok := e.revMerge[piece]; ok {
				out = e.resegment(halves[0], out, prevUnk)
				return e.resegment(halves[1], out, prevUnk)
			}
			*prevUnk = false
			return append(out, int(id))
		}
	}
	for i := 0; i < len(piece); i++ {
		if id, ok := v.index[BytePiece(piece[i])]; ok {
			out = append(out, int(id))
			*prevUnk = false
			continue
		}
		// Without byte tokens, one <unk> stands for a run of unknown text.
		if v.UNK >= 0 && !*prevUnk {
			out = append(out, v.UNK)
		}
		*prevUnk = true
		break
	}
	return out
}
