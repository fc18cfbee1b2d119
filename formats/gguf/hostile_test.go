package gguf

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxq-dev/mxq/internal/hostile"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// Headers whose claims fit the file's apparent size but not memory are
// refused against the metadata budget, at the first entry past it, with
// no more allocated than the budget.
func TestHostileMetadataIsBounded(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		write func(path string) error
		want  string
	}{
		{"sparse file claiming 2^33 KVs", func(p string) error { return hostile.GGUFClaimedKVs(p, 1<<33, 1<<37) }, "8589934592 metadata pairs"},
		{"400k small KVs", func(p string) error { return hostile.GGUFManyKVs(p, 400_000) }, "400000 metadata pairs"},
		{"sparse 1 MiB strings", func(p string) error { return hostile.GGUFLongStrings(p, 80, 1<<20) }, `key "s`},
		{"sparse array of 2^23 strings", func(p string) error { return hostile.GGUFEmptyStrings(p, 1<<23) }, "array of 8388608 string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".gguf")
			if err := c.write(path); err != nil {
				t.Fatal(err)
			}
			var err error
			n := testutil.Allocated(func() {
				var f *File
				if f, err = Open(path); err == nil {
					f.Close()
				}
			})
			if err == nil || !strings.Contains(err.Error(), "64 MiB") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want the metadata budget refusal naming %q", err, c.want)
			}
			if n > 96<<20 {
				t.Errorf("allocated %d MiB before refusing", n>>20)
			}
			t.Logf("%v after %d MiB allocated", err, n>>20)
		})
	}
}

// Empty and repeated keys are refused as they are read.
func TestKeysCheckedAsRead(t *testing.T) {
	for _, tc := range []struct {
		kvs  []KV
		want string
	}{
		{[]KV{{"a", Uint8(1)}, {"", Uint8(2)}, {"b", Uint8(3)}}, "key 1 is empty"},
		{[]KV{{"a", Uint8(1)}, {"b", Uint8(2)}, {"a", Uint8(3)}}, `key "a": duplicate key`},
	} {
		data := cat([]byte("GGUF"), le32(3), le64(0), le64(uint64(len(tc.kvs))))
		for _, kv := range tc.kvs {
			data = append(data, kvRaw(kv.Key, uint32(TypeUint8), []byte{kv.Value.V.(uint8)})...)
		}
		_, err := NewFile(strings.NewReader(string(data)), int64(len(data)), "x.gguf")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
