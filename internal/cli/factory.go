// Package cli holds the cobra commands. Each command is an Options struct, a NewCmdX that parses
// flags into it, and an xRun that does the work through the packages below; flag parsing is
// tested apart from behaviour by passing a runF.
package cli

import (
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/credreport"
	"github.com/setupkeys/setupkeys/internal/interrupt"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/suppress"
)

// Exit codes, the contract in README.md.
const (
	ExitOK       = 0
	ExitError    = 1 // AWS unreachable, access denied, an account that could not be audited
	ExitBadInput = 2 // bad usage or bad input
	ExitFailed   = 3 // at least one key failed the rule
)

// IOStreams are the process's standard streams, swapped for buffers in tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// StdinIsTTY, StdoutIsTTY and StderrIsTTY say whether a person is there to answer, to read
	// and to watch progress.
	StdinIsTTY  bool
	StdoutIsTTY bool
	StderrIsTTY bool
	// StdoutWidth is the terminal's width in columns when stdout is one, else 0 (no limit).
	StdoutWidth int
}

// SystemIO returns the real streams.
func SystemIO() IOStreams {
	s := IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		StdinIsTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutIsTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrIsTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	if s.StdoutIsTTY {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
			s.StdoutWidth = w
		}
	}
	return s
}

// Factory carries what commands need from the outside world.
type Factory struct {
	IO  IOStreams
	Now func() time.Time
	// AWS makes the AWS clients: SDKClients in main, an in-memory fake in tests.
	AWS AWSClients
}

// exitError carries an exit code up to main. Err may be nil when the output already said it all
// (a failing audit).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// BadInput marks err as the user's input being wrong: exit 2. Typed errors of the packages
// below (isBadInput) need no marking: ExitCode knows them.
func BadInput(err error) error { return &exitError{code: ExitBadInput, err: err} }

// badInputErrors are the refusals of the packages below that mean "your input or usage is wrong".
var badInputErrors = []error{
	remediate.ErrBadPlan, remediate.ErrUnresolved, remediate.ErrWrongAccount, remediate.ErrNotInteractive,
	remediate.ErrNotConfirmed, remediate.ErrJournalBusy, remediate.ErrBadJournal, remediate.ErrJournalUnusable,
}

// isBadInput reports whether err is, by its type, bad input or usage.
func isBadInput(err error) bool {
	for _, refusal := range badInputErrors {
		if errors.Is(err, refusal) {
			return true
		}
	}
	var (
		reportErr   *credreport.Error
		suppressErr *suppress.Error
		optionErr   *awsconfig.OptionError
	)
	return errors.As(err, &reportErr) || errors.As(err, &suppressErr) || errors.As(err, &optionErr)
}

// ExitCode maps an error from a command to the process's exit code and the message to print
// ("" when there is nothing to add). It is the one place exit codes are decided, from the errors'
// types: an explicit exitError first, then the typed refusals of the packages below, else 1.
func ExitCode(err error) (int, string) {
	if err == nil {
		return ExitOK, ""
	}
	var interrupted *interrupt.Error
	if errors.As(err, &interrupted) {
		return interrupted.ExitCode(), interrupted.Error()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.Error()
	}
	if isBadInput(err) {
		return ExitBadInput, err.Error()
	}
	return ExitError, withPermissionHint(err)
}
