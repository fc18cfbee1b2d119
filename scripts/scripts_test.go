// Package scripts holds the test suite's shell scripts; its test checks
// how they behave when Node.js is missing.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCompat runs compat.sh with PATH holding only dir, so node and npm are
// found only if dir has them, and the test runner replaced by a stub that
// exits with stubCode.
func runCompat(t *testing.T, dir string, stubCode string, env ...string) (int, string) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	stub := filepath.Join(t.TempDir(), "run.sh")
	if err := os.WriteFile(stub, []byte("#!"+bash+"\necho compat ran\nexit "+stubCode+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "compat.sh")
	cmd.Env = append([]string{"PATH=" + dir, "MXQ_COMPAT_RUN=" + stub}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func TestCompatWithoutNode(t *testing.T) {
	empty := t.TempDir()
	code, out := runCompat(t, empty, "1")
	if code != 0 || !strings.Contains(out, "SKIPPED: llama.cpp compatibility test") || strings.Contains(out, "compat ran") {
		t.Errorf("without Node.js: exit %d, output %q; want exit 0 and the SKIPPED banner", code, out)
	}
	code, out = runCompat(t, empty, "0", "MXQ_REQUIRE_COMPAT=1")
	if code == 0 || !strings.Contains(out, "FAILED") {
		t.Errorf("without Node.js, required: exit %d, output %q; want a failure", code, out)
	}
}

func TestCompatWithNode(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"node", "npm"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		stub string
		code int
	}{{"0", 0}, {"1", 1}} {
		code, out := runCompat(t, bin, tc.stub)
		if code != tc.code || !strings.Contains(out, "compat ran") || strings.Contains(out, "SKIPPED") {
			t.Errorf("with Node.js, test exiting %s: exit %d, output %q", tc.stub, code, out)
		}
	}
}
