package tokenizer

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/mxq-dev/mxq/internal/safeio"
)

// specialVocab mirrors gguf-py's SpecialVocab: special token ids, add_*_token
// flags and the chat template, gathered from tokenizer.json,
// tokenizer_config.json and config.json in that order of precedence. Maps
// keep their insertion order in the *Order slices because gguf-py writes the
// keys in that order.
type specialVocab struct {
	kinds    []string
	ids      map[string]int
	idOrder  []string
	add      map[string]bool
	addOrder []string
	template any // string or []any of {name, template}; nil = none
	lower    bool
	nVocab   int
}

func newSpecialVocab(nVocab int) *specialVocab {
	return &specialVocab{kinds: append([]string(nil), specialTypes...), ids: map[string]int{}, add: map[string]bool{}, nVocab: nVocab}
}

func (sv *specialVocab) setAdd(kind string, b bool) {
	if _, ok := sv.add[kind]; !ok {
		sv.addOrder = append(sv.addOrder, kind)
	}
	sv.add[kind] = b
}

// setID keeps the first id seen for a kind. Negative ids are skipped (gguf-py
// raises on them; configs with pad_token_id -1 exist and mean "none") and
// ids beyond the vocabulary are skipped as gguf-py does.
func (sv *specialVocab) setID(kind string, v any) {
	if id, ok := jsonInt(v); ok {
		sv.setIDInt(kind, id)
	}
}

func (sv *specialVocab) setIDInt(kind string, id int64) {
	if id < 0 || id >= int64(sv.nVocab) {
		return
	}
	if _, seen := sv.ids[kind]; seen {
		return
	}
	sv.ids[kind] = int(id)
	sv.idOrder = append(sv.idOrder, kind)
}

func (sv *specialVocab) hasKind(k string) bool {
	for _, x := range sv.kinds {
		if x == k {
			return true
		}
	}
	return false
}

// loadSpecialVocab reads what SpecialVocab(dir, n_vocab=nVocab) reads.
// tok and tc may be nil when the files are absent.
func loadSpecialVocab(dir string, tok *hfTokenizer, tc, cfg jsonObject, nVocab int) (*specialVocab, error) {
	sv := newSpecialVocab(nVocab)
	if err := sv.fromTokenizerJSON(dir, tok, tc); err != nil {
		return nil, err
	}
	sv.fromConfigJSON(cfg)
	return sv, nil
}

func (sv *specialVocab) fromTokenizerJSON(dir string, tok *hfTokenizer, tcIn jsonObject) error {
	// An empty tokenizer_config.json counts as absent (Python truthiness).
	var tc jsonObject
	if len(tcIn) > 0 {
		tc = make(jsonObject, len(tcIn))
		for k, v := range tcIn {
			tc[k] = v
		}
	}
	var added []hfAddedToken
	if tok != nil {
		added = tok.AddedTokens
		sv.lower = normalizerLowercases(tok.normalizer)
		sv.fromPostProcessor(tok.postProcessor, tc)
	}
	if tc == nil {
		return nil
	}
	alt, err := chatTemplateFiles(dir)
	if err != nil {
		return err
	}
	if t, ok := tc["chat_template"]; ok {
		alt = t
	}
	switch alt.(type) {
	case string, []any:
		sv.template = alt
	}
	for _, kind := range sv.kinds {
		if b, ok := tc.boolean("add_" + kind + "_token"); ok {
			sv.setAdd(kind, b)
		}
		content, ok := tokenEntry(tc[kind+"_token"])
		if !ok {
			continue
		}
		for _, a := range added {
			if a.Content == content {
				sv.setIDInt(kind, a.ID)
				break
			}
		}
	}
	return nil
}

// fromPostProcessor reproduces SpecialVocab's reading of a tokenizer.json
// post_processor: RobertaProcessing adds bos/eos/sep; a simple
// TemplateProcessing tells whether BOS, EOS and a separator are added.
func (sv *specialVocab) fromPostProcessor(pp jsonObject, tc jsonObject) {
	bos := tokenContent(tc["bos_token"])
	cls := tokenContent(tc["cls_token"])
	eos := tokenContent(tc["eos_token"])
	sep := tokenContent(tc["sep_token"])
	if bos == "" && cls != "" && tc != nil {
		tc["bos_token"], bos = cls, cls
	}
	if eos == "" && sep != "" && tc != nil {
		tc["eos_token"], eos = sep, sep
	}
	if pp == nil {
		return
	}
	procs := []jsonObject{pp}
	if list, ok := pp["processors"].([]any); ok {
		procs = procs[:0]
		for _, p := range list {
			if m, ok := p.(map[string]any); ok {
				procs = append(procs, m)
			}
		}
	}
	specialID := func(item any) string {
		m, _ := item.(map[string]any)
		st, _ := m["SpecialToken"].(map[string]any)
		s, _ := st["id"].(string)
		return s
	}
	seqID := func(item any) string {
		m, _ := item.(map[string]any)
		st, _ := m["Sequence"].(map[string]any)
		s, _ := st["id"].(string)
		return s
	}
	for _, p := range procs {
		typ, _ := p.str("type")
		if typ == "RobertaProcessing" {
			sv.setAdd("bos", true)
			sv.setAdd("eos", true)
			sv.setAdd("sep", true)
			if cls == "" && tc != nil {
				cls = firstOf(p["cls"], bos)
				tc["cls_token"] = cls
			}
			if sep == "" && tc != nil {
				sep = firstOf(p["sep"], eos)
				tc["sep_token"] = sep
			}
			continue
		}
		if typ != "TemplateProcessing" {
			continue
		}
		single, _ := p["single"].([]any)
		pair, _ := p["pair"].([]any)
		var first, last string
		if len(single) > 1 {
			if first = specialID(single[0]); first != "" {
				if tc == nil {
					bos = first
				}
				sv.setAdd("bos", first == bos || first == cls)
			}
			if last = specialID(single[len(single)-1]); last != "" {
				if tc == nil {
					eos = last
				} else if last != eos {
					switch {
					case !sv.hasKind("eot"):
						sv.kinds = append(sv.kinds, "eot")
						tc["eot_token"] = eos
					case !sv.hasKind("eom"):
						sv.kinds = append(sv.kinds, "eom")
						tc["eom_token"] = eos
					}
					tc["eos_token"], eos = last, last
				}
				sv.setAdd("eos", last == eos)
			}
		}
		if len(pair) == 0 {
			continue
		}
		start, stop := 0, len(pair)
		if first != "" && specialID(pair[0]) == first {
			start = 1
		}
		if last != "" && specialID(pair[len(pair)-1]) == last {
			stop--
		}
		if start >= stop {
			continue
		}
		pair = pair[start:stop]
		a, b := seqID(pair[0]), seqID(pair[len(pair)-1])
		if a != "A" || b != "B" || len(pair) <= 2 {
			continue
		}
		mid := pair[1 : len(pair)-1]
		addSep := false
		if e := specialID(mid[0]); e != "" && (e == sep || e == eos) && last == "" {
			addSep = true
		}
		if len(mid) == 2 {
			if e := specialID(mid[1]); e != "" && (e == sep || e == eos) {
				addSep = true
			}
		}
		sv.setAdd("sep", addSep)
		if addSep && sep == "" && tc != nil {
			tc["sep_token"] = eos
		}
	}
}

// firstOf returns the first element of a ["token", id] pair, or def.
func firstOf(v any, def string) string {
	if l, ok := v.([]any); ok && len(l) > 0 {
		if s, ok := l[0].(string); ok {
			return s
		}
	}
	return def
}

func (sv *specialVocab) fromConfigJSON(cfg jsonObject) {
	if cfg == nil {
		return
	}
	text := cfg.object("text_config")
	for _, kind := range sv.kinds {
		v, ok := cfg[kind+"_token_id"]
		if (!ok || v == nil) && text != nil {
			v = text[kind+"_token_id"]
		}
		sv.setID(kind, v)
	}
}

// normalizerLowercases reports a Lowercase normalizer, alone, as a
// BertNormalizer option, or inside a Sequence.
func normalizerLowercases(n jsonObject) bool {
	switch typ, _ := n.str("type"); typ {
	case "Lowercase":
		return true
	case "BertNormalizer":
		b, ok := n.boolean("lowercase")
		return b || !ok
	case "Sequence":
		list, _ := n["normalizers"].([]any)
		for _, it := range list {
			if m, ok := it.(map[string]any); ok && normalizerLowercases(m) {
				return true
			}
		}
	}
	return false
}

// chatTemplateFiles reads chat_template.jinja (plus
// additional_chat_templates/*.jinja as named templates) or
// chat_template.json, as SpecialVocab does when tokenizer_config.json has no
// chat_template.
func chatTemplateFiles(dir string) (any, error) {
	data, err := readSmallFile(filepath.Join(dir, "chat_template.jinja"), safeio.TokenizerLimit)
	if err != nil {
		return nil, err
	}
	if data != nil {
		extra, _ := filepath.Glob(filepath.Join(dir, "additional_chat_templates", "*.jinja"))
		if len(extra) == 0 {
			return string(data), nil
		}
		sort.Strings(extra)
		list := []any{map[string]any{"name": "default", "template": string(data)}}
		for _, p := range extra {
			b, err := readSmallFile(p, safeio.TokenizerLimit)
			if err != nil {
				return nil, err
			}
			name := strings.TrimSuffix(filepath.Base(p), ".jinja")
			list = append(list, map[string]any{"name": name, "template": string(b)})
		}
		return list, nil
	}
	obj, err := readJSONObject(dir, "chat_template.json")
	if err != nil || obj == nil {
		return nil, err
	}
	return obj["chat_template"], nil
}
