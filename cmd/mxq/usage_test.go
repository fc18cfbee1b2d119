package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mxq-dev/mxq/ggml"
)

// singleDashFlag finds a long flag written with one dash ("-ctx"), as the
// flag package prints them.
var singleDashFlag = regexp.MustCompile(`(^|[\s:])-[A-Za-z][A-Za-z0-9-]+`)

// Every usage mistake exits 2 with one line on stderr, flags written as
// typed, nothing on stdout, and nothing created at the output path.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	gguf := filepath.Join(dir, "out.gguf")
	folder := filepath.Join(dir, "out")
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"missing -o", []string{"quantize", tiny, "--bits", "4"}, "-o/--output"},
		{"missing -o in convert", []string{"convert", tiny}, "-o/--output"},
		{"missing SRC", []string{"quantize", "-o", gguf, "--bits", "4"}, "one SRC"},
		{"nothing at all", []string{"quantize"}, "one SRC"},
		{"unknown command", []string{"nope"}, `unknown command "nope"`},
		{"unknown bench", []string{"bench", "nope"}, `unknown command "nope" (commands: kernels, quantize)`},
		{"help on an unknown command", []string{"help", "nope"}, "nope"},
		{"unknown app flag", []string{"--nope"}, "--nope"},
		{"argument to bench kernels", []string{"bench", "kernels", "extra"}, "no arguments"},
		{"two sources to bench quantize", []string{"bench", "quantize", "a", "b"}, "at most one SRC"},
		{"unknown flag", []string{"inspect", "--nope", tiny}, "--nope"},
		{"unparsable value", []string{"inspect", tiny, "--ctx", "abc"}, "--ctx"},
		{"negative ctx", []string{"inspect", tiny, "--ctx", "-5"}, "--ctx"},
		{"huge ctx", []string{"inspect", tiny, "--ctx", "9223372036854775807"}, "--ctx"},
		{"huge batch", []string{"inspect", tiny, "--batch", "1099511627776"}, "--batch"},
		{"zero batch", []string{"inspect", tiny, "--batch", "0"}, "--batch"},
		{"negative ubatch", []string{"inspect", tiny, "--ubatch", "-1"}, "--ubatch"},
		{"kv type", []string{"inspect", tiny, "--kv-type", "q4_K"}, "--kv-type"},
		{"offload type", []string{"inspect", tiny, "--offload-type", "Q9_K"}, "--offload-type"},
		{"negative threads", []string{"quantize", tiny, "-o", gguf, "--bits", "4", "--threads", "-5"}, "--threads"},
		{"negative threads alias", []string{"quantize", tiny, "-o", gguf, "--bits", "4", "-t", "-5"}, "--threads"},
		{"negative threads in convert", []string{"convert", tiny, "-o", folder, "-t", "-1"}, "--threads"},
		{"negative threads in validate", []string{"validate", tiny, tiny, "-t", "-1"}, "--threads"},
		{"negative threads in bench", []string{"bench", "quantize", "-t", "-1"}, "--threads"},
		{"no rounds of bench quantize", []string{"bench", "quantize", "--rounds", "0"}, "--rounds"},
		{"min-top1 in percent", []string{"validate", tiny, tiny, "--min-top1", "90"}, "--min-top1"},
		{"negative max-kld", []string{"validate", tiny, tiny, "--max-kld", "-1"}, "--max-kld"},
		{"NaN max-kld", []string{"validate", tiny, tiny, "--max-kld", "NaN"}, "--max-kld"},
		{"routing agreement above 1", []string{"validate", tiny, tiny, "--min-routing-agreement", "2"}, "--min-routing-agreement"},
		{"negative max-moe-error", []string{"validate", tiny, tiny, "--layer-wise", "--max-moe-error", "-1"}, "--max-moe-error"},
		{"no samples", []string{"validate", tiny, tiny, "--layer-wise", "--samples", "0"}, "--samples"},
		{"too many samples", []string{"validate", tiny, tiny, "--layer-wise", "--samples", "1000000000"}, "--samples"},
		{"min-cosine in percent", []string{"quantize", tiny, "-o", gguf, "--bits", "4", "--min-cosine", "99"}, "--min-cosine"},
		{"negative max-rel-error", []string{"quantize", tiny, "-o", gguf, "--bits", "4", "--max-rel-error", "-1"}, "--max-rel-error"},
		{"threshold in convert", []string{"convert", tiny, "-o", folder, "--min-cosine", "2"}, "--min-cosine"},
		{"mlx layout in a GGUF", []string{"quantize", tiny, "-o", gguf, "--bits", "4", "--layout", "mlx"}, "--layout is for safetensors"},
		{"shard size in a GGUF", []string{"quantize", tiny, "-o", gguf, "--bits", "4", "--shard-size", "1GB"}, "--shard-size is for safetensors"},
		{"convert to a GGUF name", []string{"convert", tiny, "-o", gguf}, "mxq quantize"},
		{"output without a format", []string{"quantize", tiny, "-o", folder, "--bits", "4"}, "--format safetensors"},
		{"mistyped extension", []string{"quantize", tiny, "-o", filepath.Join(dir, "out.ggfu"), "--bits", "4"}, "does not end in .gguf"},
		{"Q2_K_S without an importance matrix", []string{"quantize", tiny, "-o", gguf, "--type", "Q2_K_S"}, "importance matrix"},
		{"Q2_K_S dry run", []string{"quantize", tiny, "-o", gguf, "--type", "Q2_K_S", "--dry-run"}, "importance matrix"},
		{"Q2_K_S bench", []string{"bench", "quantize", "--type", "Q2_K_S"}, "importance matrix"},
		{"huge bench matrix", []string{"bench", "kernels", "--rows", "1000000"}, "--rows"},
		{"no bench time", []string{"bench", "kernels", "--min-time", "0s"}, "--min-time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			if !strings.HasPrefix(stderr, "mxq: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr is not one line: %q", stderr)
			}
			if !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.msg)
			}
			if m := singleDashFlag.FindString(strings.TrimPrefix(stderr, "mxq: ")); m != "" && !strings.Contains(m, "/") {
				t.Errorf("stderr %q writes a flag with one dash: %q", stderr, m)
			}
			if stdout != "" {
				t.Errorf("stdout %q (no help or report on a usage error)", stdout)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused run left %v", entries)
			}
		})
	}
}

// The importance-matrix check depends only on whether one is given, so it
// stays right once a flag supplies it.
func TestCheckImatrix(t *testing.T) {
	for _, tc := range []struct {
		ft    ggml.FileType
		given bool
		ok    bool
	}{
		{ggml.FileTypeQ2_K_S, false, false},
		{ggml.FileTypeQ2_K_S, true, true},
		{ggml.FileTypeQ2_K, false, true},
		{ggml.FileTypeQ4_K_M, false, true},
	} {
		if err := checkImatrix(tc.ft, nil, tc.given); (err == nil) != tc.ok {
			t.Errorf("%v, imatrix given %v: %v", tc.ft, tc.given, err)
		}
	}
}

// --threads: 0 means all cores, more than the cores is capped, negative
// is refused.
func TestWorkers(t *testing.T) {
	cores := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		arg  string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"1000", cores, true}, {"-5", 0, false},
	} {
		set := flag.NewFlagSet("t", flag.ContinueOnError)
		set.Int("threads", 0, "")
		if err := set.Parse([]string{"-threads", tc.arg}); err != nil {
			t.Fatal(err)
		}
		got, err := workers(cli.NewContext(nil, set, nil))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("--threads %s: %d, %v; want %d (ok %v)", tc.arg, got, err, tc.want, tc.ok)
		}
	}
}

// Every flag of every command shows its default once: defaults live in
// Value or DefaultText, never in the usage text, and booleans show none.
func TestHelpDefaults(t *testing.T) {
	app := newApp(nil, nil)
	var paths [][]string
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := append(append([]string{}, prefix...), c.Name)
			paths = append(paths, path)
			for _, f := range c.Flags {
				if u := f.(cli.DocGenerationFlag).GetUsage(); strings.Contains(strings.ToLower(u), "default") {
					t.Errorf("%s --%s: usage %q states a default itself", strings.Join(path, " "), f.Names()[0], u)
				}
			}
			walk(path, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
	if len(paths) < 7 {
		t.Fatalf("found only %d commands", len(paths))
	}
	for _, path := range append(paths, nil) {
		code, stdout, stderr := runCLI(t, append(path, "--help")...)
		if code != exitOK || !strings.Contains(stdout, "USAGE") {
			t.Fatalf("mxq %s --help: exit %d, %s", strings.Join(path, " "), code, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if n := strings.Count(line, "(default"); n > 1 {
				t.Errorf("mxq %s --help: %d defaults in %q", strings.Join(path, " "), n, line)
			}
			if strings.Contains(line, "(default: false)") || strings.Contains(line, "(default: true)") {
				t.Errorf("mxq %s --help: boolean default in %q", strings.Join(path, " "), line)
			}
		}
	}
}

// --strict turns [error] findings into exit 3 after the full report; one
// shard of a sharded checkpoint is such a finding, also announced on
// stderr.
func TestInspectStrict(t *testing.T) {
	shard := filepath.Join(tiny, "model-00001-of-00003.safetensors")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"inspect", tiny, "--strict"}, exitOK, ""},
		{[]string{"inspect", tiny, "--strict", "--json"}, exitOK, ""},
		{[]string{"inspect", shard}, exitOK, "shard 1 of 3"},
		{[]string{"inspect", shard, "--strict"}, exitThresholds, "--strict: 8 [error] finding(s)"},
		{[]string{"inspect", shard, "--strict", "--json"}, exitThresholds, "inspect the folder " + tiny},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) || (tc.stderr == "") != (stderr == "") {
			t.Errorf("%v: exit %d, stderr %q; want %d mentioning %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
		if !strings.Contains(stdout, "single-shard") && strings.Contains(stderr, "shard") {
			t.Errorf("%v: the report lacks the single-shard finding", tc.args)
		}
		if !strings.Contains(stdout, "7,214,336") && !strings.Contains(stdout, "7214336") {
			t.Errorf("%v: no full report on stdout", tc.args)
		}
	}
}
