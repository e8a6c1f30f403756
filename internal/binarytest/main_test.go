// Package binarytest runs the setupkeys binary as a user does: built once with `go build`, run
// as a child process with its own environment (an empty HOME, no AWS variables unless a test
// gives them), against moto for the live cases and in a pseudo-terminal where the layout or a
// prompt depends on one.
package binarytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// bin is the setupkeys binary under test, built by TestMain.
var bin string

// moduleRoot is the repository's root directory.
var moduleRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "setupkeys-binarytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		root, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "go env GOMOD:", err)
			return 1
		}
		moduleRoot = filepath.Dir(strings.TrimSpace(string(root)))
		bin = filepath.Join(dir, "setupkeys")
		// -trimpath, as TestVersionFromBuildInfo builds, so that the two share the build cache.
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/setupkeys")
		build.Dir = moduleRoot
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		return moto.Run(m)
	}()
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// cleanEnv is the environment of a user with no AWS setup at all: PATH, an empty HOME of the
// test's own, and nothing else (no AWS_* variables, no profile, no credentials). Instance
// metadata is left on, as on a laptop: the binary must still say what to do.
func cleanEnv(t *testing.T) []string {
	t.Helper()
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C"}
}

// motoEnv is cleanEnv pointed at srv as account.
func motoEnv(t *testing.T, srv *moto.Server, account string) []string {
	t.Helper()
	return append(cleanEnv(t), srv.Env(t, account)...)
}

// run runs the binary with env, stdin and args, in dir when not "".
func run(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	return runIn(t, "", env, stdin, args...)
}

func runIn(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("setupkeys %s: %v", strings.Join(args, " "), err)
	}
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// example is the bundled example credential report.
func example() string { return filepath.Join(moduleRoot, "examples", "credential-report.csv") }

// runTTY runs the binary in a pseudo-terminal of cols columns, as a person at a terminal would:
// stdin, stdout and stderr are the terminal, so what it prints is what the person sees, in
// order. input is typed after start; the terminal's output is returned with "\r\n" as "\n".
func runTTY(t *testing.T, cols int, env []string, input string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(env, "TERM=dumb")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: 60})
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	defer tty.Close()
	if input != "" {
		if _, err := tty.Write([]byte(input)); err != nil {
			t.Fatalf("typing: %v", err)
		}
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		// Reading ends with EIO once the child has exited and the terminal has no writer.
		_, _ = io.Copy(&out, tty)
		close(done)
	}()
	err = cmd.Wait()
	<-done
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("setupkeys %s: %v", strings.Join(args, " "), err)
	}
	return result{code: code, stdout: strings.ReplaceAll(out.String(), "\r\n", "\n")}
}
