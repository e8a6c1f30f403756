package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// RoleFlags are how apply and rollback reach the member accounts of a multi-account plan: the
// same --role-name, --role-arn-template and --external-id as the audit's (OrgFlags), without the
// account selection, which the plan fixes.
type RoleFlags struct {
	org OrgFlags
}

var roleFlagNames = []string{"role-name", "role-arn-template", "external-id"}

func (r *RoleFlags) register(cmd *cobra.Command) {
	// Register OrgFlags on a scratch command and adopt only the role flags: the same names,
	// defaults and help as the audit's, bound to r.org.
	var scratch cobra.Command
	r.org.register(&scratch)
	for _, name := range roleFlagNames {
		cmd.Flags().AddFlag(scratch.Flags().Lookup(name))
	}
}

func (r RoleFlags) validate() error {
	if err := r.org.role("").Validate(); err != nil {
		return BadInput(err)
	}
	return nil
}

// clientFor returns the remediate.Options.ClientFor that reaches each account through the role.
func (r RoleFlags) clientFor(s *Session) func(context.Context, string) (remediate.IAM, error) {
	return func(_ context.Context, account string) (remediate.IAM, error) {
		return s.IAM(account, r.org.role(s.ARN))
	}
}

// ApplyOptions is everything `setupkeys apply` needs.
type ApplyOptions struct {
	IO      IOStreams
	Now     func() time.Time
	Clients AWSClients

	AWS         AWSFlags
	Role        RoleFlags
	PlanPath    string
	Action      remediate.Action
	JournalPath string
	Yes         bool
	// PlanDigest, when set, is the digest the plan file must have (sha256:HEX, as plan prints it).
	PlanDigest string
}

// NewCmdApply builds `setupkeys apply`. runF replaces the run in tests of flag parsing.
func NewCmdApply(f *Factory, runF func(context.Context, *ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{IO: f.IO, Now: f.Now, Clients: f.aws()}
	var action string
	cmd := &cobra.Command{
		Use:   "apply PLAN",
		Short: "Deactivate (or delete) the keys a plan names, re-checking each first, with a journal",
		Long: `apply carries out a plan made by setupkeys plan. Keys are deactivated unless --action delete.
Right before acting on a key it re-runs the rule on live facts with the plan's window (the key
is the user's, still Active, never used, made within the window of the user's creation, and the
user still has a console password) and skips it, with the reason, if the rule does not flag it
now. A key the plan does not describe (another user's, or a key or user created at another time
than the plan says: an edited plan) is refused, and a key whose check fails is failed: either
exits 1, as does a run where nothing can be acted on. --plan-digest refuses a plan file whose SHA-256 is
not the one given (exit 2), so exactly the approved file is applied. Every action is written to the journal before and after it is
made (synced to disk), so a run that was interrupted can be run again with the same journal and
picks up where it stopped; setupkeys rollback re-activates what the journal deactivated.

Without --yes, apply shows the plan and asks you to type the account ID; without a terminal it
refuses. The credentials must be the plan's account's. A multi-account plan is applied with the
credentials of the account that made it, reaching each account through the same role as the
audit (--role-name, --role-arn-template, --external-id), with one journal.`,
		Example: `  setupkeys apply plan.json
  setupkeys apply plan.json --plan-digest sha256:18d6fe9771afe0fd1c80b19ab137bd6ab172ad8ff138b5a9f953c694deb9e2b3
  setupkeys apply plan.json --yes --journal /var/log/setupkeys/run1.jsonl
  setupkeys apply plan.json --action delete`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.PlanPath = args[0]
			if opts.PlanPath == "-" {
				return BadInput(errors.New("apply reads the plan from a file, not stdin: the journal is named after it and stdin is for the confirmation"))
			}
			a, err := remediate.ParseAction(action)
			if err != nil {
				return BadInput(fmt.Errorf("--action: %w", err))
			}
			opts.Action = a
			if opts.JournalPath == "" {
				opts.JournalPath = opts.PlanPath + ".journal.jsonl"
			}
			if err := opts.Role.validate(); err != nil {
				return err
			}
			if opts.PlanDigest != "" {
				d, err := remediate.ParseDigest(opts.PlanDigest)
				if err != nil {
					return BadInput(fmt.Errorf("--plan-digest: %w", err))
				}
				opts.PlanDigest = d
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return applyRun(cmd.Context(), opts)
		},
	}
	opts.AWS.register(cmd)
	opts.Role.register(cmd)
	cmd.Flags().StringVar(&action, "action", string(remediate.ActionDeactivate), "deactivate (can be rolled back) or delete (cannot)")
	cmd.Flags().StringVar(&opts.JournalPath, "journal", "", "journal `FILE` (default: PLAN.journal.jsonl); reuse it to resume an interrupted run and to roll back")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (needed without a terminal)")
	cmd.Flags().StringVar(&opts.PlanDigest, "plan-digest", "", "refuse the plan unless its file has this digest (`SHA256`, as plan prints it): apply exactly the file that was approved")
	return cmd
}

func applyRun(ctx context.Context, opts *ApplyOptions) error {
	p, err := remediate.LoadPlan(opts.PlanPath)
	if err != nil {
		return BadInput(err)
	}
	if opts.PlanDigest != "" && p.Digest != opts.PlanDigest {
		return BadInput(fmt.Errorf("%s: the plan file's digest is %s, not %s (--plan-digest): it is not the file that was approved; nothing was done",
			termsafe.String(opts.PlanPath), p.Digest, opts.PlanDigest))
	}
	if !p.Resolved {
		return BadInput(fmt.Errorf("%s: %w: %d of %d keys are known only from a report file; resolve them against account %s first: setupkeys plan --report REPORT --resolve -o %s",
			opts.PlanPath, remediate.ErrUnresolved, len(p.Unresolved()), len(p.Actions), p.AccountID, opts.PlanPath))
	}
	caller, err := opts.Clients.Connect(ctx, opts.AWS)
	if err != nil {
		return err
	}
	if caller.Account != p.AccountID {
		what := "is for account"
		if p.MultiAccount() {
			what = "was made by account"
		}
		return BadInput(fmt.Errorf("%w: %s %s %s, but the credentials are for account %s (%s); nothing was done",
			remediate.ErrWrongAccount, opts.PlanPath, what, p.AccountID, caller.Account, caller.ARN))
	}
	if opts.Yes {
		fmt.Fprintf(opts.IO.ErrOut, "Applying plan %s (file digest %s): %s %s (journal %s)\n", p.ID, p.Digest, opts.Action, planScope(p), termsafe.String(opts.JournalPath))
	} else if err := confirmPlan(opts.IO.In, opts.IO.ErrOut, opts.IO.StdinIsTTY, p, opts.Action); err != nil {
		return err
	}
	ro := remediate.Options{
		Action:        opts.Action,
		JournalPath:   opts.JournalPath,
		Client:        caller.Self,
		CallerAccount: caller.Account,
		OnResult:      progressLine(opts.IO.ErrOut, p.MultiAccount()),
		CallTimeout:   opts.AWS.CallTimeout,
		Now:           opts.Now,
	}
	if p.MultiAccount() {
		ro.ClientFor = opts.Role.clientFor(caller)
	}
	sum, err := remediate.Apply(ctx, p, ro)
	if err := finishRun(opts.IO, sum, err); err != nil {
		return err
	}
	if sum.NothingApplied() {
		return &exitError{code: ExitError, err: fmt.Errorf("none of the plan's %s could be acted on (each was skipped: the rule does not flag it now, or it changed since the plan; the reasons are above): nothing was changed",
			plural.Count(len(sum.Results), "key"))}
	}
	return nil
}

func planScope(p *remediate.Plan) string {
	s := plural.Count(len(p.Actions), "key")
	if p.MultiAccount() {
		s += " in " + plural.Count(len(p.ActionAccounts()), "account")
	}
	return s
}

// progressLine prints each key's result on w as it comes.
func progressLine(w io.Writer, withAccount bool) func(remediate.KeyResult) {
	return func(r remediate.KeyResult) {
		where := termsafe.String(r.User)
		if withAccount {
			where = r.AccountID + " " + where
		}
		line := fmt.Sprintf("%s %s %s", r.Outcome, where, setupkeys.MaskKeyID(r.AccessKeyID))
		if r.Reason != "" {
			line += ": " + termsafe.String(r.Reason)
		} else if r.Earlier {
			line += ": done by an earlier run"
		}
		fmt.Fprintln(w, line)
	}
}

// finishRun prints an apply or rollback summary and turns the run into its error: remediate's
// refusals as they are (ExitCode makes them 2), 1 when the run stopped early or a key failed.
// When stdout and stderr are the same terminal, each key's progress line (stderr) already said
// its outcome: the summary then gives only the counts, so each key is one line on the screen.
func finishRun(streams IOStreams, sum *remediate.Summary, err error) error {
	if sum != nil {
		for _, n := range sum.Notes {
			fmt.Fprintln(streams.Out, "note: "+termsafe.String(n))
		}
		if streams.StdoutIsTTY && streams.StderrIsTTY {
			writeCounts(streams.Out, sum)
		} else {
			writeSummary(streams.Out, sum)
		}
	}
	if err != nil {
		return err
	}
	// A key that could not be verified or acted on is exit 1 even when others were done: one
	// whose check or call failed, and one the plan does not describe (refused). Skipped keys
	// (changed since the plan) are not.
	var problems []string
	if sum.Failed() {
		problems = append(problems, fmt.Sprintf("%s failed; run again with the same journal to retry them", plural.Count(sum.Counts()[remediate.OutcomeFailed]+sum.Counts()[remediate.OutcomeUnknown], "key")))
	}
	if n := sum.Refused(); n > 0 {
		problems = append(problems, fmt.Sprintf("%s refused: the plan does not describe them (edited, or made for another account); make a new plan", plural.Count(n, "key")))
	}
	if len(problems) > 0 {
		return &exitError{code: ExitError, err: errors.New(strings.Join(problems, "; "))}
	}
	return nil
}
