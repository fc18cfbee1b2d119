//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxq-dev/mxq/formats/gguf"
	"github.com/mxq-dev/mxq/ggml"
	"github.com/mxq-dev/mxq/internal/testutil"
)

// hostileFile replaces path by something that is not a readable file of
// sane size.
type hostileFile func(t *testing.T, path string)

var hostileFiles = map[string]hostileFile{
	"fifo": func(t *testing.T, path string) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	},
	"link to /dev/zero": func(t *testing.T, path string) {
		if err := os.Symlink("/dev/zero", path); err != nil {
			t.Fatal(err)
		}
	},
	"sparse 4 GiB": func(t *testing.T, path string) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(4 << 30); err != nil {
			t.Fatal(err)
		}
		f.Close()
	},
	"folder": func(t *testing.T, path string) {
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
	},
}

// runWithin runs the CLI and fails the test if it has not returned after
// the deadline (a read blocked on a pipe never returns).
func runWithin(t *testing.T, d time.Duration, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCLI(t, args...)
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(d):
		t.Fatalf("mxq %s still running after %v", strings.Join(args, " "), d)
	}
	return 0, ""
}

// Every file a checkpoint is read from — config, tokenizer files, index,
// shards — is refused with one line naming it when it is a pipe, a device,
// a folder or absurdly large, without hanging or exhausting memory.
func TestHostileCheckpointFiles(t *testing.T) {
	files := []string{
		"config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
		"model.safetensors.index.json", "model-00002-of-00003.safetensors", "generation_config.json",
	}
	for _, name := range files {
		for kind, make := range hostileFiles {
			if kind == "sparse 4 GiB" && strings.HasSuffix(name, ".safetensors") {
				continue // a shard may be that large; its header is what is bounded
			}
			t.Run(name+"/"+kind, func(t *testing.T) {
				dir := testutil.CopyTiny(t, name)
				make(t, filepath.Join(dir, name))
				out := filepath.Join(t.TempDir(), "out")
				// Commands that read (or copy) the file.
				commands := [][]string{{"quantize", dir, "--format", "safetensors", "--bits", "4", "-o", out}}
				if name != "generation_config.json" {
					commands = append(commands, []string{"quantize", dir, "--bits", "8", "-o", out + ".gguf"})
				}
				if name == "config.json" || strings.Contains(name, "safetensors") {
					commands = append(commands,
						[]string{"inspect", dir},
						[]string{"validate", dir, dir, "--tokens", writeTokens(t)})
				}
				for _, args := range commands {
					code, stderr := runWithin(t, 60*time.Second, args...)
					if code != exitError {
						t.Errorf("%s: exit %d, want %d; stderr: %s", args[0], code, exitError, stderr)
					}
					if line := strings.TrimSuffix(stderr, "\n"); strings.Contains(line, "\n") || !strings.Contains(line, name) {
						t.Errorf("%s: stderr is not one line naming %s: %q", args[0], name, stderr)
					}
				}
			})
		}
	}
}

// A GGUF input that is a pipe or a device is refused, not read forever.
func TestHostileGGUFInput(t *testing.T) {
	for _, kind := range []string{"fifo", "link to /dev/zero", "folder"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.gguf")
			hostileFiles[kind](t, path)
			out := filepath.Join(t.TempDir(), "out")
			for _, args := range [][]string{
				{"inspect", path},
				{"convert", path, "-o", out},
				{"quantize", path, "--bits", "8", "-o", out + ".gguf"},
			} {
				code, stderr := runWithin(t, 60*time.Second, args...)
				if code != exitError || strings.Count(stderr, "\n") > 1 || !strings.Contains(stderr, "m.gguf") {
					t.Errorf("%s: exit %d, stderr %q: want exit %d and one line naming the file", args[0], code, stderr, exitError)
				}
			}
		})
	}
}

func writeTokens(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "tokens.txt")
	if err := os.WriteFile(p, []byte("1 2 3"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostileName holds an OSC title change, a colour, a screen clear and a
// newline that fakes an error line.
const hostileName = "t\x1b]0;pwned\x07\x1b[31m\x1b[2J\nmxq: fake line"

// checkEscaped fails if out holds a control character other than line
// breaks, or a line forged by a name.
func checkEscaped(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f) {
			t.Errorf("%s holds control character %q:\n%s", what, r, out)
			return
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "mxq: fake line") {
			t.Errorf("%s has a forged line:\n%s", what, out)
		}
	}
}

// Tensor names and metadata keys and values from a file are printed with
// their control characters escaped, in text output and in errors.
func TestHostileNamesAreEscaped(t *testing.T) {
	dir := t.TempDir()
	ggufPath := filepath.Join(dir, "m.gguf")
	l, err := gguf.NewLayout([]gguf.KV{
		{Key: "general.architecture", Value: gguf.String("llama")},
		{Key: hostileName, Value: gguf.String(hostileName)},
	}, []gguf.TensorInfo{{Name: hostileName, Dims: []uint64{4}, Type: ggml.F32}}, 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := gguf.WriteFile(ggufPath, l, func(_ int, _ gguf.TensorInfo, w io.Writer) error { _, err := w.Write(make([]byte, 16)); return err }); err != nil {
		t.Fatal(err)
	}

	// A Hugging Face folder with one extra tensor of that name.
	hf := testutil.CopyTiny(t)
	name, _ := json.Marshal(hostileName)
	header := `{` + string(name) + `:{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	st := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	st = append(append(st, header...), 0, 0, 0, 0)
	if err := os.WriteFile(filepath.Join(hf, "extra.safetensors"), st, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(hf, "model.safetensors.index.json")); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		args  []string
		shown bool // the name reaches the output
	}{
		{[]string{"inspect", ggufPath}, true},
		{[]string{"quantize", ggufPath, "--bits", "8", "-o", out + "1.gguf"}, false},
		{[]string{"inspect", hf}, true},
		{[]string{"quantize", hf, "--bits", "8", "-o", out + "2.gguf"}, true},
		{[]string{"quantize", hf, "--format", "safetensors", "--bits", "4", "-o", out + "3"}, true},
	} {
		args := tc.args
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"mxq"}, args...), &stdout, &stderr)
		checkEscaped(t, args[0]+" stdout", stdout.String())
		checkEscaped(t, args[0]+" stderr", stderr.String())
		if code == exitError && strings.Count(stderr.String(), "\n") > 1 {
			t.Errorf("%s: error is not one line: %q", args[0], stderr.String())
		}
		if tc.shown && !strings.Contains(stdout.String()+stderr.String(), `\x1b]0;pwned\a`) {
			t.Errorf("%v: the name is not shown escaped; stdout:\n%s\nstderr: %s", args, stdout.String(), stderr.String())
		}
	}
}
