package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys/internal/remediate"
)

// CheckPermissionsOptions is everything `setupkeys check-permissions` needs.
type CheckPermissionsOptions struct {
	IO      IOStreams
	Clients AWSClients

	AWS         AWSFlags
	Remediation bool
}

// NewCmdCheckPermissions builds `setupkeys check-permissions`. runF replaces the run in tests of
// flag parsing.
func NewCmdCheckPermissions(f *Factory, runF func(context.Context, *CheckPermissionsOptions) error) *cobra.Command {
	opts := &CheckPermissionsOptions{IO: f.IO, Clients: f.aws()}
	cmd := &cobra.Command{
		Use:   "check-permissions",
		Short: "Tell, before a run, which IAM actions the caller lacks",
		Long: `check-permissions lists each IAM action setupkeys needs (audit and plan; with --remediation,
apply and rollback too) as allowed, denied or unknown, and how that was decided: the IAM policy
simulator (iam:SimulatePrincipalPolicy on your own principal) when you may call it, otherwise dry
calls that change nothing (writes aimed at a user that does not exist). Service control policies
are not seen by the simulator. policies/ holds least-privilege policies granting exactly these.

Exit 1 when an action is denied, 0 otherwise (unknown actions are listed but do not fail).`,
		Example: `  setupkeys check-permissions
  setupkeys check-permissions --remediation --profile prod`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return checkPermissionsRun(cmd.Context(), opts)
		},
	}
	opts.AWS.register(cmd)
	cmd.Flags().BoolVar(&opts.Remediation, "remediation", false, "check what apply and rollback need as well (iam:UpdateAccessKey, iam:DeleteAccessKey)")
	return cmd
}

func checkPermissionsRun(ctx context.Context, opts *CheckPermissionsOptions) error {
	caller, err := opts.Clients.Connect(ctx, opts.AWS)
	if err != nil {
		return err
	}
	actions, what := remediate.AuditActions(), "audit and plan"
	if opts.Remediation {
		actions, what = remediate.RemediationActions(), "audit, plan, apply and rollback"
	}
	perms, err := remediate.CheckPermissions(ctx, caller.Self, caller.ARN, actions)
	if err != nil {
		return fmt.Errorf("checking permissions: %w", err)
	}
	out := opts.IO.Out
	fmt.Fprintf(out, "Permissions of %s (account %s) for %s:\n", caller.ARN, caller.Account, what)
	perms, note := commonNote(perms)
	if note != "" {
		fmt.Fprintf(out, "The policy simulator could not be used: %s; decided by dry calls that change nothing.\n", note)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tDECISION\tHOW\tDETAIL")
	for _, p := range perms {
		line := fmt.Sprintf("%s\t%s\t%s", p.Action, p.Decision, p.Method)
		if p.Detail != "" {
			line += "\t" + p.Detail
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	denied, unknown := remediate.Missing(perms)
	if len(unknown) > 0 {
		fmt.Fprintf(out, "Could not tell: %s.\n", strings.Join(unknown, ", "))
	}
	if len(denied) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("denied: %s; grant them (see policies/) before running", strings.Join(denied, ", "))}
	}
	fmt.Fprintln(out, "Nothing is denied.")
	return nil
}

// simulatorNote starts what CheckPermissions appends to each dry call's detail when the
// simulator could not be used.
const simulatorNote = "simulation unavailable ("

// commonNote takes the simulator note that every dry-call row repeats out of the rows, to be
// printed once. Rows are returned unchanged when they do not all carry the same note.
func commonNote(perms []remediate.Permission) ([]remediate.Permission, string) {
	note := ""
	for _, p := range perms {
		if p.Method != remediate.MethodDryCall {
			continue
		}
		i := strings.Index(p.Detail, simulatorNote)
		if i < 0 || (note != "" && p.Detail[i:] != note) {
			return perms, ""
		}
		note = p.Detail[i:]
	}
	if note == "" {
		return perms, ""
	}
	out := make([]remediate.Permission, len(perms))
	for i, p := range perms {
		if p.Method == remediate.MethodDryCall {
			p.Detail = strings.TrimSuffix(strings.TrimSuffix(p.Detail, note), "; ")
		}
		out[i] = p
	}
	return out, strings.TrimSuffix(strings.TrimPrefix(note, "simulation unavailable ("), ")")
}
