package inspect

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mxq-dev/mxq/internal/safetext"
)

// WriteText renders the report as plain-text tables. Byte figures are in
// GB = 10^9 bytes unless a unit is printed next to them.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	t := &textWriter{w: bw}
	if r.Arch != nil || r.Survey != nil {
		r.writeArch(t)
		return bw.Flush()
	}
	if r.Config == nil {
		t.printf("Source  %s (%s): no model mxq can account for; metadata only\n", r.Source.Path, r.Source.Kind)
		t.checkpoint(r)
		t.findings(r)
		return bw.Flush()
	}
	t.header(r)
	t.params(r)
	t.naive(r)
	t.reference(r)
	if r.Settings.Layers {
		t.layers(r)
	}
	t.checkpoint(r)
	t.memory(r)
	t.findings(r)
	return bw.Flush()
}

// WriteMemoryText renders only the memory section (weights, KV cache,
// compute buffer, GPU fit, expert offload), as quantize --dry-run prints it.
func (r *Report) WriteMemoryText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	(&textWriter{w: bw}).memory(r)
	return bw.Flush()
}

type textWriter struct {
	w *bufio.Writer
}

// printf formats like fmt.Printf; string arguments (tensor names, keys,
// paths) have their control characters escaped.
func (t *textWriter) printf(format string, args ...any) {
	fmt.Fprintf(t.w, format, safetext.Args(args)...)
}

func (t *textWriter) section(title string) { t.printf("\n%s\n", title) }

// table collects rows and prints them with the first column left-aligned
// and the others right-aligned, two spaces apart, indented by two.
type table struct {
	rows [][]string
}

// row adds a row; cells with control characters are escaped first, so
// that widths are those printed.
func (tb *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = safetext.Name(c)
	}
	tb.rows = append(tb.rows, cells)
}

func (t *textWriter) flush(tb *table) { t.flushTable(tb, true) }

// flushLeft prints a table with every column left-aligned.
func (t *textWriter) flushLeft(tb *table) { t.flushTable(tb, false) }

func (t *textWriter) flushTable(tb *table, rightAlign bool) {
	var width []int
	for _, r := range tb.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range tb.rows {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			case rightAlign:
				b.WriteString("  " + pad + c)
			default:
				b.WriteString("  " + c + pad)
			}
		}
		t.printf("%s\n", strings.TrimRight(b.String(), " "))
	}
}

// wrap prints text wrapped at about 100 columns: the first line starts
// with first, the others with an indent of the same width.
func (t *textWriter) wrap(first, text string) {
	indent := strings.Repeat(" ", utf8.RuneCountInString(first))
	line, prefix := first, first
	for _, word := range strings.Fields(safetext.Line(text)) {
		if len(line) > len(prefix) && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > 100 {
			t.printf("%s\n", line)
			line, prefix = indent, indent
		}
		if len(line) > len(prefix) {
			line += " "
		}
		line += word
	}
	if len(line) > len(prefix) {
		t.printf("%s\n", line)
	}
}

func (t *textWriter) header(r *Report) {
	c := r.Config
	t.printf("Model   %s (model_type %s), config from %s\n", c.Architecture, c.ModelType, r.ConfigOrigin)
	src := r.Source.Kind
	if r.Source.IndexPath != "" {
		src += ", index " + r.Source.IndexPath
	}
	t.printf("Source  %s (%s)\n", r.Source.Path, src)
	experts := "dense"
	if c.IsMoE() {
		experts = fmt.Sprintf("%d experts, top-%d", c.NumExperts, c.ExpertsPerToken)
	}
	ffn := "FFN " + commas(int64(c.IntermediateSize))
	if c.IsMoE() && c.ExpertIntermediateSize > 0 {
		ffn = "expert FFN " + commas(int64(c.ExpertIntermediateSize))
	}
	t.printf("Shape   %d layers, hidden %s, %d heads (%d KV, head_dim %d), %s, %s, vocab %s, context %s\n",
		c.NumLayers, commas(int64(c.HiddenSize)), c.NumHeads, c.NumKVHeads, c.HeadDim, experts,
		ffn, commas(int64(c.VocabSize)), commas(int64(c.MaxPositionEmbeddings)))
}

func (t *textWriter) params(r *Report) {
	p := r.Params
	from := "from the config"
	if p.CountedFrom == "tensors" {
		from = "from the tensors, cross-checked against " + r.ConfigOrigin
	}
	t.section(fmt.Sprintf("PARAMETERS (counted %s)", from))
	g := p.ByGroup
	tb := &table{}
	tb.row("part", "params", "", "share")
	row := func(name string, n int64) { tb.row(name, commas(n), short(n), pct(n, p.Total)) }
	row("embedding", g.Embedding)
	row("attention (q, k, v, o)", g.Attention)
	row("norms", g.Norms)
	if p.NumExperts > 1 {
		row("router", g.Router)
		row(fmt.Sprintf("experts (%d per layer)", p.NumExperts), g.Experts)
	} else {
		row("MLP", g.DenseFFN)
	}
	row("output head", g.OutputHead)
	if g.Unknown != 0 {
		row("unrecognized", g.Unknown)
	}
	row("total", p.Total)
	tb.row("")
	row("shared (used by every token)", p.Shared)
	if p.NumExperts > 1 {
		row("experts, all layers", p.Experts)
		row("one expert, one layer", p.PerExpertPerLayer)
		row("one expert, all layers", p.ExpertAcrossLayers)
	}
	row(fmt.Sprintf("active per token (top-%d)", p.ExpertsPerToken), p.Active)
	row("active, excluding the embedding lookup", p.ActiveExcludingEmbedding)
	t.flush(tb)
	if p.CountedFrom == "tensors" && (p.ConfigTotal != p.Total || p.ConfigActive != p.Active) {
		t.printf("  %s implies total %s and active %s: see FINDINGS\n", r.ConfigOrigin, commas(p.ConfigTotal), commas(p.ConfigActive))
	}
}

func (t *textWriter) naive(r *Report) {
	v := r.Naive
	if v == nil {
		return
	}
	t.section(fmt.Sprintf("WHY \"%d × %s\" IS NOT %s", v.NumExperts, short(v.DenseEquivalent), short(v.NaiveTotal)))
	tb := &table{}
	tb.row("shared + one expert per layer (a dense equivalent)", commas(v.DenseEquivalent), short(v.DenseEquivalent))
	tb.row(fmt.Sprintf("naive %d × that", v.NumExperts), commas(v.NaiveTotal), short(v.NaiveTotal))
	tb.row("real total", commas(v.RealTotal), short(v.RealTotal))
	tb.row(fmt.Sprintf("overcount = %d × shared", v.NumExperts-1), commas(v.Overcount), short(v.Overcount))
	t.flush(tb)
	t.wrap("  ", v.Explanation)
}

func (t *textWriter) reference(r *Report) {
	f := r.Reference
	t.section("THE SAME MODEL AS OTHER TOOLS COUNT IT")
	tb := &table{}
	tb.row("transformers num_parameters(exclude_embeddings=True): total - embedding", commas(f.TransformersExcludingEmbeddings), "params")
	tb.row("accelerate estimate-memory (AutoModel, no lm_head): total - output head", commas(f.AccelerateEstimateMemoryParams), "params")
	tb.row("fp32 weights, 4 bytes per parameter", commas(f.FP32Bytes), "bytes")
	tb.row("accelerate calculate_maximum_sizes (causal LM): fp32 + rotary buffers", commas(f.FP32Bytes+f.RotaryBufferBytes), "bytes")
	tb.row("largest decoder layer in fp32 (accelerate's \"largest layer\")", commas(f.LargestLayerFP32Bytes), "bytes")
	t.flush(tb)
}

func (t *textWriter) layers(r *Report) {
	t.section("PER LAYER (parameters)")
	moe := r.Params.NumExperts > 1
	tb := &table{}
	if moe {
		tb.row("layer", "attention", "norms", "router", "experts", "per expert", "total", "active")
	} else {
		tb.row("layer", "attention", "norms", "MLP", "total")
	}
	for _, l := range r.Params.Layers {
		if moe {
			tb.row(fmt.Sprint(l.Layer), commas(l.Attention), commas(l.Norms), commas(l.Router), commas(l.Experts),
				commas(l.PerExpert), commas(l.Total), commas(l.Active))
		} else {
			tb.row(fmt.Sprint(l.Layer), commas(l.Attention), commas(l.Norms), commas(l.DenseFFN), commas(l.Total))
		}
	}
	t.flush(tb)
}

func (t *textWriter) checkpoint(r *Report) {
	c := r.Checkpoint
	if c == nil {
		return
	}
	t.section("CHECKPOINT")
	t.printf("  %s: %d file(s), %d tensors (%d expected by the config)\n", c.Format, c.Files, c.Tensors, c.ExpectedTensors)
	t.printf("  tensor data %s bytes (%s); files %s bytes\n", commas(c.DataBytes), size(c.DataBytes), commas(c.FileBytes))
	if c.Quantization != "" {
		t.printf("  quantized %s: %.3f bits per weight with scales, zero points and biases; each weight counts as the parameters it holds\n", c.Quantization, c.BitsPerWeight)
	}
	if c.IndexTotalSize >= 0 {
		mark := "matches Σ elements × dtype size"
		if c.IndexTotalSize != c.DataBytes {
			mark = "DIFFERS from Σ elements × dtype size"
		}
		t.printf("  index total_size %s bytes: %s\n", commas(c.IndexTotalSize), mark)
	}
	if c.GGUFVersion != 0 {
		t.printf("  GGUF v%d, general.file_type %s, alignment %d\n", c.GGUFVersion, orDash(c.GGUFFileType), c.GGUFAlignment)
	}
	tb := &table{}
	tb.row("dtype", "tensors", "params", "bytes", "bits/weight")
	for _, d := range c.DTypes {
		tb.row(d.DType, fmt.Sprint(d.Tensors), commas(d.Params), commas(d.Bytes), fmt.Sprintf("%.3f", d.BitsPerWeight))
	}
	t.flush(tb)
	t.printf("  unrecognized tensors: %s\n", countOrNone(len(c.Unrecognized)))
	for _, u := range c.Unrecognized {
		t.printf("    %s %v %s: %s\n", u.Name, u.Shape, u.DType, u.Reason)
	}
	t.printf("  missing tensors: %s\n", countOrNone(len(c.Missing)))
	for i, m := range c.Missing {
		if i == 10 {
			t.printf("    … %d more\n", len(c.Missing)-10)
			break
		}
		t.printf("    %s\n", m)
	}
	t.printf("  shape mismatches: %s\n", countOrNone(len(c.ShapeMismatches)))
	for _, m := range c.ShapeMismatches {
		t.printf("    %s %v, expected %v\n", m.Name, m.Shape, m.Expected)
	}
	if len(c.GGUFMetadata) > 0 {
		t.section(fmt.Sprintf("GGUF METADATA (%d keys)", len(c.GGUFMetadata)))
		tb := &table{}
		for _, m := range c.GGUFMetadata {
			v := m.Value
			if m.Count > 0 {
				v = fmt.Sprintf("%d × %s", m.Count, v)
			}
			tb.row(m.Key, m.Type, v)
		}
		t.flushLeft(tb)
	}
}

func (t *textWriter) memory(r *Report) {
	m := r.Memory
	if m == nil {
		return
	}
	s := r.Settings
	t.section("MEMORY (1 GB = 10^9 bytes, 1 MB = 10^6 bytes)")
	tb := &table{}
	tb.row("weights", "kind", "bits/weight", "size", "of which experts", "token_embd")
	anyImatrix := false
	for _, w := range m.Weights {
		kind := w.Kind
		if w.NeedsImatrix {
			kind += "*"
			anyImatrix = true
		}
		tb.row(w.Name, kind, fmt.Sprintf("%.2f", w.BitsPerWeight), size(w.Bytes), size(w.ExpertBytes), size(w.TokenEmbdBytes))
	}
	t.flush(tb)
	if anyImatrix {
		t.printf("  * llama-quantize makes this file type only with an importance matrix (--imatrix); sizes are those of such a file\n")
	}
	t.printf("  type mix (tensors, size, true bits per weight including block scales):\n")
	for _, w := range m.Weights {
		if w.Kind == "plain" {
			continue
		}
		parts := make([]string, 0, len(w.Types))
		for _, ty := range w.Types {
			parts = append(parts, fmt.Sprintf("%s ×%d %s (%.2f)", ty.Type, ty.Tensors, size(ty.Bytes), ty.BitsPerWeight))
		}
		t.wrap("    "+w.Name+": ", strings.Join(parts, ", "))
	}

	k := m.KV
	t.printf("\n  KV cache: %s tokens × %d sequence(s), %s: %s bytes per token → %s\n",
		commas(int64(k.Context)), k.Sequences, k.Type, commas(k.BytesPerToken), size(k.Bytes))
	others := make([]string, 0, len(k.ByType))
	for _, o := range k.ByType {
		others = append(others, fmt.Sprintf("%s %s", o.Type, size(o.Bytes)))
	}
	t.printf("    by type: %s\n", strings.Join(others, ", "))
	t.wrap("    = ", k.Formula)

	c := m.Compute
	fa := "without flash attention"
	if c.FlashAttention {
		fa = "with flash attention"
	}
	t.printf("\n  Compute buffer (estimate, ubatch %d, %s): %s\n", c.UBatch, fa, size(c.Bytes))
	t.printf("    = inputs %s + max(attention %s, ffn %s) + logits %s\n", size(c.Inputs), size(c.Attention), size(c.FFN), size(c.Logits))

	t.printf("\n  Fit: weights + KV cache (%s, %s tokens) + compute buffer, in GB; GPUs needed per size\n",
		s.KVType, commas(int64(s.Context)))
	t.printf("  (1* = fits on one GPU; - = a single layer does not fit)\n")
	tb = &table{}
	head := []string{"weights", "one GPU needs", "CPU RAM"}
	for _, g := range s.GPUSizesGB {
		head = append(head, trimFloat(g)+" GB")
	}
	tb.row(head...)
	for _, f := range m.Fit {
		cells := []string{f.Weights, gb(f.GPUBytes), gb(f.CPUBytes)}
		for _, cell := range f.GPUs {
			switch {
			case cell.Needed == 0:
				cells = append(cells, "-")
			case cell.Fits:
				cells = append(cells, "1*")
			default:
				cells = append(cells, fmt.Sprint(cell.Needed))
			}
		}
		tb.row(cells...)
	}
	t.flush(tb)

	if o := m.Offload; o != nil {
		t.printf("\n  Expert offload, %s weights, in GB: llama.cpp --n-cpu-moe N keeps the experts of layers 0..N-1 in CPU RAM\n", o.Weights)
		tb = &table{}
		tb.row("--n-cpu-moe", "expert layers on GPU", "GPU", "CPU RAM")
		for _, st := range o.Steps {
			tb.row(fmt.Sprint(st.NCPUMoE), fmt.Sprint(st.ExpertLayersOnGPU), gb(st.GPUBytes), gb(st.CPUBytes))
		}
		t.flush(tb)
		t.printf("  smallest --n-cpu-moe for one GPU:\n")
		tb = &table{}
		tb.row("GPU", "--n-cpu-moe", "expert layers on GPU", "GPU", "CPU RAM")
		for _, f := range o.PerGPU {
			if !f.Fits {
				tb.row(trimFloat(f.SizeGB)+" GB", "none fits", "", gb(f.GPUBytes), gb(f.CPUBytes))
				continue
			}
			tb.row(trimFloat(f.SizeGB)+" GB", fmt.Sprint(f.NCPUMoE), fmt.Sprint(f.ExpertLayersOnGPU), gb(f.GPUBytes), gb(f.CPUBytes))
		}
		t.flush(tb)
	}
	t.printf("\n  Notes\n")
	for _, n := range m.Notes {
		t.wrap("  - ", n)
	}
}

func (t *textWriter) findings(r *Report) {
	t.section("FINDINGS")
	if len(r.Findings) == 0 {
		t.printf("  none\n")
		return
	}
	for _, f := range r.Findings {
		t.wrap("  ", fmt.Sprintf("[%s] %s: %s", f.Severity, f.Code, f.Message))
	}
}

func countOrNone(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", f), ".0") }
