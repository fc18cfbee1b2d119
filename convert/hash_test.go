package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fileSHA256 hashes the whole file in blocks and stops when cancelled.
func TestFileSHA256(t *testing.T) {
	data := make([]byte, 20<<20+123) // more than two blocks
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := sha256.Sum256(data)
	if got, err := fileSHA256(context.Background(), f); err != nil || got != hex.EncodeToString(want[:]) {
		t.Errorf("digest %s, %v; want %x", got, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fileSHA256(ctx, f); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
