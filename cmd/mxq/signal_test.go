package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary runs mxq's main when this variable is set, so the
// signal tests exercise the real process: signal setup, exit code and all.
const runMainEnv = "MXQ_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// stopWithin is how soon an interrupted command must have exited.
const stopWithin = time.Second

// longTokens writes n token ids for the tiny model: enough for a validate
// run of several seconds (attention grows with the square of n).
func longTokens(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "%d ", 3+rng.IntN(1000))
	}
	path := filepath.Join(t.TempDir(), "tokens.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Commands that run long stop on SIGINT and SIGTERM within stopWithin and
// exit 130 with one line; mxq's own watchdog only fires later, so this
// measures the commands' cancellation.
func TestSignalsStopCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mxq for seconds")
	}
	tokens := longTokens(t, 8000)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"validate SIGINT", syscall.SIGINT, []string{"validate", tiny, tiny, "--tokens", tokens}},
		{"layer-wise validate SIGTERM", syscall.SIGTERM, []string{"validate", tiny, tiny, "--layer-wise", "--states", "random", "--samples", "65536"}},
		{"bench kernels SIGINT", syscall.SIGINT, []string{"bench", "kernels", "--rows", "2048", "--min-time", "30s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				t.Fatalf("finished before the signal (%v): the workload is too small; stderr %q", err, stderr.String())
			case <-time.After(500 * time.Millisecond):
			}
			sent := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				took := time.Since(sent)
				t.Logf("exited %v after the signal", took)
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != exitCancelled {
					t.Fatalf("exit %v, want %d; stderr %q", err, exitCancelled, stderr.String())
				}
				if took > stopWithin {
					t.Errorf("took %v to stop, want at most %v", took, stopWithin)
				}
				if got := stderr.String(); got != "mxq: interrupted; no output was written\n" {
					t.Errorf("stderr %q", got)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 10 s after the signal")
			}
		})
	}
}

// The same commands run in-process stop promptly when their context is
// cancelled, and quantize leaves no output behind.
func TestCancelInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mxq for seconds")
	}
	dir := t.TempDir()
	tokens := longTokens(t, 8000)
	for _, tc := range []struct {
		name  string
		after time.Duration
		args  []string
	}{
		{"validate", 500 * time.Millisecond, []string{"validate", tiny, tiny, "--tokens", tokens}},
		{"bench kernels", 500 * time.Millisecond, []string{"bench", "kernels", "--rows", "2048", "--min-time", "30s"}},
		{"quantize", 0, []string{"quantize", tiny, "-o", filepath.Join(dir, "q.gguf"), "--bits", "4"}},
		{"convert", 0, []string{"convert", tiny, "-o", filepath.Join(dir, "hf")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cancelledAt := make(chan time.Time, 1)
			timer := time.AfterFunc(tc.after, func() { cancelledAt <- time.Now(); cancel() })
			defer timer.Stop()
			var out, errb strings.Builder
			code := run(ctx, append([]string{"mxq"}, tc.args...), &out, &errb)
			if code != exitCancelled || errb.String() != "mxq: interrupted; no output was written\n" {
				t.Fatalf("exit %d, stderr %q; want %d", code, errb.String(), exitCancelled)
			}
			if took := time.Since(<-cancelledAt); took > stopWithin {
				t.Errorf("returned %v after the cancel, want at most %v", took, stopWithin)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("an interrupted run left %v", entries)
			}
		})
	}
}

// A command blocked where it cannot notice the signal (here reading token
// ids from a pipe nobody writes to) is still ended: mxq exits 130 once
// stuckGrace has passed, and a second signal ends it at once.
func TestSignalEndsStuckCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the grace period")
	}
	for _, second := range []bool{false, true} {
		cmd := exec.Command(os.Args[0], "validate", tiny, tiny, "--tokens", "-")
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		stdin, err := cmd.StdinPipe() // never written to
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		time.Sleep(time.Second)
		sent := time.Now()
		cmd.Process.Signal(syscall.SIGINT)
		if second {
			time.Sleep(100 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGINT)
		}
		select {
		case err := <-exited:
			took := time.Since(sent)
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("exit %v", err)
			}
			if second {
				// Killed by the second signal, long before the grace period.
				if ee.ExitCode() != -1 || took > stuckGrace/2 {
					t.Errorf("second signal: exit %d after %v", ee.ExitCode(), took)
				}
				continue
			}
			if ee.ExitCode() != exitCancelled || took < stuckGrace || !strings.Contains(stderr.String(), "mxq: interrupted") {
				t.Errorf("exit %d after %v, stderr %q; want %d after %v", ee.ExitCode(), took, stderr.String(), exitCancelled, stuckGrace)
			}
		case <-time.After(stuckGrace + 5*time.Second):
			cmd.Process.Kill()
			<-exited
			t.Fatal("still running long after the grace period")
		}
	}
}
