package tokenizer

import (
	"strings"
	"testing"
)

func BenchmarkEncodeMixtral(b *testing.B) {
	v := mustLoad(b, mixtralDir, 32000)
	text := strings.Repeat("Mixtral-8x7b has 46.7B parameters, not 56B. Ünïcödé — “quotes” 中文 🤖 ", 20)
	v.Encode("warm", false)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		v.Encode(text, true)
	}
}

func BenchmarkLoadMixtral(b *testing.B) {
	for b.Loop() {
		mustLoad(b, mixtralDir, 32000)
	}
}
