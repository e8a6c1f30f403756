package org

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/plural"
)

// DefaultConcurrency is how many accounts are audited at once when RunOptions.Concurrency is 0.
// IAM's rate limits are per account, so accounts run in parallel without throttling each other;
// what bounds concurrency is the caller's STS and Organizations rates, sockets and memory.
const DefaultConcurrency = 128

// DefaultPerAccountTimeout bounds one account's audit when RunOptions.PerAccountTimeout is 0.
// A credential report of a large account takes a minute or two to generate; an --exact audit of
// 5,000 users makes tens of thousands of calls and needs a longer deadline.
const DefaultPerAccountTimeout = 15 * time.Minute

// abandonAfter is how long Run waits, once an account's deadline has passed or the run was
// cancelled, for its audit to return before giving up on it. An audit that ignores its context
// must not hold up the run.
const abandonAfter = 5 * time.Second

// ErrCancelled is (wrapped in) the Err of the accounts whose audit the run's cancellation (Ctrl-C)
// stopped or never started.
var ErrCancelled = errors.New("cancelled")

// AuditFunc audits one account. It must honour ctx, which carries the account's deadline. Its
// result's AccountID and AccountName may be left empty: Run fills them in.
type AuditFunc func(ctx context.Context, a Account) (setupkeys.AccountResult, error)

// RunOptions configure Run.
type RunOptions struct {
	// Concurrency is how many accounts are audited at once; 0 means DefaultConcurrency.
	Concurrency int
	// PerAccountTimeout bounds each account's audit; 0 means DefaultPerAccountTimeout, a
	// negative value means no deadline.
	PerAccountTimeout time.Duration
	// Progress is told of the run's start, every account's result and the end; nil means none.
	Progress Progress

	// abandonAfter overrides the package's abandonAfter (tests).
	abandonAfter time.Duration
}

// Run audits every account with audit, at most opts.Concurrency at once, and hands each
// account's result to emit as soon as it is done (emit may be nil). Every account yields exactly
// one result, with AccountID and AccountName set: an account whose audit fails, panics, times out
// or is cancelled gets Err set, and the others go on. emit and opts.Progress are called from
// Run's own goroutine, one result at a time, in completion order; to keep memory flat in the
// number of accounts, emit should keep only what it needs (the findings).
//
// Run returns once every account has a result: ctx's error when it was cancelled (the accounts
// it stopped have errors wrapping ErrCancelled), else nil.
func Run(ctx context.Context, accounts []Account, opts RunOptions, audit AuditFunc, emit func(setupkeys.AccountResult)) error {
	progress := opts.Progress
	if progress == nil {
		progress = NoProgress{}
	}
	progress.Start(len(accounts))
	defer progress.Finish()

	workers := opts.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	workers = min(workers, len(accounts))
	timeout := opts.PerAccountTimeout
	if timeout == 0 {
		timeout = DefaultPerAccountTimeout
	}

	results := make(chan setupkeys.AccountResult, workers)
	stop := make(chan struct{}) // closed when Run returns, even if emit panics
	defer close(stop)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(accounts) {
					return
				}
				var r setupkeys.AccountResult
				if ctx.Err() != nil {
					r = finish(accounts[i], setupkeys.AccountResult{}, ErrCancelled)
				} else {
					r = runOne(ctx, accounts[i], timeout, opts.abandonAfter, audit)
				}
				select {
				case results <- r:
				case <-stop:
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		progress.AccountDone(r)
		if emit != nil {
			emit(r)
		}
	}
	return ctx.Err()
}

// Collect runs Run and returns every account's result, sorted by account ID.
func Collect(ctx context.Context, accounts []Account, opts RunOptions, audit AuditFunc) ([]setupkeys.AccountResult, error) {
	out := make([]setupkeys.AccountResult, 0, len(accounts))
	err := Run(ctx, accounts, opts, audit, func(r setupkeys.AccountResult) { out = append(out, r) })
	sort.SliceStable(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out, err
}

// PanicError is the Err of an account whose audit panicked. Error() is one line; Stack is there
// for a debug log.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("the audit panicked: %v", e.Value) }

type outcome struct {
	res setupkeys.AccountResult
	err error
}

// runOne audits one account under its deadline, turning a panic, a timeout or a cancellation
// into the result's Err.
func runOne(parent context.Context, a Account, timeout, abandon time.Duration, audit AuditFunc) setupkeys.AccountResult {
	if abandon <= 0 {
		abandon = abandonAfter
	}
	ctx, cancel := parent, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(parent, timeout)
	}
	defer cancel()

	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: &PanicError{Value: p, Stack: debug.Stack()}}
			}
		}()
		r, err := audit(ctx, a)
		done <- outcome{r, err}
	}()

	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t := time.NewTimer(abandon)
		select {
		case o = <-done:
		case <-t.C:
			o = outcome{err: fmt.Errorf("the audit did not stop within %s of its context ending: %w", abandon, ctx.Err())}
		}
		t.Stop()
	}
	err := o.err
	if err == nil {
		err = o.res.Err
	}
	if err != nil {
		switch {
		case parent.Err() != nil:
			err = fmt.Errorf("%w while auditing: %w", ErrCancelled, err)
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timed out after %s (--account-timeout): %w", timeout, err)
		}
	}
	return finish(a, o.res, err)
}

// finish sets the account on a result and its findings, and err as its Err.
func finish(a Account, r setupkeys.AccountResult, err error) setupkeys.AccountResult {
	if r.AccountID != "" && r.AccountID != a.ID {
		// The credentials reached another account (a wrong role ARN template, a profile for
		// the wrong account): what was found belongs to that account, not this one.
		err = fmt.Errorf("the audit of %s read account %s instead; dropping its %s", a.ID, r.AccountID, plural.Count(len(r.Findings), "finding"))
		r.Findings, r.Users, r.Passed = nil, 0, 0
	}
	r.AccountID = a.ID
	if r.AccountName == "" {
		r.AccountName = a.Name
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.AccountID == "" {
			f.AccountID = a.ID
		}
		if f.AccountName == "" {
			f.AccountName = r.AccountName
		}
	}
	r.Err = err
	return r
}
