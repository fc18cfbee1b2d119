//go:build unix

package output

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Outputs get the permissions any new file gets: 0666 (0777 for a
// folder) less the umask, so another user (a server) can read them.
func TestStagedMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, tc := range []struct {
		kind Kind
		want os.FileMode
	}{{GGUF, 0o644}, {Report, 0o644}, {Checkpoint, 0o755 | os.ModeDir}} {
		path := filepath.Join(dir, "out-"+tc.kind.String())
		s, err := Stage(Target{Path: path, Kind: tc.kind})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Commit(s); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.kind, fi.Mode(), tc.want)
		}
	}
}

// A folder the user may not write to is refused before the run.
func TestCheckUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to any folder")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	err := Check(nil, Target{Path: filepath.Join(dir, "x.gguf"), Kind: GGUF, Flag: "output"})
	if err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("error %v, want one saying the folder is not writable", err)
	}
}
