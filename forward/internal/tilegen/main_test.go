package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestGeneratedUpToDate fails when tile_amd64.s differs from what the
// generator writes (run go generate ./forward).
func TestGeneratedUpToDate(t *testing.T) {
	have, err := os.ReadFile("../../tile_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != generate() {
		t.Error("forward/tile_amd64.s is out of date: run go generate ./forward")
	}
}

// TestEVEX checks the hand-encoded instructions against GNU as's
// encodings of the same instructions.
func TestEVEX(t *testing.T) {
	for _, c := range []struct {
		got  []byte
		want string
	}{
		{vdpbf16ps(0, 26, 24), "62922e4052c0"},  // vdpbf16ps %zmm24,%zmm26,%zmm0
		{vdpbf16ps(23, 27, 25), "6282264052f9"}, // vdpbf16ps %zmm25,%zmm27,%zmm23
		{vdpbf16ps(5, 24, 26), "62923e4052ea"},  // vdpbf16ps %zmm26,%zmm24,%zmm5
		{vcvtneps2bf16(3, 16), "62b27e4872d8"},  // vcvtneps2bf16 %zmm16,%ymm3
		{vcvtneps2bf16(7, 31), "62927e4872ff"},  // vcvtneps2bf16 %zmm31,%ymm7
	} {
		if got, want := fmt.Sprintf("%x", c.got), strings.ReplaceAll(c.want, " ", ""); got != want {
			t.Errorf("encoded %s, want %s", got, want)
		}
	}
}
