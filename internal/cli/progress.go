package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
)

// NewProgress returns the progress of a multi-account run: a Bar on w when w is a terminal and the
// user did not ask for quiet, and org.NoProgress otherwise (a pipe, a file, CI logs).
func NewProgress(w io.Writer, isTTY, quiet bool) org.Progress {
	if !isTTY || quiet || w == nil {
		return org.NoProgress{}
	}
	return NewBar(w)
}

// barInterval is the shortest time between two redraws: at most 10 a second.
const barInterval = 100 * time.Millisecond

// Bar is a one-line progress display, redrawn in place with a carriage return:
//
//	accounts 312/1000  findings 57  errors 2  1m04s
//
// findings counts fail and review verdicts. It is safe for concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	now      func() time.Time
	started  time.Time
	drawn    time.Time
	width    int // length of the line on screen, to blank what a shorter one leaves
	total    int
	done     int
	findings int
	errors   int
}

// NewBar returns a Bar writing to w.
func NewBar(w io.Writer) *Bar { return &Bar{w: w, now: time.Now} }

// Start draws the bar at 0 of total.
func (b *Bar) Start(total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = total
	b.started = b.now()
	b.drawLocked()
}

// AccountDone counts r and redraws, unless the last redraw was under 100 ms ago.
func (b *Bar) AccountDone(r setupkeys.AccountResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done++
	if r.Err != nil {
		b.errors++
	}
	for _, f := range r.Findings {
		if f.Status == setupkeys.StatusFail || f.Status == setupkeys.StatusReview {
			b.findings++
		}
	}
	if b.now().Sub(b.drawn) >= barInterval || b.done == b.total {
		b.drawLocked()
	}
}

// Finish draws the final counts and ends the line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drawLocked()
	fmt.Fprintln(b.w)
}

func (b *Bar) drawLocked() {
	now := b.now()
	b.drawn = now
	line := fmt.Sprintf("accounts %d/%d  findings %d  errors %d  %s",
		b.done, b.total, b.findings, b.errors, now.Sub(b.started).Truncate(time.Second))
	pad := ""
	if n := b.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	b.width = len(line)
	fmt.Fprint(b.w, "\r"+line+pad)
}
