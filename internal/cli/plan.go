package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// PlanOptions is everything `setupkeys plan` needs.
type PlanOptions struct {
	IO      IOStreams
	Now     func() time.Time
	Clients AWSClients

	Source SourceFlags
	// Output is the plan file, "-" for stdout.
	Output        string
	IncludeReview bool
	// Resolve matches a report-file plan's keys to real key IDs in the live account.
	Resolve bool
}

// NewCmdPlan builds `setupkeys plan`. runF replaces the run in tests of flag parsing.
func NewCmdPlan(f *Factory, runF func(context.Context, *PlanOptions) error) *cobra.Command {
	opts := &PlanOptions{IO: f.IO, Now: f.Now, Clients: f.aws()}
	cmd := &cobra.Command{
		Use:   "plan -o FILE",
		Short: "Audit, then write a plan naming the exact keys to deactivate or delete",
		Long: `plan runs the audit (the live account, --exact, --org, or a --report file) and writes a plan:
each failing key with its access key ID, user and what was seen (status Active, creation date,
never used). Review findings are listed but planned only with --include-review; suppressed
findings are never planned. Nothing is changed: apply the plan with setupkeys apply.

A plan made from a report file has no access key IDs (the report lacks them): apply refuses it
until they are resolved against the live account, with --resolve. A key that cannot be resolved
(used since the report, inactive, deleted, or one of several keys made in the same second) is
listed with the reason instead of planned, with a warning; the others are planned. A multi-account audit (--org,
--ou, --accounts) makes one plan over every account, naming the account of each key and the
accounts that could not be audited.`,
		Example: `  setupkeys plan -o plan.json
  setupkeys plan --exact --suppressions suppressions.yaml -o plan.json
  setupkeys plan --report report.csv --resolve -o plan.json
  setupkeys plan --org --role-name SetupKeysAudit -o org-plan.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output == "" {
				return BadInput(errors.New("-o/--output is required: the file to write the plan to (- for stdout)"))
			}
			if opts.Resolve && opts.Source.ReportPath == "" {
				return BadInput(errors.New("--resolve resolves the keys of a --report plan; a live plan has them already"))
			}
			// With --resolve, the AWS flags are for the resolution, not the audit of the file.
			src := opts.Source
			if opts.Resolve {
				src.AWS = AWSFlags{}
			}
			if err := src.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return planRun(cmd.Context(), opts)
		},
	}
	opts.Source.register(cmd)
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the plan to `FILE` (- for stdout)")
	cmd.Flags().BoolVar(&opts.IncludeReview, "include-review", false, "plan review findings too (keys with no last-used date created before IAM tracked key use)")
	cmd.Flags().BoolVar(&opts.Resolve, "resolve", false, "with --report: find each planned key's access key ID in the live account (--profile, --endpoint-url)")
	return cmd
}

func planRun(ctx context.Context, opts *PlanOptions) error {
	flags := opts.Source
	audit, _, err := collect(ctx, opts.IO, opts.Now, opts.Clients, flags, false)
	if err != nil {
		return err
	}
	for _, a := range audit.Accounts {
		for _, w := range a.Warnings {
			fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", termsafe.String(w))
		}
	}
	p, err := makePlan(opts, audit)
	if err != nil {
		return err
	}
	if opts.Resolve && !p.Resolved {
		if err := resolvePlan(ctx, opts, p); err != nil {
			return err
		}
	}
	if opts.Output == "-" {
		err = p.Write(opts.IO.Out)
	} else {
		err = p.Save(opts.Output)
	}
	if err != nil {
		return fmt.Errorf("writing the plan: %w", err)
	}
	writePlanSummary(opts.IO.ErrOut, p, remediate.ActionDeactivate)
	var notAudited error
	if na := p.NotAudited(); len(na) > 0 {
		// The plan is written and can be applied; the run still fails, like audit, so that a
		// pipeline does not take a partial plan for a whole one.
		notAudited = &exitError{code: ExitError, err: fmt.Errorf("%d of %d accounts could not be audited and are not in the plan; fix access and plan again to cover them", len(na), len(p.Accounts))}
	}
	switch {
	case !p.Resolved:
		fmt.Fprintf(opts.IO.ErrOut, "The plan cannot be applied until its keys are resolved: setupkeys plan --report %s --resolve -o %s, with credentials for account %s.\n", termsafe.String(flags.ReportPath), termsafe.String(outputName(opts.Output)), p.AccountID)
	case len(p.Actions) > 0 && opts.Output != "-":
		fmt.Fprintf(opts.IO.ErrOut, "Wrote %s. Review it, then: setupkeys apply %s --plan-digest %s\n", termsafe.String(opts.Output), termsafe.String(opts.Output), p.Digest)
	}
	return notAudited
}

func outputName(o string) string {
	if o == "-" {
		return "PLAN"
	}
	return o
}

// makePlan turns the audit into one plan: a single-account plan for one account, else one over
// every account of the run, whose caller account must apply it.
func makePlan(opts *PlanOptions, audit setupkeys.Audit) (*remediate.Plan, error) {
	now := opts.Now()
	if opts.Source.Org.multiAccount() || len(audit.Accounts) != 1 {
		return remediate.NewAccountsPlan(audit.Accounts, audit.CallerAccount, opts.IncludeReview, audit.Window, now)
	}
	res := audit.Accounts[0]
	if res.Err != nil {
		return nil, res.Err
	}
	if res.AccountID == "" {
		if len(res.Findings) == 0 {
			return nil, BadInput(fmt.Errorf("%s names no account (it has no users): nothing to plan", opts.Source.ReportPath))
		}
		return nil, BadInput(errors.New("the audit names no account: cannot plan"))
	}
	p, err := remediate.NewPlan(res.Findings, res.AccountID, res.Source, opts.IncludeReview, audit.Window, now)
	if errors.Is(err, remediate.ErrBadPlan) {
		return nil, BadInput(err)
	}
	return p, err
}

// resolvePlan matches a report-file plan's keys in the live account, which must be the report's.
// A key that cannot be resolved is listed, not planned, with a warning; the rest stay planned.
func resolvePlan(ctx context.Context, opts *PlanOptions, p *remediate.Plan) error {
	caller, err := opts.Clients.Connect(ctx, opts.Source.AWS)
	if err != nil {
		return err
	}
	if caller.Account != p.AccountID {
		return BadInput(fmt.Errorf("%w: the report is of account %s but the credentials are for account %s; nothing resolved", remediate.ErrWrongAccount, p.AccountID, caller.Account))
	}
	planned := len(p.Actions)
	res, err := remediate.Resolve(ctx, p, caller.Self, opts.Now())
	if err != nil {
		return fmt.Errorf("resolving the plan's keys: %w", err)
	}
	for _, l := range res.Unresolved {
		fmt.Fprintf(opts.IO.ErrOut, "warning: user %q, slot %d: %s\n", l.User, l.KeySlot, termsafe.String(l.Why))
	}
	for _, l := range res.Unplanned {
		fmt.Fprintf(opts.IO.ErrOut, "warning: user %q, key %s: %s\n", l.User, setupkeys.MaskKeyID(*l.AccessKeyID), termsafe.String(l.Why))
	}
	if n := len(res.Unresolved); n > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %d of %d planned keys could not be resolved in account %s: they are listed, not planned; the other %d can be applied\n", n, planned, p.AccountID, len(p.Actions))
	}
	return nil
}
