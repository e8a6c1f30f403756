package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// confirmPlan shows the plan and the action on out and asks the person to type the plan's account
// ID on in. It returns nil only when they typed it. Without a terminal (isTTY false) nobody can
// answer: it returns remediate.ErrNotInteractive at once, without prompting; the CLI asks for --yes then.
// A plan with nothing to act on needs no confirmation.
func confirmPlan(in io.Reader, out io.Writer, isTTY bool, p *remediate.Plan, action remediate.Action) error {
	if action == "" {
		action = remediate.ActionDeactivate
	}
	if len(p.Actions) == 0 {
		writePlanSummary(out, p, action)
		return nil
	}
	if !isTTY {
		return fmt.Errorf("%w: refusing to %s %s without confirmation; run in a terminal or pass --yes", remediate.ErrNotInteractive, action, plural.Count(len(p.Actions), "key"))
	}
	writePlanSummary(out, p, action)
	if p.MultiAccount() {
		fmt.Fprintf(out, "\nType your account ID (%s, which made this plan) to %s %s in %s: ", p.AccountID, action, plural.Count(len(p.Actions), "key"), plural.Count(len(p.ActionAccounts()), "account"))
	} else {
		fmt.Fprintf(out, "\nType the account ID (%s) to %s %s: ", p.AccountID, action, plural.Count(len(p.Actions), "key"))
	}
	return readAccountID(in, out, p.AccountID)
}

// readAccountID reads the line a person typed after a prompt and accepts it only when it is
// account: typing the account ID, not "y", is what stops a change aimed at the wrong account.
func readAccountID(in io.Reader, out io.Writer, account string) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", remediate.ErrNotConfirmed, err)
	}
	if strings.TrimSpace(line) != account {
		fmt.Fprintln(out)
		return fmt.Errorf("%w: the account ID was not typed; nothing was done", remediate.ErrNotConfirmed)
	}
	return nil
}

// writePlanSummary prints the plan for people: where it came from, what would be done to which
// keys (key IDs masked), and what is listed but not planned.
func writePlanSummary(w io.Writer, p *remediate.Plan, action remediate.Action) {
	if action == "" {
		action = remediate.ActionDeactivate
	}
	multi := p.MultiAccount()
	if multi {
		fmt.Fprintf(w, "Plan %s over %s (%d audited), made %s by account %s\n", p.ID, plural.Count(len(p.Accounts), "account"), len(p.Accounts)-len(p.NotAudited()), p.CreatedAt.UTC().Format(time.RFC3339), p.AccountID)
		if na := p.NotAudited(); len(na) > 0 {
			fmt.Fprintf(w, "Not audited, so nothing in them is planned (%d):\n", len(na))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, a := range na {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.AccountID, termsafe.String(a.AccountName), termsafe.String(a.Error))
			}
			tw.Flush()
		}
	} else {
		fmt.Fprintf(w, "Plan %s for account %s, made %s from %s\n", p.ID, p.AccountID, p.CreatedAt.UTC().Format(time.RFC3339), describeSource(p.Source))
	}
	if p.Digest != "" {
		fmt.Fprintf(w, "Plan file digest: %s\n", p.Digest)
	}
	acctCell := func(account string) string {
		if multi {
			return account + "\t"
		}
		return ""
	}
	if len(p.Actions) == 0 {
		fmt.Fprintln(w, "Nothing to do: no key is planned.")
	} else {
		switch action {
		case remediate.ActionDelete:
			fmt.Fprintf(w, "Will DELETE %s. Deleted keys cannot be restored.\n", plural.Count(len(p.Actions), "access key"))
		default:
			fmt.Fprintf(w, "Will deactivate %s (setupkeys rollback can re-activate them).\n", plural.Count(len(p.Actions), "access key"))
		}
		if !p.Resolved {
			fmt.Fprintf(w, "%d of them have no access key ID yet (made from a report file): they must be resolved live before apply.\n", len(p.Unresolved()))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  %sUSER\tACCESS KEY\tSLOT\tCREATED\tSTATUS\n", acctCell("ACCOUNT"))
		for _, a := range p.Actions {
			fmt.Fprintf(tw, "  %s%s\t%s\t%d\t%s\t%s\n", acctCell(a.AccountID), termsafe.String(a.User), maskOrUnknown(a.AccessKeyID), a.KeySlot, a.Preconditions.CreateDate.UTC().Format(time.RFC3339), a.Status)
		}
		tw.Flush()
	}
	if len(p.Listed) > 0 {
		fmt.Fprintf(w, "Listed, not planned (%d):\n", len(p.Listed))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, l := range p.Listed {
			fmt.Fprintf(tw, "  %s%s\t%s\t%d\t%s\n", acctCell(l.AccountID), termsafe.String(l.User), maskOrUnknown(l.AccessKeyID), l.KeySlot, termsafe.String(l.Why))
		}
		tw.Flush()
	}
}

// writeSummary prints an Apply or Rollback result for people, one line per key (key IDs masked),
// then the counts.
// Results in another account than the summary's show their account.
func writeSummary(w io.Writer, s *remediate.Summary) {
	multi := false
	for _, r := range s.Results {
		multi = multi || r.AccountID != s.AccountID
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range s.Results {
		note := termsafe.String(r.Reason)
		if r.Earlier && note == "" {
			note = "done by an earlier run"
		}
		acct := ""
		if multi {
			acct = r.AccountID + "\t"
		}
		line := fmt.Sprintf("%s\t%s%s\t%s", r.Outcome, acct, termsafe.String(r.User), setupkeys.MaskKeyID(r.AccessKeyID))
		if note != "" {
			line += "\t" + note
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	writeCounts(w, s)
}

// writeCounts prints the last line of an Apply or Rollback summary: the outcomes counted.
func writeCounts(w io.Writer, s *remediate.Summary) {
	c := s.Counts()
	var parts []string
	for _, o := range []remediate.Outcome{remediate.OutcomeDeactivated, remediate.OutcomeDeleted, remediate.OutcomeReactivated, remediate.OutcomeSkipped, remediate.OutcomeRefused, remediate.OutcomeNotRestorable, remediate.OutcomeFailed, remediate.OutcomeUnknown} {
		if c[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[o], o))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to do")
	}
	fmt.Fprintf(w, "%s: %s (journal %s)\n", s.Action, strings.Join(parts, ", "), termsafe.String(s.Journal))
}

func describeSource(s setupkeys.Source) string {
	var b strings.Builder
	b.WriteString(string(s.Kind))
	if s.File != "" {
		fmt.Fprintf(&b, " %s", termsafe.String(s.File))
	}
	if s.GeneratedTime != nil {
		fmt.Fprintf(&b, " (report generated %s)", s.GeneratedTime.UTC().Format(time.RFC3339))
	}
	if b.Len() == 0 {
		return "an unknown source"
	}
	return b.String()
}

func maskOrUnknown(id *string) string {
	if id == nil || *id == "" {
		return "(unresolved)"
	}
	return setupkeys.MaskKeyID(*id)
}
