package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// NewCmdRoot builds the setupkeys command tree. version is what --version prints (Version makes
// it from the build).
func NewCmdRoot(f *Factory, version string) *cobra.Command {
	root := &cobra.Command{
		Use:   "setupkeys",
		Short: "Find and safely remove IAM access keys created at console users' setup and never used",
		Long: `setupkeys automates the CIS AWS Foundations check "do not set up access keys during initial
user setup for IAM users that have a console password": it finds active access keys created within
a window of the user's creation that were never used, resolves them to real key IDs, and can
deactivate them with a reviewed plan, a journal and a rollback.

Start with "setupkeys audit" (the live account of your AWS config) or
"setupkeys audit --report FILE" (a credential report you already have), then
"setupkeys plan", "setupkeys apply" and, to undo, "setupkeys rollback".
"setupkeys check-permissions" tells what the caller lacks before a run.`,
		Example: `  setupkeys audit
  setupkeys audit --report credential-report.csv --format json
  setupkeys plan -o plan.json && setupkeys apply plan.json
  setupkeys check-permissions --org`,
		Version:                    version,
		SuggestionsMinimumDistance: 2,
		SilenceUsage:               true,
		SilenceErrors:              true,
		// Any word that is not a command is bad usage (exit 2), with cobra's suggestions.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return BadInput(unknownCommand(cmd, args[0]))
		},
	}
	root.SetVersionTemplate("setupkeys {{.Version}}\n")
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	// A wrong flag is bad usage: exit 2, like bad input.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return BadInput(err) })
	root.AddCommand(NewCmdAudit(f, nil))
	root.AddCommand(NewCmdPlan(f, nil))
	root.AddCommand(NewCmdApply(f, nil))
	root.AddCommand(NewCmdRollback(f, nil))
	root.AddCommand(NewCmdCheckPermissions(f, nil))
	root.AddCommand(NewCmdEvents(f, nil))
	addExitCodeHelp(root)
	addCompletions(root)
	return root
}

func unknownCommand(root *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, root.Name())
	if s := root.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else if name == "version" {
		msg += "; did you mean --version?"
	}
	return fmt.Errorf("%s (setupkeys --help lists the commands)", msg)
}

// exitCodeHelp is the "Exit codes" section of each command's help, the contract in README.md.
var exitCodeHelp = map[string]string{
	"setupkeys": `  0  nothing failed
  1  any other error: AWS unreachable, no or bad credentials, access denied, an account not audited
  2  bad usage or bad input (an unknown command or flag, a malformed file)
  3  audit: at least one key failed the rule`,
	"audit": `  0  nothing failed (review findings alone exit 0 unless --strict)
  1  an error: AWS unreachable, no or bad credentials, access denied, an account not audited
  2  bad usage or bad input (a flag, a report or suppression file)
  3  at least one key failed (with --strict, or needs review)`,
	"plan": `  0  plan written, every selected account audited
  1  an error; or an account could not be audited (the plan is still written, without it)
  2  bad usage or bad input, --resolve with another account's credentials`,
	"apply": `  0  nothing failed (skipped keys are not failures)
  1  a key failed, or the run stopped early: run it again with the same journal
  2  bad or missing plan, unresolved plan, another account, not confirmed, no terminal and no
     --yes, journal in use`,
	"rollback": `  0  nothing failed ("cannot be restored" and skipped keys are not failures)
  1  a key failed
  2  bad or empty journal, another account, several plans without --plan-id, not confirmed, no
     terminal and no --yes`,
	"events": `  0  nothing failed (review and pending findings alone exit 0 unless --strict)
  1  an error: AWS unreachable, no or bad credentials, access denied
  2  bad usage or bad input (a flag, a CloudTrail log file)
  3  at least one key failed (with --strict, or needs review or is pending)`,
	"check-permissions": `  0  nothing is denied (actions that could not be decided are listed)
  1  something is denied, an account could not be checked, or the check could not run
  2  bad usage (a flag, an unknown --print-policy)`,
}

const exitCodesAnnotation = "exit-codes"

// addExitCodeHelp puts each command's exit codes at the end of its help.
func addExitCodeHelp(root *cobra.Command) {
	set := func(c *cobra.Command) {
		if text, ok := exitCodeHelp[c.Name()]; ok {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[exitCodesAnnotation] = text
		}
	}
	set(root)
	for _, c := range root.Commands() {
		set(c)
	}
	root.SetUsageTemplate(root.UsageTemplate() + `{{with index .Annotations "` + exitCodesAnnotation + `"}}
Exit codes:
{{.}}
{{end}}`)
}

// exactArgs is cobra.ExactArgs with exit code 2.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return BadInput(err)
		}
		return nil
	}
}
