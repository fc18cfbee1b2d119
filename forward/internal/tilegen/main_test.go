package main

import (
	"os"
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
