package cli

import (
	"github.com/spf13/cobra"
)

// NewCmdRoot builds the setupkeys command tree.
func NewCmdRoot(f *Factory, version string) *cobra.Command {
	root := &cobra.Command{
		Use:   "setupkeys",
		Short: "Find and safely remove IAM access keys created at console users' setup and never used",
		Long: `setupkeys automates the CIS AWS Foundations check "do not set up access keys during initial
user setup for IAM users that have a console password": it finds active access keys created within
a window of the user's creation that were never used, resolves them to real key IDs, and can
deactivate them with a reviewed plan, a journal and a rollback.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
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
	return root
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
