package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

func TestNewProgress(t *testing.T) {
	var buf bytes.Buffer
	for _, c := range []struct {
		tty, quiet bool
		bar        bool
	}{{false, false, false}, {true, true, false}, {false, true, false}, {true, false, true}} {
		p := NewProgress(&buf, c.tty, c.quiet)
		if _, isBar := p.(*Bar); isBar != c.bar {
			t.Errorf("NewProgress(tty=%v, quiet=%v) = %T", c.tty, c.quiet, p)
		}
	}
	// The no-op writes nothing.
	p := NewProgress(&buf, false, false)
	p.Start(3)
	p.AccountDone(setupkeys.AccountResult{Err: errors.New("x")})
	p.Finish()
	if buf.Len() != 0 {
		t.Errorf("NoProgress wrote %q", buf.String())
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBar(&buf)
	b.now = func() time.Time { return clock }
	b.Start(1000)
	if got := buf.String(); got != "\raccounts 0/1000  findings 0  errors 0  0s" {
		t.Errorf("start drew %q", got)
	}
	buf.Reset()

	fail := setupkeys.AccountResult{Findings: []setupkeys.Finding{
		{Status: setupkeys.StatusFail}, {Status: setupkeys.StatusReview}, {Status: setupkeys.StatusPass},
	}}
	// Within 100 ms of the last draw: counted, not drawn.
	clock = clock.Add(50 * time.Millisecond)
	b.AccountDone(fail)
	b.AccountDone(setupkeys.AccountResult{Err: errors.New("AccessDenied")})
	if buf.Len() != 0 {
		t.Errorf("redrew within 100 ms: %q", buf.String())
	}
	clock = clock.Add(70 * time.Millisecond)
	b.AccountDone(setupkeys.AccountResult{})
	if got := buf.String(); got != "\raccounts 3/1000  findings 2  errors 1  0s" {
		t.Errorf("drew %q", got)
	}
	buf.Reset()

	// Many results in a burst draw at most 10 times a second.
	for range 500 {
		clock = clock.Add(time.Millisecond)
		b.AccountDone(setupkeys.AccountResult{})
	}
	if n := strings.Count(buf.String(), "\r"); n > 6 || n < 4 {
		t.Errorf("%d redraws over 500 ms", n)
	}
	buf.Reset()

	clock = clock.Add(64 * time.Second)
	b.Finish()
	if got := buf.String(); got != "\raccounts 503/1000  findings 2  errors 1  1m4s\n" {
		t.Errorf("finish drew %q", got)
	}
}

func TestBarBlanksALongerLine(t *testing.T) {
	var buf bytes.Buffer
	b := NewBar(&buf)
	b.width = 60
	b.Start(2)
	line := strings.TrimPrefix(buf.String(), "\r")
	if len(line) != 60 || strings.TrimRight(line, " ") != "accounts 0/2  findings 0  errors 0  0s" {
		t.Errorf("drew %q", line)
	}
}

func TestBarDrawsTheLastAccount(t *testing.T) {
	var buf bytes.Buffer
	b := NewBar(&buf)
	clock := time.Now()
	b.now = func() time.Time { return clock }
	b.Start(2)
	b.AccountDone(setupkeys.AccountResult{})
	b.AccountDone(setupkeys.AccountResult{})
	if !strings.HasSuffix(buf.String(), "accounts 2/2  findings 0  errors 0  0s") {
		t.Errorf("drew %q", buf.String())
	}
}
