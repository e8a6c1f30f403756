package binarytest

import (
	"bytes"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// start runs the binary in the background and returns a function that waits for it to end
// (at most within) and gives its result.
func start(t *testing.T, env []string, args ...string) (*exec.Cmd, func(within time.Duration) result) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, func(within time.Duration) result {
		t.Helper()
		select {
		case err := <-done:
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return result{code: code, stdout: out.String(), stderr: errOut.String()}
		case <-time.After(within):
			cmd.Process.Kill()
			t.Fatalf("setupkeys %s still running after %s; stderr:\n%s", strings.Join(args, " "), within, errOut.String())
			return result{}
		}
	}
}

// waitForReader returns once the binary has opened fifo for reading, so it is up, its signal
// handling set, and blocked on the read (a fixed sleep raced a loaded machine). The write end
// stays open, never written, until the test ends.
func waitForReader(t *testing.T, fifo string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A non-blocking open for writing fails with ENXIO until a reader has the FIFO open.
		fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			t.Cleanup(func() { syscall.Close(fd) })
			return
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			t.Fatalf("the binary never opened %s for reading: %v", fifo, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A report path that is a FIFO nobody writes blocks the read; Ctrl-C or SIGTERM still ends the
// run, exit 130 or 143, saying how to resume.
func TestSignalEndsABlockedRead(t *testing.T) {
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "report.csv")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd, wait := start(t, cleanEnv(t), "audit", "--report", fifo)
			waitForReader(t, fifo)
			cmd.Process.Signal(tt.sig)
			r := wait(15 * time.Second)
			if r.code != tt.code || !strings.Contains(r.stderr, "interrupted: run the same command again to resume") {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
		})
	}
}

// A second signal ends the run at once, even while the first is still being honoured.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "report.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, wait := start(t, cleanEnv(t), "audit", "--report", fifo)
	waitForReader(t, fifo)
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if r := wait(5 * time.Second); r.code != 130 || !strings.Contains(r.stderr, "stopped at once by a second signal") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// A server that accepts connections and never answers: audit ends with exit 1 and says it gave
// up, within the configured call timeout, the identity call included.
func TestSilentServerExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	env := append(cleanEnv(t), "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1")
	_, wait := start(t, env, "audit", "--endpoint-url", "http://"+ln.Addr().String(), "--attempt-timeout", "300ms", "--call-timeout", "1s")
	r := wait(30 * time.Second)
	if r.code != 1 || !strings.Contains(r.stderr, "call timeout") {
		t.Fatalf("exit %d, want 1 naming the timeout; stderr:\n%s", r.code, r.stderr)
	}
}

// --endpoint-url takes http and https only (exit 2).
func TestEndpointURLScheme(t *testing.T) {
	r := run(t, cleanEnv(t), "", "audit", "--endpoint-url", "ftp://example.com/")
	if r.code != 2 || !strings.Contains(r.stderr, "want an absolute http:// or https:// URL") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
}
