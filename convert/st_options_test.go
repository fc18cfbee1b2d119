package convert

import (
	"testing"

	"github.com/mxq-dev/mxq/formats/safetensors"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"5GB", 5_000_000_000}, // huggingface_hub's default, powers of ten
		{"5gb", 5_000_000_000 / 8},
		{"5Gb", 5_000_000_000 / 8}, // a lower-case b counts bits, as in transformers
		{"500MB", 500_000_000},
		{"2GiB", 2 << 30},
		{"512 MiB", 512 << 20},
		{"1.5GB", 1_500_000_000},
		{"10KB", 10_000},
		{"123456", 123456},
		{"64b", 64},
		{"1TB", 1_000_000_000_000},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "GB", "-5GB", "0", "five", "5XB", "NaN", "1e30GB", "5 G B", "0.001kb", "Inf"} {
		if n, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, n)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"5GB", "5Gb", "2GiB", "1.5MB", "123", "", "-1", "1e400KB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n <= 0 {
			t.Errorf("ParseSize(%q) = %d without an error", s, n)
		}
	})
}

func TestParseDType(t *testing.T) {
	for in, want := range map[string]safetensors.DType{"bf16": safetensors.BF16, "BFloat16": safetensors.BF16, "fp16": safetensors.F16, "f16": safetensors.F16, "float16": safetensors.F16, "fp32": safetensors.F32} {
		if got, err := ParseDType(in); err != nil || got != want {
			t.Errorf("ParseDType(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fp8", "int4", "bf"} {
		if _, err := ParseDType(bad); err == nil {
			t.Errorf("ParseDType(%q) succeeded", bad)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		bits int
		want string
	}{
		{1e6, 32, "1000000.0"},
		{float64(float32(1e-5)), 32, "1e-05"},
		{1e-5, 64, "1e-05"},
		{0.02, 64, "0.02"},
		{0, 64, "0.0"},
		{0.0001, 64, "0.0001"},
		{1e16, 64, "1e+16"},
		{123456789012345.0, 64, "123456789012345.0"},
		{-2.5e-7, 64, "-2.5e-07"},
		{float64(float32(0.1)), 32, "0.1"},
	} {
		if got := pyFloat(tc.v, tc.bits); string(got) != tc.want {
			t.Errorf("pyFloat(%g, %d) = %s, want %s", tc.v, tc.bits, got, tc.want)
		}
	}
}
