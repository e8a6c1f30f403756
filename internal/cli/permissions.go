package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys/internal/events"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/termsafe"
	"github.com/setupkeys/setupkeys/policies"
)

// CheckPermissionsOptions is everything `setupkeys check-permissions` needs.
type CheckPermissionsOptions struct {
	IO      IOStreams
	Clients AWSClients

	AWS         AWSFlags
	Org         OrgFlags
	Remediation bool
	// PrintPolicy, when set, names the shipped policy to print instead of checking anything.
	PrintPolicy string
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
are not seen by the simulator. Actions that cannot be decided are listed as unknown and do not
fail the check.

With --org, --ou or --accounts it checks an organization run as audit makes it: the caller's
Organizations reads (the listing the selection needs), then in every selected account, through
the member role (sts:AssumeRole, as --role-name or --role-arn-template say), the same actions;
the caller's own account with its own credentials. One line per check and account, then what to
fix, account by account.

--print-policy NAME prints a least-privilege policy granting exactly what the checks ask for:
audit (audit, plan, check-permissions; in every audited account), remediate (apply, rollback),
org (the caller of an organization run: list accounts, assume the member role) or securityhub
(audit --security-hub).`,
		Example: `  setupkeys check-permissions
  setupkeys check-permissions --remediation --profile prod
  setupkeys check-permissions --org --role-name SecurityAudit
  setupkeys check-permissions --print-policy audit > audit-policy.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return checkPermissionsRun(cmd.Context(), opts)
		},
	}
	opts.AWS.register(cmd)
	opts.Org.register(cmd)
	cmd.Flags().BoolVar(&opts.Remediation, "remediation", false, "check what apply and rollback need as well (iam:UpdateAccessKey, iam:DeleteAccessKey)")
	cmd.Flags().StringVar(&opts.PrintPolicy, "print-policy", "", "print the IAM policy NAME ("+strings.Join(policies.Names(), ", ")+") and check nothing")
	_ = cmd.RegisterFlagCompletionFunc("print-policy", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, p := range policies.All {
			out = append(out, p.Name+"\t"+p.For)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func checkPermissionsRun(ctx context.Context, opts *CheckPermissionsOptions) error {
	if opts.PrintPolicy != "" {
		p, err := policies.Lookup(opts.PrintPolicy)
		if err != nil {
			return BadInput(fmt.Errorf("--print-policy: %w", err))
		}
		_, err = opts.IO.Out.Write(p.JSON())
		return err
	}
	if err := opts.Org.validate(); err != nil {
		return err
	}
	caller, err := opts.Clients.Connect(ctx, opts.AWS)
	if err != nil {
		return err
	}
	actions, what, policy := remediate.AuditActions(), "audit and plan", "audit"
	if opts.Remediation {
		actions, what, policy = remediate.RemediationActions(), "audit, plan, apply and rollback", "remediate"
	}
	if opts.Org.multiAccount() {
		if !opts.Remediation {
			actions = remediate.MemberAuditActions() // --since-report audits one account only
		}
		return checkOrganizationRun(ctx, opts, caller, actions, what, policy)
	}
	var client remediate.PermissionsAPI = caller.Self
	if caller.CloudTrail != nil {
		client = iamWithCloudTrail{caller.Self, caller.CloudTrail()}
	}
	perms, err := remediate.CheckPermissions(ctx, client, caller.ARN, actions)
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
		fmt.Fprintln(tw, permissionRow(p))
	}
	tw.Flush()
	denied, unknown := remediate.Missing(perms)
	if len(unknown) > 0 {
		fmt.Fprintf(out, "Could not tell: %s.\n", strings.Join(unknown, ", "))
	}
	if len(denied) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("denied: %s; grant them (%s) before running", strings.Join(denied, ", "), policies.Hint(policy))}
	}
	fmt.Fprintln(out, "Nothing is denied.")
	return nil
}

// iamWithCloudTrail lets CheckPermissions make the dry call of cloudtrail:LookupEvents.
type iamWithCloudTrail struct {
	IAMClient
	events.LookupAPI
}

var _ remediate.CloudTrailProbe = iamWithCloudTrail{}

func permissionRow(p remediate.Permission) string {
	line := fmt.Sprintf("%s\t%s\t%s", p.Action, p.Decision, p.Method)
	if p.Detail != "" {
		line += "\t" + termsafe.String(p.Detail)
	}
	return line
}

// listsOrganization reports whether the run's selection lists the organization, as the audit's
// pipeline decides: --org, --ou, or no --accounts.
func (o OrgFlags) listsOrganization() bool {
	return o.Org || len(o.OUs) > 0 || len(o.Accounts) == 0
}

// checkOrganizationRun checks what `audit` with the same selection and role flags needs: the
// caller's Organizations reads, then every selected account's actions through the member role
// (the caller's own account with its own credentials).
func checkOrganizationRun(ctx context.Context, opts *CheckPermissionsOptions, caller *Session, actions []string, what, policy string) error {
	out := opts.IO.Out
	sel := opts.Org.selection()
	role := opts.Org.role(caller.ARN)
	fmt.Fprintf(out, "Permissions of %s (account %s) for %s across accounts:\n", caller.ARN, caller.Account, what)

	var orgAPI org.OrganizationsAPI
	var callerPerms []remediate.Permission
	if opts.Org.listsOrganization() && caller.Organizations != nil {
		orgAPI = caller.Organizations()
		callerPerms = remediate.CheckOrganizations(ctx, orgAPI, sel, true)
	}
	chosen, selErr := org.Choose(ctx, orgAPI, sel)
	var results []remediate.AccountPermissions
	var runErr error
	if selErr == nil {
		reach := func(ctx context.Context, account string) (remediate.PermissionsAPI, string, error) {
			if account == caller.Account {
				return caller.Self, caller.ARN, nil
			}
			arn, err := role.RoleARN(account)
			if err != nil {
				return nil, arn, err
			}
			c, err := caller.IAM(account, role)
			if err != nil {
				return nil, arn, err
			}
			return c, arn, nil
		}
		run := org.RunOptions{Concurrency: opts.Org.Concurrency, PerAccountTimeout: opts.Org.AccountTimeout,
			Progress: NewProgress(opts.IO.ErrOut, opts.IO.StderrIsTTY, opts.Org.Quiet)}
		results, runErr = remediate.CheckAccounts(ctx, chosen.Accounts, run, caller.Account, reach, actions)
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tACTION\tDECISION\tHOW\tDETAIL")
	for _, p := range callerPerms {
		fmt.Fprintf(tw, "caller\t%s\n", permissionRow(p))
	}
	var notes []string
	for i, r := range results {
		perms, note := commonNote(r.Permissions)
		results[i].Permissions = perms
		label := termsafe.String(r.Account.String())
		if note != "" {
			notes = append(notes, fmt.Sprintf("account %s: the policy simulator could not be used (%s); decided by dry calls that change nothing.", label, termsafe.String(note)))
		}
		for _, p := range perms {
			fmt.Fprintf(tw, "%s\t%s\n", label, permissionRow(p))
		}
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t-\terror\t-\t%s\n", label, termsafe.String(r.Err.Error()))
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(out, n)
	}
	for _, s := range chosen.Skipped {
		fmt.Fprintf(out, "Skipped, not checked: %s: %s.\n", termsafe.String(org.Account{ID: s.AccountID, Name: s.Name}.String()), report.SkipReasonText(s.Reason))
	}

	fixes := organizationFixes(callerPerms, results, caller, role, policy)
	for _, f := range fixes {
		fmt.Fprintln(out, "fix: "+f)
	}
	if selErr != nil {
		return &exitError{code: ExitError, err: fmt.Errorf("selecting accounts: %w (%s)", selErr, policies.Hint("org"))}
	}
	if runErr != nil {
		return runErr
	}
	callerDenied, _ := remediate.Missing(callerPerms)
	denied, failed := 0, 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
		if d, _ := remediate.Missing(r.Permissions); len(d) > 0 {
			denied++
		}
	}
	if len(callerDenied) > 0 || denied > 0 || failed > 0 {
		var parts []string
		if len(callerDenied) > 0 {
			parts = append(parts, "the caller lacks "+strings.Join(callerDenied, ", "))
		}
		if denied > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d accounts lack permissions", denied, len(results)))
		}
		if failed > 0 {
			parts = append(parts, fmt.Sprintf("%d could not be checked", failed))
		}
		return &exitError{code: ExitError, err: fmt.Errorf("%s: fix the lines above before running", strings.Join(parts, "; "))}
	}
	fmt.Fprintf(out, "Nothing is denied in %s.\n", plural.Count(len(results), "account"))
	return nil
}

// organizationFixes says, account by account, what to grant for every denied check.
func organizationFixes(callerPerms []remediate.Permission, results []remediate.AccountPermissions, caller *Session, role org.RoleOptions, policy string) []string {
	var fixes []string
	if denied, _ := remediate.Missing(callerPerms); len(denied) > 0 {
		fixes = append(fixes, fmt.Sprintf("grant the caller %s %s (%s)", caller.ARN, strings.Join(denied, ", "), policies.Hint("org")))
	}
	for _, r := range results {
		denied, _ := remediate.Missing(r.Permissions)
		if len(denied) == 0 {
			continue
		}
		label := termsafe.String(r.Account.String())
		if len(denied) == 1 && denied[0] == "sts:AssumeRole" {
			arn, _ := role.RoleARN(r.Account.ID)
			fixes = append(fixes, fmt.Sprintf("account %s: let the caller assume %s (%s), make that role trust the caller, or name another role (--role-name, --role-arn-template)", label, arn, policies.Hint("org")))
			continue
		}
		who := "the caller"
		if r.Account.ID != caller.Account {
			arn, _ := role.RoleARN(r.Account.ID)
			who = "the role " + arn
		}
		fixes = append(fixes, fmt.Sprintf("account %s: grant %s %s (%s)", label, who, strings.Join(denied, ", "), policies.Hint(policy)))
	}
	return fixes
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
			if p.Action == "sts:AssumeRole" {
				continue // the role's own check, made before the simulator was asked
			}
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

// permissionHint names, for an error that AWS refused (AccessDenied), the action refused and the
// shipped policy that grants it, so that the message says what to grant without a repository at
// hand; "" for any other error.
func permissionHint(err error) string {
	var apiErr smithy.APIError
	if err == nil || !errors.As(err, &apiErr) {
		return ""
	}
	switch apiErr.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
	default:
		return ""
	}
	// The refused call is the innermost operation: an assumed role's AssumeRole under the call
	// that needed its credentials.
	var op *smithy.OperationError
	for e := err; e != nil; e = errors.Unwrap(e) {
		if oe, ok := e.(*smithy.OperationError); ok {
			op = oe
		}
	}
	if op == nil {
		return ""
	}
	action := strings.ToLower(op.Service()) + ":" + op.Operation()
	p, ok := policies.Granting(action)
	if !ok {
		return ""
	}
	return fmt.Sprintf("the caller needs %s (%s; `setupkeys check-permissions` tells what else is missing)", action, policies.Hint(p.Name))
}

// withPermissionHint is err's message, followed by its permissionHint when it has one.
func withPermissionHint(err error) string {
	if h := permissionHint(err); h != "" {
		return err.Error() + ": " + h
	}
	return err.Error()
}
