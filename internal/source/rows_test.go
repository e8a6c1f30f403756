package source

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// judgedRows is a Rows that judges each row as it comes, as the audit pipeline does, so that the
// tests can state a source's rows as findings. It also keeps the rows, and notes a misuse of the
// interface (a row before Source).
type judgedRows struct {
	opts     Options
	res      setupkeys.AccountResult
	rows     []setupkeys.User
	sources  int
	misuse   []string
	verdicts []rule.Verdict
}

func (j *judgedRows) Source(src setupkeys.Source) {
	j.sources++
	j.res.Source = src
}

func (j *judgedRows) Warn(w string) { j.res.Warnings = append(j.res.Warnings, w) }

func (j *judgedRows) User(u setupkeys.User, again bool) error {
	if j.sources != 1 {
		j.misuse = append(j.misuse, fmt.Sprintf("row %s after %d Source calls", u.Name, j.sources))
	}
	j.rows = append(j.rows, u)
	if !again {
		j.res.Users++
	}
	if j.res.AccountID == "" {
		j.res.AccountID = u.AccountID
	}
	j.verdicts = rule.Judge(u, j.opts.Rule, j.verdicts)
	for _, v := range j.verdicts {
		if v.Status == setupkeys.StatusPass {
			j.res.Passed++
			if !j.opts.KeepPassing {
				continue
			}
		}
		j.res.Findings = append(j.res.Findings, rule.NewFinding(u, v, j.res.Source))
	}
	return nil
}

// result is the account's result, err its error.
func (j *judgedRows) result(err error) (setupkeys.AccountResult, error) {
	if len(j.misuse) > 0 {
		panic(fmt.Sprint("source misused Rows: ", j.misuse))
	}
	j.res.Err = err
	return j.res, err
}

func fromReport(r io.Reader, name string, opts Options) (setupkeys.AccountResult, error) {
	j := &judgedRows{opts: opts}
	return j.result(ReportFile(r, name, time.Now(), j))
}

func liveReport(ctx context.Context, api ReportAPI, accountID string, opts LiveOptions) (setupkeys.AccountResult, error) {
	j := &judgedRows{opts: opts.Options}
	j.res.AccountID = accountID
	return j.result(LiveReport(ctx, api, accountID, opts, j))
}

func liveExact(ctx context.Context, api ExactAPI, accountID string, opts LiveOptions) (setupkeys.AccountResult, error) {
	j := &judgedRows{opts: opts.Options}
	j.res.AccountID = accountID
	return j.result(LiveExact(ctx, api, accountID, opts, j))
}
