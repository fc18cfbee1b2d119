package quantplan

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/model"
)

func mixtral(t testing.TB) *model.Config {
	t.Helper()
	c, err := model.LoadConfig("../testdata/mixtral-8x7b-meta/config.json")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// moreBits32 is use_more_bits(i, 32), as listed in formats.md §4.
var moreBits32 = []int{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}

// mixtralTable is formats.md §4's table: the type of each Mixtral-8x7B
// tensor kind per file type.
func mixtralTable(ft ggml.FileType, kind string, layer int) ggml.Type {
	def := ft.DefaultType()
	more := slices.Contains(moreBits32, layer)
	switch kind {
	case "attn_norm", "ffn_norm", "output_norm", "ffn_gate_inp":
		return ggml.F32
	case "output":
		if ft == ggml.FileTypeQ8_0 {
			return ggml.Q8_0
		}
		return ggml.Q6_K
	case "attn_k", "attn_v":
		return ggml.Q8_0
	case "attn_output":
		if ft == ggml.FileTypeQ4_K_M {
			return ggml.Q5_K
		}
		return def
	case "ffn_down_exps":
		if (ft == ggml.FileTypeQ4_K_M || ft == ggml.FileTypeQ5_K_M) && more {
			return ggml.Q6_K
		}
		return def
	}
	return def // token_embd, attn_q, ffn_gate_exps, ffn_up_exps
}

func kindOf(name string) string {
	name = strings.TrimSuffix(name, ".weight")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func TestMixtralPlans(t *testing.T) {
	c := mixtral(t)
	descs := FromConfig(c, ggml.F16)
	tests := []struct {
		ft    ggml.FileType
		bytes int64
	}{
		{ggml.FileTypeQ8_0, 49_625_579_520},
		{ggml.FileTypeQ6_K, 38_380_077_056},
		{ggml.FileTypeQ5_K_M, 33_228_840_960},
		{ggml.FileTypeQ4_K_M, 28_447_727_616},
		{ggml.FileTypeQ4_0, 26_442_850_304},
	}
	for _, tt := range tests {
		t.Run(tt.ft.String(), func(t *testing.T) {
			p, err := Build(tt.ft, descs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Bytes != tt.bytes {
				t.Errorf("tensor data %d bytes, want %d", p.Bytes, tt.bytes)
			}
			if p.Elements != 46_702_792_704 {
				t.Errorf("%d elements", p.Elements)
			}
			for _, pt := range p.Tensors {
				if want := mixtralTable(tt.ft, kindOf(pt.Name), pt.Layer); pt.Type != want {
					t.Errorf("%s: %v (%s), want %v", pt.Name, pt.Type, pt.Rule, want)
				}
			}
		})
	}
}

func TestMixtralF16Size(t *testing.T) {
	p, err := Build(ggml.FileTypeMostlyF16, FromConfig(mixtral(t), ggml.F16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Bytes != 93_408_215_040 {
		t.Errorf("F16: %d bytes", p.Bytes)
	}
	// BF16 from an F16 file: matrices convert, norms and router stay F32.
	p, err = Build(ggml.FileTypeBF16, FromConfig(mixtral(t), ggml.F16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Bytes != 93_408_215_040 || len(p.ByType) != 2 || p.ByType[0].Type != ggml.BF16 {
		t.Errorf("BF16: %d bytes, %+v", p.Bytes, p.ByType)
	}
}

func TestQ4KMMixtralRulesAndBPW(t *testing.T) {
	p, err := Build(ggml.FileTypeQ4_K_M, FromConfig(mixtral(t), ggml.F16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[ggml.Type]int{ggml.Q4_K: 1 + 32 + 32*2 + 16, ggml.Q6_K: 1 + 16, ggml.Q8_0: 64, ggml.Q5_K: 32, ggml.F32: 32*3 + 1}
	for _, tt := range p.ByType {
		if tt.Tensors != want[tt.Type] {
			t.Errorf("%v: %d tensors, want %d", tt.Type, tt.Tensors, want[tt.Type])
		}
		if tt.BitsPerWeight != tt.Type.BitsPerWeight() {
			t.Errorf("%v: bpw %g", tt.Type, tt.BitsPerWeight)
		}
	}
	if got := p.BitsPerWeight; got < 4.87 || got >= 4.88 {
		t.Errorf("effective bpw %.4f, want 4.87…", got)
	}
	rules := map[string]string{
		"blk.0.attn_k.weight":         "8 experts: attn_k → Q8_0",
		"blk.0.attn_v.weight":         "8 experts: attn_v → Q8_0",
		"blk.0.attn_output.weight":    "8 experts, Q4_K_M: attn_output → Q5_K",
		"blk.3.ffn_down_exps.weight":  "Q4_K_M, use_more_bits(layer 3 of 32): ffn_down → Q6_K",
		"blk.4.ffn_down_exps.weight":  "Q4_K_M: default type Q4_K",
		"output.weight":               "output tensor → Q6_K",
		"blk.0.ffn_gate_inp.weight":   "router (ffn_gate_inp): not quantized, kept F32",
		"blk.0.attn_norm.weight":      "1-D tensor: not quantized, kept F32",
		"blk.31.ffn_up_exps.weight":   "Q4_K_M: default type Q4_K",
		"blk.31.ffn_gate_exps.weight": "Q4_K_M: default type Q4_K",
	}
	for _, pt := range p.Tensors {
		if r, ok := rules[pt.Name]; ok && pt.Rule != r {
			t.Errorf("%s: rule %q, want %q", pt.Name, pt.Rule, r)
		}
	}
}

func TestUseMoreBits(t *testing.T) {
	var got []int
	for i := 0; i < 32; i++ {
		if useMoreBits(i, 32) {
			got = append(got, i)
		}
	}
	if !slices.Equal(got, moreBits32) {
		t.Errorf("use_more_bits(·, 32) = %v", got)
	}
	// n = 2 (tiny-mixtral): n/8 = 0, 7n/8 = 1, so only layer 1 gets more.
	if useMoreBits(0, 2) || !useMoreBits(1, 2) {
		t.Error("use_more_bits for 2 layers")
	}
}

func desc(name string, dims ...uint64) TensorDesc {
	return TensorDesc{Name: name, Dims: dims, Layer: layerFromName(name), NExpert: 0, NLayer: 32, Source: ggml.F16, GQA: 4}
}

func layerFromName(name string) int {
	var l int
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	for _, ch := range rest {
		if ch < '0' || ch > '9' {
			break
		}
		l = l*10 + int(ch-'0')
	}
	return l
}

// Dense llama rules: the branches the 8-expert tests never reach.
func TestDenseRules(t *testing.T) {
	type tc struct {
		ft   ggml.FileType
		d    TensorDesc
		want ggml.Type
	}
	q := func(ft ggml.FileType, d TensorDesc, want ggml.Type) tc { return tc{ft, d, want} }
	v := func(l int) TensorDesc { d := desc("blk.0.attn_v.weight", 4096, 1024); d.Layer = l; return d }
	down := func(l int) TensorDesc { d := desc("blk.0.ffn_down.weight", 14336, 4096); d.Layer = l; return d }
	ao := desc("blk.5.attn_output.weight", 4096, 4096)
	tests := []tc{
		q(ggml.FileTypeQ4_K_M, v(0), ggml.Q6_K),
		q(ggml.FileTypeQ4_K_M, v(4), ggml.Q4_K),
		q(ggml.FileTypeQ4_K_M, v(6), ggml.Q6_K),
		q(ggml.FileTypeQ5_K_M, v(6), ggml.Q6_K),
		q(ggml.FileTypeQ5_K_M, v(7), ggml.Q5_K),
		q(ggml.FileTypeQ4_K_S, v(3), ggml.Q5_K),
		q(ggml.FileTypeQ4_K_S, v(4), ggml.Q4_K),
		q(ggml.FileTypeQ3_K_M, v(1), ggml.Q5_K),
		q(ggml.FileTypeQ3_K_M, v(2), ggml.Q4_K),
		q(ggml.FileTypeQ3_K_L, v(9), ggml.Q5_K),
		q(ggml.FileTypeQ3_K_S, v(9), ggml.Q3_K),
		q(ggml.FileTypeQ2_K, v(9), ggml.Q4_K), // GQA 4
		q(ggml.FileTypeQ4_K_M, down(0), ggml.Q6_K),
		q(ggml.FileTypeQ4_K_M, down(4), ggml.Q4_K),
		q(ggml.FileTypeQ5_K_M, down(4), ggml.Q5_K),
		q(ggml.FileTypeQ4_K_S, down(3), ggml.Q5_K),
		q(ggml.FileTypeQ4_K_S, down(4), ggml.Q4_K),
		q(ggml.FileTypeQ3_K_M, down(1), ggml.Q5_K),
		q(ggml.FileTypeQ3_K_M, down(2), ggml.Q4_K),
		q(ggml.FileTypeQ3_K_L, down(20), ggml.Q5_K),
		q(ggml.FileTypeQ3_K_S, down(20), ggml.Q3_K),
		q(ggml.FileTypeQ2_K, down(20), ggml.Q3_K),
		q(ggml.FileTypeQ4_0, down(0), ggml.Q4_0), // no imatrix
		q(ggml.FileTypeQ4_1, down(0), ggml.Q4_1),
		q(ggml.FileTypeQ5_0, down(0), ggml.Q5_0),
		q(ggml.FileTypeQ5_1, down(0), ggml.Q5_1),
		q(ggml.FileTypeQ2_K, ao, ggml.Q3_K),
		q(ggml.FileTypeQ3_K_M, ao, ggml.Q4_K),
		q(ggml.FileTypeQ3_K_L, ao, ggml.Q5_K),
		q(ggml.FileTypeQ4_K_M, ao, ggml.Q4_K), // Q5_K only with 8 experts
		q(ggml.FileTypeQ4_K_M, desc("blk.0.attn_k.weight", 4096, 1024), ggml.Q4_K),
		q(ggml.FileTypeQ4_K_M, desc("blk.0.attn_q.weight", 4096, 4096), ggml.Q4_K),
		q(ggml.FileTypeQ4_K_M, desc("token_embd.weight", 4096, 32000), ggml.Q4_K),
		q(ggml.FileTypeQ4_0, desc("output.weight", 4096, 32000), ggml.Q6_K),
		q(ggml.FileTypeQ5_1, desc("output.weight", 4096, 32000), ggml.Q6_K),
		q(ggml.FileTypeQ6_K, desc("output.weight", 4096, 32000), ggml.Q6_K),
		q(ggml.FileTypeQ8_0, desc("output.weight", 4096, 32000), ggml.Q8_0),
		q(ggml.FileTypeQ2_K, desc("output.weight", 4096, 32000), ggml.Q6_K),
		q(ggml.FileTypeMostlyF16, desc("output.weight", 4096, 32000), ggml.F16),
		q(ggml.FileTypeAllF32, desc("blk.0.attn_q.weight", 4096, 4096), ggml.F32),
		q(ggml.FileTypeQ5_K_S, desc("blk.0.attn_v.weight", 4096, 1024), ggml.Q5_K),
		q(ggml.FileTypeQ4_K_M, desc("blk.0.ffn_norm.weight", 4096), ggml.F16), // keeps its source type
	}
	for _, tt := range tests {
		got, rule := TypeFor(tt.ft, tt.d, Options{})
		if got != tt.want {
			t.Errorf("%v %s (layer %d): %v (%s), want %v", tt.ft, tt.d.Name, tt.d.Layer, got, rule, tt.want)
		}
	}
}

func TestSeventyBAttnV(t *testing.T) {
	d := TensorDesc{Name: "blk.11.attn_v.weight", Dims: []uint64{8192, 1024}, Layer: 11, NLayer: 80, GQA: 8, Source: ggml.F16}
	if got, _ := TypeFor(ggml.FileTypeQ4_K_M, d, Options{}); got != ggml.Q5_K {
		t.Errorf("70B attn_v Q4_K_M layer 11: %v, want Q5_K", got)
	}
	d.Layer = 0
	if got, _ := TypeFor(ggml.FileTypeQ4_K_M, d, Options{}); got != ggml.Q6_K {
		t.Errorf("70B attn_v Q4_K_M layer 0: %v, want Q6_K", got)
	}
	d.GQA = 1 // 65B: no bump
	d.Layer = 11
	if got, _ := TypeFor(ggml.FileTypeQ4_K_M, d, Options{}); got != ggml.Q4_K {
		t.Errorf("65B attn_v: %v, want Q4_K", got)
	}
}

func TestOptions(t *testing.T) {
	c := mixtral(t)
	descs := FromConfig(c, ggml.F16)
	find := func(p *Plan, name string) Planned {
		for _, pt := range p.Tensors {
			if pt.Name == name {
				return pt
			}
		}
		t.Fatalf("%s not planned", name)
		return Planned{}
	}
	q8 := ggml.Q8_0
	f16 := ggml.F16
	tests := []struct {
		name string
		opts Options
		want map[string]ggml.Type
	}{
		{"pure", Options{Pure: true}, map[string]ggml.Type{
			"output.weight": ggml.Q4_K, "blk.0.attn_k.weight": ggml.Q4_K, "blk.0.ffn_down_exps.weight": ggml.Q4_K,
			"blk.0.attn_norm.weight": ggml.F32, "blk.0.ffn_gate_inp.weight": ggml.F32}},
		{"leave output", Options{LeaveOutput: true}, map[string]ggml.Type{"output.weight": ggml.F16, "token_embd.weight": ggml.Q4_K}},
		{"output and embedding types", Options{OutputType: &q8, TokenEmbeddingType: &f16}, map[string]ggml.Type{
			"output.weight": ggml.Q8_0, "token_embd.weight": ggml.F16}},
		{"overrides, first wins", Options{Overrides: []Override{
			{regexp.MustCompile(`ffn_down_exps`), ggml.Q3_K},
			{regexp.MustCompile(`blk\.0\.`), ggml.Q8_0},
		}}, map[string]ggml.Type{
			"blk.0.ffn_down_exps.weight": ggml.Q3_K, "blk.0.attn_q.weight": ggml.Q8_0,
			"blk.1.attn_q.weight": ggml.Q4_K, "blk.0.attn_norm.weight": ggml.F32}},
		{"tied embeddings", Options{TiedEmbeddings: true}, map[string]ggml.Type{"token_embd.weight": ggml.Q6_K}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Build(ggml.FileTypeQ4_K_M, descs, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for n, want := range tt.want {
				if pt := find(p, n); pt.Type != want {
					t.Errorf("%s: %v (%s), want %v", n, pt.Type, pt.Rule, want)
				}
			}
		})
	}
	// Overrides only apply to quantized file types, as in llama-quantize.
	got, _ := TypeFor(ggml.FileTypeMostlyF16, descs[2], Options{Overrides: []Override{{regexp.MustCompile(`.`), ggml.Q8_0}}})
	if got != ggml.F16 {
		t.Errorf("override of %s under F16: %v", descs[2].Name, got)
	}
}

func TestFallback(t *testing.T) {
	tests := []struct {
		ft   ggml.FileType
		ne0  uint64
		want ggml.Type
		err  bool
	}{
		{ggml.FileTypeQ4_K_M, 4096, ggml.Q4_K, false},
		{ggml.FileTypeQ4_K_M, 96, ggml.Q5_0, false},
		{ggml.FileTypeQ5_K_S, 96, ggml.Q5_1, false},
		{ggml.FileTypeQ6_K, 96, ggml.Q8_0, false},
		{ggml.FileTypeQ3_K_S, 96, ggml.Q4_0, false},
		{ggml.FileTypeQ2_K, 96, ggml.Q4_0, false},
		{ggml.FileTypeQ4_K_M, 100, ggml.F16, false},
		{ggml.FileTypeQ4_0, 100, 0, true},
		{ggml.FileTypeQ8_0, 100, 0, true},
	}
	for _, tt := range tests {
		d := TensorDesc{Name: "blk.5.attn_q.weight", Dims: []uint64{tt.ne0, 64}, Layer: 5, NLayer: 32, Source: ggml.F16}
		dec, err := Decide(tt.ft, d, Options{})
		if tt.err {
			if err == nil {
				t.Errorf("%v ne0 %d: no error, got %v", tt.ft, tt.ne0, dec.Type)
			}
			if typ, rule := TypeFor(tt.ft, d, Options{}); typ != ggml.F16 || !strings.HasPrefix(rule, "error: ") {
				t.Errorf("TypeFor on failure: %v %q", typ, rule)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v ne0 %d: %v", tt.ft, tt.ne0, err)
			continue
		}
		if dec.Type != tt.want || dec.Fallback != (tt.want != tt.ft.DefaultType()) {
			t.Errorf("%v ne0 %d: %v fallback=%v (%s), want %v", tt.ft, tt.ne0, dec.Type, dec.Fallback, dec.Rule, tt.want)
		}
	}
	// The output tensor's own shape rule comes first: Q8_0 instead of Q6_K.
	d := TensorDesc{Name: "output.weight", Dims: []uint64{96, 1000}, Layer: -1, NLayer: 2, Source: ggml.F16}
	if got, rule := TypeFor(ggml.FileTypeQ4_K_M, d, Options{}); got != ggml.Q8_0 {
		t.Errorf("output with 96 columns: %v (%s)", got, rule)
	}
}

func TestErrors(t *testing.T) {
	ok := TensorDesc{Name: "blk.0.ffn_down_exps.weight", Dims: []uint64{512, 256, 8}, Layer: 0, NExpert: 8, NLayer: 2, Source: ggml.F16}
	tests := []struct {
		name string
		ft   ggml.FileType
		d    TensorDesc
		opts Options
	}{
		{"unsupported file type", ggml.FileType(99), ok, Options{}},
		{"no dims", ggml.FileTypeQ4_K_M, TensorDesc{Name: "x.weight"}, Options{}},
		{"expert layer not in name", ggml.FileTypeQ4_K_M, TensorDesc{Name: "ffn_down_exps.weight", Dims: []uint64{512, 256, 8}, NExpert: 8, NLayer: 2}, Options{}},
		{"expert layer out of range", ggml.FileTypeQ4_K_M, TensorDesc{Name: "blk.2.ffn_up_exps.weight", Dims: []uint64{256, 512, 8}, NExpert: 8, NLayer: 2}, Options{}},
		{"Q2_K_S without imatrix", ggml.FileTypeQ2_K_S, TensorDesc{Name: "blk.1.attn_q.weight", Dims: []uint64{256, 256}, Layer: 1, NLayer: 2}, Options{}},
	}
	for _, tt := range tests {
		if _, err := Decide(tt.ft, tt.d, tt.opts); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := Decide(ggml.FileTypeQ2_K_S, tests[4].d, Options{Imatrix: true}); err != nil {
		t.Errorf("Q2_K_S with imatrix: %v", err)
	}
	if _, err := Decide(ggml.FileTypeQ4_K_M, ok, Options{}); err != nil {
		t.Errorf("valid tensor: %v", err)
	}
	if _, err := Build(ggml.FileTypeQ4_0, []TensorDesc{{Name: "blk.0.attn_q.weight", Dims: []uint64{100, 4}, NLayer: 1}}, Options{}); err == nil {
		t.Error("Build ignored a failing tensor")
	}
}

func TestImatrixFFNDown(t *testing.T) {
	d := TensorDesc{Name: "blk.1.ffn_down.weight", Dims: []uint64{14336, 4096}, Layer: 1, NLayer: 32, Source: ggml.F16}
	for ft, want := range map[ggml.FileType]ggml.Type{ggml.FileTypeQ4_0: ggml.Q4_1, ggml.FileTypeQ5_0: ggml.Q5_1} {
		if got, _ := TypeFor(ft, d, Options{Imatrix: true}); got != want {
			t.Errorf("%v with imatrix: %v, want %v", ft, got, want)
		}
	}
}

func TestTensorBytes(t *testing.T) {
	tests := []struct {
		typ  ggml.Type
		dims []uint64
		want int64
		err  bool
	}{
		{ggml.Q4_K, []uint64{4096, 14336, 8}, 4096 / 256 * 144 * 14336 * 8, false},
		{ggml.Q8_0, []uint64{4096, 1024}, 4096 / 32 * 34 * 1024, false},
		{ggml.F32, []uint64{4096}, 16384, false},
		{ggml.Q4_K, []uint64{100, 2}, 0, true},
		{ggml.F16, []uint64{1 << 40, 1 << 40}, 0, true},
		{ggml.F16, nil, 0, true},
	}
	for _, tt := range tests {
		got, err := TensorBytes(tt.typ, tt.dims)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("TensorBytes(%v, %v) = %d, %v; want %d (error %v)", tt.typ, tt.dims, got, err, tt.want, tt.err)
		}
	}
}

func TestSupportedHaveRules(t *testing.T) {
	c := mixtral(t)
	for _, ft := range Supported() {
		opts := Options{Imatrix: ft == ggml.FileTypeQ2_K_S || isIQGridFileType(ft)}
		p, err := Build(ft, FromConfig(c, ggml.F16), opts)
		if err != nil {
			t.Errorf("%v: %v", ft, err)
			continue
		}
		for _, pt := range p.Tensors {
			if pt.Rule == "" {
				t.Errorf("%v %s: empty rule", ft, pt.Name)
			}
		}
	}
}

func FuzzDecide(f *testing.F) {
	for _, d := range FromConfig(mixtral(f), ggml.F16)[:14] {
		f.Add(d.Name, d.Dims[0], uint64(2), d.Layer, 8, 32, uint32(ggml.FileTypeQ4_K_M))
	}
	f.Add("blk.9999999999999999999.ffn_down_exps.weight", uint64(256), uint64(1), 0, 8, 32, uint32(ggml.FileTypeQ3_K_M))
	f.Fuzz(func(t *testing.T, name string, ne0, ne1 uint64, layer, nexp, nlayer int, ft uint32) {
		d := TensorDesc{Name: name, Dims: []uint64{ne0, ne1}, Layer: layer, NExpert: nexp, NLayer: nlayer, Source: ggml.F16}
		dec, err := Decide(ggml.FileType(ft), d, Options{})
		if err != nil {
			return
		}
		if !dec.Type.Known() || dec.Rule == "" {
			t.Fatalf("%+v -> %+v", d, dec)
		}
		if dec.Quantizable && ne0%uint64(dec.Type.BlockSize()) != 0 {
			t.Fatalf("%+v -> %v does not fit the row length", d, dec.Type)
		}
	})
}
