package tokenizer

import (
	"sort"
	"unicode/utf8"
)

// spmMerges reconstructs BPE merges from a SentencePiece vocabulary the way
// transformers' LlamaConverter does (convert_slow_tokenizer.py
// generate_merges with piece scores): every split of every piece into two
// pieces that are both in the vocabulary is a merge; splits of one piece are
// ordered by (left id, right id); then all merges are sorted by descending
// score, keeping that order among equal scores. This reproduces
// Mixtral-8x7B's tokenizer.json (transformers 4.36) merge for merge;
// transformers 5 keeps splits in split-position order instead, which yields
// the same merges ranked differently only among merges forming one piece.
//
// include selects the pieces that take part (as merge results and halves).
func spmMerges(tokens []string, scores []float32, include func(id int) bool) [][2]string {
	ids := make(map[string]int, len(tokens))
	for id, s := range tokens {
		if include(id) {
			if _, dup := ids[s]; !dup {
				ids[s] = id
			}
		}
	}
	type merge struct {
		l, r  string
		score float32
		seq   int
	}
	var all []merge
	for id, piece := range tokens {
		if !include(id) || ids[piece] != id {
			continue
		}
		start := len(all)
		for i, w := 0, 0; i < len(piece); i += w {
			_, w = utf8.DecodeRuneInString(piece[i:])
			if i == 0 {
				continue
			}
			l, r := piece[:i], piece[i:]
			if _, ok := ids[l]; !ok {
				continue
			}
			if _, ok := ids[r]; !ok {
				continue
			}
			all = append(all, merge{l: l, r: r, score: scores[id]})
		}
		local := all[start:]
		sort.SliceStable(local, func(a, b int) bool {
			if ids[local[a].l] != ids[local[b].l] {
				return ids[local[a].l] < ids[local[b].l]
			}
			return ids[local[a].r] < ids[local[b].r]
		})
	}
	for i := range all {
		all[i].seq = i
	}
	sort.Slice(all, func(a, b int) bool {
		x, y := all[a], all[b]
		if x.score != y.score {
			return x.score > y.score
		}
		return x.seq < y.seq
	})
	out := make([][2]string, len(all))
	for i, m := range all {
		out[i] = [2]string{m.l, m.r}
	}
	return out
}
