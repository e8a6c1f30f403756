package cli

import (
	"fmt"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// reportProblems writes the run's warnings, the accounts that could not be audited and the
// accounts skipped to stderr, one line each, so that they reach a person whatever the outputs
// are: CSV has no place for them, and a table or JSON sent to a file or a pipe is not read as it
// comes. Only a table on a
// terminal already shows them where they are read, and they are not said twice there.
func reportProblems(streams IOStreams, outs []Output, a setupkeys.Audit) {
	for _, out := range outs {
		if out.Path == "" && out.Format == "table" && streams.StdoutIsTTY {
			return
		}
	}
	multi := len(a.Accounts) > 1
	for _, acct := range a.Accounts {
		where := ""
		if multi || acct.Err != nil {
			where = "account " + acct.AccountID + ": "
		}
		if acct.Err != nil {
			fmt.Fprintf(streams.ErrOut, "setupkeys: error: %scould not be audited: %s\n", where, termsafe.String(withPermissionHint(acct.Err)))
		}
		for _, w := range acct.Warnings {
			fmt.Fprintf(streams.ErrOut, "setupkeys: warning: %s%s\n", where, termsafe.String(w))
		}
	}
	for _, s := range a.Skipped {
		fmt.Fprintf(streams.ErrOut, "setupkeys: warning: account %s skipped, not audited: %s\n",
			termsafe.String(org.Account{ID: s.AccountID, Name: s.Name}.String()), termsafe.String(report.SkipReasonText(s.Reason)))
	}
}
