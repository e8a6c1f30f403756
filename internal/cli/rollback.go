package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// RollbackOptions is everything `setupkeys rollback` needs.
type RollbackOptions struct {
	IO      IOStreams
	Now     func() time.Time
	Clients AWSClients

	AWS         AWSFlags
	Role        RoleFlags
	JournalPath string
	// PlanID picks one plan of a journal that records several; "" when it records one.
	PlanID string
	Yes    bool
	// IncludeRecovered re-activates keys whose deactivation was only recovered after an
	// interrupted apply too (setupkeys may not have deactivated them).
	IncludeRecovered bool
	// LegacyJournal allows a journal of format 1 (unchained, not tamper-evident).
	LegacyJournal bool
}

// NewCmdRollback builds `setupkeys rollback`. runF replaces the run in tests of flag parsing.
func NewCmdRollback(f *Factory, runF func(context.Context, *RollbackOptions) error) *cobra.Command {
	opts := &RollbackOptions{IO: f.IO, Now: f.Now, Clients: f.aws()}
	cmd := &cobra.Command{
		Use:   "rollback JOURNAL",
		Short: "Re-activate the keys an apply journal deactivated, and only those",
		Long: `rollback reads the journal setupkeys apply wrote and re-activates each key it deactivated,
checking first that the key still exists and is Inactive, then reading it back until IAM shows it
Active. Keys the journal deleted cannot come back: rollback says so, key by key. Keys someone
re-activated or deleted outside the journal are reported and left alone. Rollback writes its own
entries to the same journal, so it too can be run again after an interruption.

If an apply was interrupted between writing its intent and recording the outcome, and the re-run
found the key already Inactive, the journal cannot tell whether setupkeys or someone else
deactivated it: rollback skips such keys and says so, unless --include-recovered.

A journal can record several plans (apply --journal with the same file): rollback then needs
--plan-id to pick one, and lists the plan IDs it found when it is missing.

A journal of format 1 (written by a setupkeys from before journals were chained) cannot be proven
untampered: rollback refuses it (exit 2) unless --legacy-journal, and then re-activates only the
keys it records as deactivated (done), with a warning.

Without --yes it lists the keys and asks you to type the account ID; without a terminal it
refuses. A journal of a multi-account plan is rolled back with the credentials of the account
that made the plan, reaching each account through the role (--role-name, --role-arn-template,
--external-id).`,
		Example: `  setupkeys rollback plan.json.journal.jsonl
  setupkeys rollback plan.json.journal.jsonl --yes
  setupkeys rollback shared.journal.jsonl --plan-id plan-0a588d54e8bb61ad`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JournalPath = args[0]
			if opts.PlanID != "" && !strings.HasPrefix(opts.PlanID, "plan-") {
				return BadInput(fmt.Errorf("--plan-id %q is not a plan ID (plan-...)", opts.PlanID))
			}
			if err := opts.Role.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return rollbackRun(cmd.Context(), opts)
		},
	}
	opts.AWS.register(cmd)
	opts.Role.register(cmd)
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (needed without a terminal)")
	cmd.Flags().StringVar(&opts.PlanID, "plan-id", "", "roll back only plan `ID` of a journal that records several")
	cmd.Flags().BoolVar(&opts.IncludeRecovered, "include-recovered", false, "also re-activate keys an interrupted apply found already inactive (setupkeys may not have deactivated them)")
	cmd.Flags().BoolVar(&opts.LegacyJournal, "legacy-journal", false, "roll back a journal of format 1 (not tamper-evident): only keys it records as deactivated (done)")
	return cmd
}

func rollbackRun(ctx context.Context, opts *RollbackOptions) error {
	entries, err := remediate.ReadJournal(opts.JournalPath)
	var format1 *remediate.Format1Error
	format1Journal := errors.As(err, &format1)
	switch {
	case format1Journal && !opts.LegacyJournal:
		return BadInput(fmt.Errorf("%w; roll it back with --legacy-journal to re-activate only the keys it records as deactivated (done)", err))
	case format1Journal:
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s: nothing proves it was not edited by hand; only the keys it records as deactivated (done) are re-activated\n", err)
		entries, err = remediate.ReadFormat1Journal(opts.JournalPath)
	}
	if err != nil {
		return BadInput(err)
	}
	if len(entries) == 0 {
		return BadInput(fmt.Errorf("%s: the journal is empty: nothing was applied with it", opts.JournalPath))
	}
	all := remediate.Candidates(entries, "")
	if format1Journal {
		all = remediate.DoneOnly(all)
	}
	cands, err := pickPlan(opts.JournalPath, all, opts.PlanID)
	if err != nil {
		return err
	}
	caller, err := opts.Clients.Connect(ctx, opts.AWS)
	if err != nil {
		return err
	}
	if err := remediate.CheckRollbackAccounts(cands, caller.Account); err != nil {
		return BadInput(fmt.Errorf("%s: %w (%s); nothing was done", opts.JournalPath, err, caller.ARN))
	}
	multi := false
	for _, c := range cands {
		multi = multi || c.CallerAccount != "" || c.AccountID != caller.Account
	}
	restorable := 0
	for _, c := range cands {
		if c.Restorable(opts.IncludeRecovered) {
			restorable++
		}
	}
	switch {
	case restorable == 0:
		// Nothing to re-activate: the run only reports, no confirmation needed.
	case opts.Yes:
		what := opts.JournalPath
		if opts.PlanID != "" {
			what = "plan " + opts.PlanID + " of " + what
		}
		fmt.Fprintf(opts.IO.ErrOut, "Rolling back %s: re-activating up to %s\n", what, plural.Count(restorable, "key"))
	default:
		if err := confirmRollback(opts.IO.In, opts.IO.ErrOut, opts.IO.StdinIsTTY, opts.JournalPath, cands, caller.Account, restorable, multi, opts.IncludeRecovered); err != nil {
			return err
		}
	}
	ro := remediate.RollbackOptions{
		JournalPath:      opts.JournalPath,
		Client:           caller.Self,
		CallerAccount:    caller.Account,
		PlanID:           opts.PlanID,
		IncludeRecovered: opts.IncludeRecovered,
		Format1:          format1Journal,
		OnResult:         progressLine(opts.IO.ErrOut, multi),
		CallTimeout:      opts.AWS.CallTimeout,
		Now:              opts.Now,
	}
	if multi {
		ro.ClientFor = opts.Role.clientFor(caller)
	}
	sum, err := remediate.Rollback(ctx, ro)
	if errors.Is(err, os.ErrNotExist) {
		return BadInput(err)
	}
	return finishRun(opts.IO, sum, err)
}

// pickPlan returns the candidates of the plan to roll back: planID's, or the only plan's. A
// journal that records several plans needs planID (exit 2 naming them); an unknown planID is
// exit 2 too.
func pickPlan(journal string, cands []remediate.RollbackCandidate, planID string) ([]remediate.RollbackCandidate, error) {
	var order []string
	byPlan := map[string][]remediate.RollbackCandidate{}
	for _, c := range cands {
		if _, ok := byPlan[c.PlanID]; !ok {
			order = append(order, c.PlanID)
		}
		byPlan[c.PlanID] = append(byPlan[c.PlanID], c)
	}
	describe := func() string {
		parts := make([]string, 0, len(order))
		for _, id := range order {
			parts = append(parts, id+" ("+describePlanKeys(byPlan[id])+")")
		}
		return strings.Join(parts, ", ")
	}
	switch {
	case planID != "":
		if _, ok := byPlan[planID]; !ok {
			if len(order) == 0 {
				return nil, BadInput(fmt.Errorf("%s: the journal records no key deactivated or deleted by plan %s (nor by any plan); nothing was done", journal, planID))
			}
			return nil, BadInput(fmt.Errorf("%s: the journal records no key deactivated or deleted by plan %s; it records %s; nothing was done", journal, planID, describe()))
		}
		return byPlan[planID], nil
	case len(order) > 1:
		return nil, BadInput(fmt.Errorf("%s records %d plans: %s; pick one with --plan-id; nothing was done", journal, len(order), describe()))
	}
	return cands, nil
}

// describePlanKeys says how many keys a plan's candidates are and in which accounts.
func describePlanKeys(cands []remediate.RollbackCandidate) string {
	accounts := map[string]bool{}
	callers := map[string]bool{}
	for _, c := range cands {
		accounts[c.AccountID] = true
		if c.CallerAccount != "" {
			callers[c.CallerAccount] = true
		}
	}
	s := plural.Count(len(cands), "key") + " in account"
	if len(accounts) > 1 {
		s += "s"
	}
	s += " " + strings.Join(slices.Sorted(maps.Keys(accounts)), ", ")
	if len(callers) > 0 {
		s += ", made by " + strings.Join(slices.Sorted(maps.Keys(callers)), ", ")
	}
	return s
}

// confirmRollback lists what the journal did to each key and asks for the account ID, as apply
// does.
func confirmRollback(in io.Reader, out io.Writer, isTTY bool, journal string, cands []remediate.RollbackCandidate, account string, restorable int, multi, includeRecovered bool) error {
	if !isTTY {
		return fmt.Errorf("%w: refusing to re-activate %s without confirmation; run in a terminal or pass --yes", remediate.ErrNotInteractive, plural.Count(restorable, "key"))
	}
	fmt.Fprintf(out, "Journal %s:\n", termsafe.String(journal))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, c := range cands {
		state := "deactivated " + c.Deactivated.UTC().Format(time.RFC3339) + ": will be re-activated"
		switch {
		case c.Deleted != nil:
			state = "deleted " + c.Deleted.UTC().Format(time.RFC3339) + ": cannot be restored"
		case c.Reactivated != nil:
			state = "re-activated already " + c.Reactivated.UTC().Format(time.RFC3339)
		case c.Unsettled && includeRecovered:
			state = "deactivation interrupted " + c.Deactivated.UTC().Format(time.RFC3339) + ", outcome unknown: will be re-activated if Inactive (--include-recovered)"
		case c.Unsettled:
			state = "deactivation interrupted " + c.Deactivated.UTC().Format(time.RFC3339) + ", outcome unknown: left alone (--include-recovered to re-activate it if Inactive)"
		case c.Recovered && includeRecovered:
			state = "found inactive after an interrupted run " + c.Deactivated.UTC().Format(time.RFC3339) + ": will be re-activated (--include-recovered)"
		case c.Recovered:
			state = "found inactive after an interrupted run " + c.Deactivated.UTC().Format(time.RFC3339) + ": left alone (setupkeys may not have deactivated it; --include-recovered to re-activate)"
		}
		acct := ""
		if multi {
			acct = c.AccountID + "\t"
		}
		fmt.Fprintf(tw, "  %s%s\t%s\t%s\n", acct, termsafe.String(c.User), setupkeys.MaskKeyID(c.AccessKeyID), state)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nType the account ID (%s) to re-activate %s: ", account, plural.Count(restorable, "key"))
	return readAccountID(in, out, account)
}
