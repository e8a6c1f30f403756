package interrupt

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exits records the codes the handler exits with.
type exits struct {
	mu    sync.Mutex
	codes []int
	got   chan int
}

func newExits() *exits { return &exits{got: make(chan int, 4)} }

func (e *exits) exit(code int) {
	e.mu.Lock()
	e.codes = append(e.codes, code)
	e.mu.Unlock()
	e.got <- code
}

func start(t *testing.T, grace time.Duration) (context.Context, *Handler, *exits, *syncBuffer) {
	t.Helper()
	ex, out := newExits(), &syncBuffer{}
	ctx, h := Notify(context.Background(), out, ex.exit)
	h.grace = grace
	t.Cleanup(h.Stop)
	return ctx, h, ex, out
}

func send(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
}

func TestFirstSignalCancelsAndWaitsForHolds(t *testing.T) {
	ctx, h, ex, out := start(t, 50*time.Millisecond)
	release := Hold(ctx)
	send(t, syscall.SIGINT)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context was not cancelled")
	}
	if c := Cause(ctx); c == nil || c.ExitCode() != 130 || c.Error() != Message {
		t.Fatalf("cause = %v", c)
	}
	if h.Interrupted() == nil {
		t.Fatal("Interrupted is nil")
	}
	// Held: no exit, however long past the grace.
	select {
	case code := <-ex.got:
		t.Fatalf("exited %d while a call was held", code)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case code := <-ex.got:
		if code != 130 {
			t.Fatalf("exit %d, want 130", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit after the hold was released")
	}
	if !bytes.Contains(out.Bytes(), []byte("interrupted: run the same command again to resume")) {
		t.Errorf("stderr: %q", out.Bytes())
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	ctx, _, ex, _ := start(t, time.Hour)
	release := Hold(ctx)
	defer release()
	send(t, syscall.SIGTERM)
	<-ctx.Done()
	send(t, syscall.SIGINT)
	select {
	case code := <-ex.got:
		if code != 143 {
			t.Fatalf("exit %d, want 143 (the first signal's)", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not exit")
	}
}

func TestHoldWithoutHandler(t *testing.T) {
	Hold(context.Background())() // no handler: nothing to do, no panic
	if Cause(context.Background()) != nil {
		t.Fatal("cause without a signal")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}
