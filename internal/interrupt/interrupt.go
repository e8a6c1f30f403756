// Package interrupt turns Ctrl-C (SIGINT) and SIGTERM into an orderly stop. The first signal
// cancels the run's context, so no new work starts, while a call already in flight (held with
// Hold) finishes or times out and its outcome is journalled; the process then exits 130 for
// SIGINT, 143 for SIGTERM, saying "interrupted: run the same command again to resume". A
// second signal exits at once. A run blocked where nothing is held (reading a FIFO or stdin
// that never ends) is not trapped: it is ended a moment after the first signal.
package interrupt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Message is what an interrupted run says.
const Message = "interrupted: run the same command again to resume"

// Error is the cause of an interrupted run's context, and what the run returns.
type Error struct{ Signal os.Signal }

func (e *Error) Error() string { return Message }

// ExitCode is 128 plus the signal's number: 130 for SIGINT, 143 for SIGTERM.
func (e *Error) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// Grace is how long the process waits, once nothing is held, for the run to return on its own
// after the first signal before it exits anyway.
const Grace = 2 * time.Second

// Handler watches for the signals of one run.
type Handler struct {
	mu      sync.Mutex
	holds   int
	idle    chan struct{} // closed and replaced as holds drop to 0
	sig     os.Signal
	stderr  io.Writer
	exit    func(int)
	cancel  context.CancelCauseFunc
	signals chan os.Signal
	stopped chan struct{}
	grace   time.Duration
}

type ctxKey struct{}

// Notify starts watching SIGINT and SIGTERM for a run under parent. exit ends the process
// (os.Exit in main; tests pass their own). Stop releases the signals.
func Notify(parent context.Context, stderr io.Writer, exit func(int)) (context.Context, *Handler) {
	h := &Handler{stderr: stderr, exit: exit, signals: make(chan os.Signal, 2), stopped: make(chan struct{}), idle: make(chan struct{}), grace: Grace}
	close(h.idle)
	ctx, cancel := context.WithCancelCause(parent)
	h.cancel = cancel
	ctx = context.WithValue(ctx, ctxKey{}, h)
	signal.Notify(h.signals, os.Interrupt, syscall.SIGTERM)
	go h.watch()
	return ctx, h
}

func (h *Handler) watch() {
	var first os.Signal
	for {
		select {
		case <-h.stopped:
			return
		case s := <-h.signals:
			if first != nil {
				fmt.Fprintln(h.stderr, "\nsetupkeys: "+Message+" (stopped at once by a second signal)")
				h.exit((&Error{Signal: first}).ExitCode())
				return
			}
			first = s
			h.mu.Lock()
			h.sig = s
			h.mu.Unlock()
			h.cancel(&Error{Signal: s})
			fmt.Fprintln(h.stderr, "\nsetupkeys: stopping: no new work starts; a call in flight finishes or times out and is journalled (signal again to stop at once)")
			go h.exitWhenIdle(s)
		}
	}
}

// exitWhenIdle ends the process Grace after nothing is held any more, in case the run is
// blocked somewhere that does not watch its context (a read of a FIFO or of stdin).
func (h *Handler) exitWhenIdle(s os.Signal) {
	for {
		h.mu.Lock()
		idle := h.idle
		h.mu.Unlock()
		select {
		case <-h.stopped:
			return
		case <-idle:
		}
		select {
		case <-h.stopped:
			return
		case <-time.After(h.grace):
		}
		h.mu.Lock()
		busy := h.holds > 0
		h.mu.Unlock()
		if !busy {
			fmt.Fprintln(h.stderr, "setupkeys: "+Message)
			h.exit((&Error{Signal: s}).ExitCode())
			return
		}
	}
}

// Stop releases the signals; the run has returned.
func (h *Handler) Stop() {
	signal.Stop(h.signals)
	select {
	case <-h.stopped:
	default:
		close(h.stopped)
	}
}

// Interrupted returns the *Error when a signal arrived, nil otherwise.
func (h *Handler) Interrupted() *Error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sig == nil {
		return nil
	}
	return &Error{Signal: h.sig}
}

// Hold marks work that must finish before the process exits on a first signal (an IAM write
// and the journal entry of its outcome) and returns the function that ends it. Without a
// Handler in ctx it does nothing.
func Hold(ctx context.Context) (release func()) {
	h, _ := ctx.Value(ctxKey{}).(*Handler)
	if h == nil {
		return func() {}
	}
	h.mu.Lock()
	if h.holds == 0 {
		h.idle = make(chan struct{})
	}
	h.holds++
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.holds--
			if h.holds == 0 {
				close(h.idle)
			}
			h.mu.Unlock()
		})
	}
}

// Cause returns the *Error when ctx ended because of a signal, nil otherwise.
func Cause(ctx context.Context) *Error {
	var e *Error
	if errors.As(context.Cause(ctx), &e) {
		return e
	}
	return nil
}
