//go:build unix

package safeio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostile builds, in a temp dir, every kind of path that must be refused
// quickly and cheaply.
func hostile(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{
		"fifo":      filepath.Join(dir, "fifo.json"),
		"dev-zero":  filepath.Join(dir, "zero.json"),
		"folder":    filepath.Join(dir, "folder.json"),
		"sparse-4g": filepath.Join(dir, "sparse.json"),
		"link-fifo": filepath.Join(dir, "link-fifo.json"),
		"dangling":  filepath.Join(dir, "dangling.json"),
		"missing":   filepath.Join(dir, "missing.json"),
	}
	if err := syscall.Mkfifo(paths["fifo"], 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("/dev/zero", paths["dev-zero"]))
	must(os.Mkdir(paths["folder"], 0o755))
	f, err := os.Create(paths["sparse-4g"])
	must(err)
	must(f.Truncate(4 << 30))
	must(f.Close())
	must(os.Symlink(paths["fifo"], paths["link-fifo"]))
	must(os.Symlink(filepath.Join(dir, "nowhere"), paths["dangling"]))
	return paths
}

func TestReadFileRefusesHostilePaths(t *testing.T) {
	paths := hostile(t)
	cases := []struct {
		name string
		want error
		msg  string
	}{
		{"fifo", ErrNotRegular, "named pipe"},
		{"link-fifo", ErrNotRegular, "named pipe"},
		{"dev-zero", ErrNotRegular, "character device"},
		{"folder", ErrNotRegular, "folder"},
		{"sparse-4g", ErrTooLarge, "4294967296 bytes"},
		{"dangling", fs.ErrNotExist, ""},
		{"missing", fs.ErrNotExist, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := ReadFile(paths[c.name], ConfigLimit)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFile blocked")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if msg := err.Error(); !strings.Contains(msg, c.msg) || !strings.Contains(msg, paths[c.name]) || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line naming the path and %q", msg, c.msg)
			}
		})
	}
}

func TestOpenRefusesHostilePaths(t *testing.T) {
	paths := hostile(t)
	for _, name := range []string{"fifo", "link-fifo", "dev-zero", "folder"} {
		f, _, err := Open(paths[name])
		if !errors.Is(err, ErrNotRegular) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s: err = %v, want ErrNotRegular", name, err)
		}
	}
	f, fi, err := Open(paths["sparse-4g"])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi.Size() != 4<<30 {
		t.Errorf("size %d", fi.Size())
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, 4096, 100000} {
		p := filepath.Join(dir, "f")
		want := []byte(strings.Repeat("x", size))
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p, 100000)
		if err != nil || string(got) != string(want) {
			t.Fatalf("size %d: got %d bytes, %v", size, len(got), err)
		}
		// A link to a regular file is followed.
		l := filepath.Join(dir, "link")
		os.Remove(l)
		if err := os.Symlink(p, l); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadFile(l, 100000); err != nil || len(got) != size {
			t.Fatalf("link, size %d: got %d bytes, %v", size, len(got), err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "f"), 99999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over the limit: %v", err)
	}
}
