package output

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture is a folder with an HF checkpoint src/, a GGUF in.gguf, earlier
// outputs of each kind and things that are not outputs.
func fixture(t *testing.T) string {
	root := t.TempDir()
	for _, name := range []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "tokenizer.model"} {
		writeFile(t, filepath.Join(root, "src", name), "input "+name)
	}
	writeFile(t, filepath.Join(root, "ggufdir", "in.gguf"), "GGUF input")
	writeFile(t, filepath.Join(root, "old.gguf"), "GGUF earlier output")
	writeFile(t, filepath.Join(root, "old-ckpt", "config.json"), "{}")
	writeFile(t, filepath.Join(root, "old-ckpt", "model.safetensors"), "earlier")
	writeFile(t, filepath.Join(root, "old-report.json"), `{"schema": 1, "tensors": []}`)
	writeFile(t, filepath.Join(root, "notes.gguf"), "my notes")
	// A legacy .dat importance matrix: 1 entry, then the length of its name.
	writeFile(t, filepath.Join(root, "old.imatrix.dat"), "\x01\x00\x00\x00\x19\x00\x00\x00blk.0.attn_q.weight......")
	writeFile(t, filepath.Join(root, "notes.json"), `{"todo": 1}`)
	writeFile(t, filepath.Join(root, "models", "notes.txt"), "keep")
	writeFile(t, filepath.Join(root, "models", "a", "model.safetensors"), "keep")
	writeFile(t, filepath.Join(root, "withsub", "config.json"), "{}")
	writeFile(t, filepath.Join(root, "withsub", "sub", "x"), "keep")
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(filepath.Join(root, "ggufdir", "in.gguf"), filepath.Join(root, "link.gguf")))
	must(t, os.Symlink(filepath.Join(root, "src"), filepath.Join(root, "srclink")))
	must(t, os.Symlink(filepath.Join(root, "old.gguf"), filepath.Join(root, "oldlink.gguf")))
	must(t, os.Link(filepath.Join(root, "ggufdir", "in.gguf"), filepath.Join(root, "hard.gguf")))
	// A checkpoint whose shard is a link into a blob store, as the
	// Hugging Face cache keeps them.
	writeFile(t, filepath.Join(root, "blobs", "abc"), "blob")
	writeFile(t, filepath.Join(root, "snap", "config.json"), "{}")
	must(t, os.Symlink(filepath.Join(root, "blobs", "abc"), filepath.Join(root, "snap", "model.safetensors")))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	root := fixture(t)
	at := func(p string) string { return filepath.Join(root, p) }
	out := func(p string, k Kind, replace bool) Target {
		return Target{Path: at(p), Kind: k, Flag: "output", Replace: replace}
	}
	rep := func(p string, replace bool) Target {
		return Target{Path: at(p), Kind: Report, Flag: "report", Replace: replace}
	}
	for _, tc := range []struct {
		name    string
		src     string
		targets []Target
		want    string // "" for accepted
	}{
		{"new GGUF", "src", []Target{out("new.gguf", GGUF, false)}, ""},
		{"new folder and report", "src", []Target{out("new", Checkpoint, false), rep("r.json", false)}, ""},
		{"earlier GGUF replaced", "src", []Target{out("old.gguf", GGUF, true)}, ""},
		{"earlier checkpoint replaced", "src", []Target{out("old-ckpt", Checkpoint, true)}, ""},
		{"empty folder replaced", "src", []Target{out("empty", Checkpoint, true)}, ""},
		{"earlier report replaced", "src", []Target{out("new.gguf", GGUF, false), rep("old-report.json", true)}, ""},
		{"sibling of a GGUF input", "ggufdir/in.gguf", []Target{out("ggufdir/out.gguf", GGUF, false)}, ""},

		// Item: an output equal to, inside or holding an input.
		{"GGUF over itself", "ggufdir/in.gguf", []Target{out("ggufdir/in.gguf", GGUF, true)}, "is the input"},
		{"GGUF over itself by a link", "link.gguf", []Target{out("ggufdir/in.gguf", GGUF, true)}, "is the input"},
		{"GGUF over a hard link of itself", "ggufdir/in.gguf", []Target{out("hard.gguf", GGUF, true)}, "is the input"},
		{"folder over itself", "src", []Target{out("src", Checkpoint, true)}, "is the input"},
		{"folder over itself by a link", "srclink", []Target{out("src", Checkpoint, true)}, "is the input"},
		{"over one shard", "src", []Target{out("src/model-00001-of-00002.safetensors", Checkpoint, true)}, "is the input"},
		{"inside the input", "src", []Target{out("src/q4.gguf", GGUF, false)}, "inside the input"},
		{"folder of a GGUF input", "ggufdir/in.gguf", []Target{out("ggufdir", Checkpoint, true)}, "contains the input"},
		{"folder holding a linked shard's blob", "snap", []Target{out("blobs", Checkpoint, true)}, "contains the input"},
		{"folder above the input", "src", []Target{out(".", Checkpoint, true)}, "contains the input"},

		// The report: same rules, and never the output.
		{"report over config.json", "src", []Target{out("new.gguf", GGUF, false), rep("src/config.json", true)}, "is the input"},
		{"report over the output", "src", []Target{out("x.gguf", GGUF, false), rep("x.gguf", true)}, "collides with --output"},
		{"report inside the output folder", "src", []Target{out("new", Checkpoint, false), rep("new/report.json", false)}, "collides with --output"},
		{"existing report", "src", []Target{out("new.gguf", GGUF, false), rep("old-report.json", false)}, "already exists"},
		{"report over a JSON that is not a report", "src", []Target{out("new.gguf", GGUF, false), rep("notes.json", true)}, "not an mxq report"},
		{"report folder missing", "src", []Target{out("new.gguf", GGUF, false), rep("nowhere/r.json", false)}, "report folder " + at("nowhere") + " does not exist"},

		// --force replaces only an earlier output of the same kind.
		{"existing GGUF without force", "src", []Target{out("old.gguf", GGUF, false)}, "already exists; pass --force"},
		{"not a GGUF", "src", []Target{out("notes.gguf", GGUF, true)}, "not a GGUF file"},
		{"folder as GGUF", "src", []Target{out("old-ckpt", GGUF, true)}, "not a regular file"},
		{"symbolic link", "src", []Target{out("oldlink.gguf", GGUF, true)}, "symbolic link"},
		{"folder of other files", "src", []Target{out("models", Checkpoint, true)}, "holds a, which is not a regular file"},
		{"checkpoint with a sub-folder", "src", []Target{out("withsub", Checkpoint, true)}, "holds sub"},
		{"earlier GGUF importance matrix replaced", "src", []Target{out("old.gguf", Imatrix, true)}, ""},
		{"earlier .dat importance matrix replaced", "src", []Target{out("old.imatrix.dat", Imatrix, true)}, ""},
		{"notes as an importance matrix", "src", []Target{out("notes.json", Imatrix, true)}, "not an importance matrix"},
		{"GGUF file as a folder", "src", []Target{out("old.gguf", Checkpoint, true)}, "is not a folder"},
		{"output folder missing", "src", []Target{out("nowhere/x.gguf", GGUF, false)}, "output folder " + at("nowhere") + " does not exist"},
		{"output folder is a file", "src", []Target{out("old.gguf/x.gguf", GGUF, false)}, "is not a folder"},
		{"trailing slash", "src", []Target{out("old-ckpt/", Checkpoint, false)}, "already exists"},
		{"the current folder", "src", []Target{{Path: ".", Kind: Checkpoint, Replace: true}}, "names no file or folder"},
		{"a parent", "src", []Target{{Path: "..", Kind: Checkpoint, Replace: true}}, "names no file or folder"},
		{"the root", "src", []Target{{Path: "/", Kind: Checkpoint, Replace: true}}, "names no file or folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs, err := Inputs(at(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			err = Check(inputs, tc.targets...)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var refusal *Refusal
			if !errors.As(err, &refusal) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a refusal mentioning %q", err, tc.want)
			}
		})
	}
}

// stageFile stages a file target and writes data into it.
func stageFile(t *testing.T, target Target, data string) *Staged {
	t.Helper()
	s, err := Stage(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Discard)
	if _, err := s.File.WriteString(data); err != nil {
		t.Fatal(err)
	}
	return s
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

// names lists a folder's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestCommit(t *testing.T) {
	t.Run("all or none", func(t *testing.T) {
		dir := t.TempDir()
		model := stageFile(t, Target{Path: filepath.Join(dir, "m.gguf"), Kind: GGUF}, "GGUF new")
		rep := stageFile(t, Target{Path: filepath.Join(dir, "r.json"), Kind: Report}, "{}")
		// The report's name is taken while the run goes on.
		writeFile(t, filepath.Join(dir, "r.json"), "someone else's")
		if _, err := Commit(model, rep); !errors.Is(err, ErrExists) {
			t.Fatalf("error %v, want ErrExists", err)
		}
		model.Discard()
		rep.Discard()
		if got := names(t, dir); len(got) != 1 || got[0] != "r.json" || read(t, filepath.Join(dir, "r.json")) != "someone else's" {
			t.Fatalf("after a failed commit the folder holds %v", got)
		}
	})
	t.Run("a failed commit restores what it replaced", func(t *testing.T) {
		dir := t.TempDir()
		gg := filepath.Join(dir, "m.gguf")
		writeFile(t, gg, "GGUF earlier")
		model := stageFile(t, Target{Path: gg, Kind: GGUF, Replace: true}, "GGUF new")
		rep := stageFile(t, Target{Path: filepath.Join(dir, "r.json"), Kind: Report}, "{}")
		writeFile(t, filepath.Join(dir, "r.json"), "someone else's")
		if _, err := Commit(model, rep); !errors.Is(err, ErrExists) {
			t.Fatalf("error %v, want ErrExists", err)
		}
		model.Discard()
		rep.Discard()
		if got := names(t, dir); len(got) != 2 || read(t, gg) != "GGUF earlier" {
			t.Fatalf("after a failed commit: %v, m.gguf %q", got, read(t, gg))
		}
	})
	t.Run("never replaces without Replace", func(t *testing.T) {
		dir := t.TempDir()
		for _, kind := range []Kind{GGUF, Checkpoint} {
			path := filepath.Join(dir, "out"+kind.String())
			s, err := Stage(Target{Path: path, Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			if kind == Checkpoint {
				writeFile(t, filepath.Join(s.Tmp, "model.safetensors"), "new")
				writeFile(t, filepath.Join(path, "model.safetensors"), "the other run's")
			} else {
				s.File.WriteString("GGUF new")
				writeFile(t, path, "GGUF the other run's")
			}
			if _, err := Commit(s); !errors.Is(err, ErrExists) {
				t.Errorf("%s: error %v, want ErrExists", kind, err)
			}
			s.Discard()
		}
		if got := names(t, dir); len(got) != 2 {
			t.Errorf("temporaries left: %v", got)
		}
	})
	t.Run("replaces an earlier output, deleting it last", func(t *testing.T) {
		dir := t.TempDir()
		gg := filepath.Join(dir, "m.gguf")
		ck := filepath.Join(dir, "ckpt")
		writeFile(t, gg, "GGUF old")
		writeFile(t, filepath.Join(ck, "model.safetensors"), "old")
		writeFile(t, filepath.Join(ck, "tokenizer.model"), "old")
		a := stageFile(t, Target{Path: gg, Kind: GGUF, Replace: true}, "GGUF new")
		b, err := Stage(Target{Path: ck, Kind: Checkpoint, Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(b.Tmp, "model.safetensors"), "new")
		kept, err := Commit(a, b)
		if err != nil || len(kept) != 0 {
			t.Fatalf("kept %v, error %v", kept, err)
		}
		if read(t, gg) != "GGUF new" || read(t, filepath.Join(ck, "model.safetensors")) != "new" {
			t.Error("not replaced")
		}
		if _, err := os.Stat(filepath.Join(ck, "tokenizer.model")); err == nil {
			t.Error("the earlier folder's files survived")
		}
		if got := names(t, dir); len(got) != 2 {
			t.Errorf("left beside the outputs: %v", got)
		}
	})
	t.Run("an earlier output that changed meanwhile is not replaced", func(t *testing.T) {
		dir := t.TempDir()
		ck := filepath.Join(dir, "ckpt")
		writeFile(t, filepath.Join(ck, "model.safetensors"), "old")
		s, err := Stage(Target{Path: ck, Kind: Checkpoint, Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(ck, "thesis.pdf"), "keep")
		var refusal *Refusal
		if _, err := Commit(s); !errors.As(err, &refusal) {
			t.Fatalf("error %v, want a refusal", err)
		}
		s.Discard()
		if read(t, filepath.Join(ck, "thesis.pdf")) != "keep" || read(t, filepath.Join(ck, "model.safetensors")) != "old" {
			t.Error("the folder was touched")
		}
	})
}

// Stage names a missing folder, not the temporary it could not create.
func TestStageMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nowhere")
	_, err := Stage(Target{Path: filepath.Join(dir, "x.gguf"), Kind: GGUF})
	if err == nil || !strings.Contains(err.Error(), "output folder "+dir+" does not exist") || strings.Contains(err.Error(), ".tmp") {
		t.Fatalf("error %v", err)
	}
}
