package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/pipeline"
)

// OrgFlags choose the accounts of a multi-account run and how to reach each one.
type OrgFlags struct {
	Org             bool
	Accounts        []string
	ExcludeAccounts []string
	OUs             []string
	RoleName        string
	RoleARNTemplate string
	ExternalID      string
	Concurrency     int
	AccountTimeout  time.Duration
	Quiet           bool
}

func (o *OrgFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.Org, "org", false, "audit every ACTIVE account of the AWS Organization (the management account with your own credentials, members through --role-name)")
	f.StringSliceVar(&o.Accounts, "accounts", nil, "audit only these account IDs (comma-separated; works without Organizations access)")
	f.StringSliceVar(&o.ExcludeAccounts, "exclude-accounts", nil, "never audit these account IDs")
	f.StringSliceVar(&o.OUs, "ou", nil, "audit the accounts under these organizational units, recursively (ou-... or r-...)")
	f.StringVar(&o.RoleName, "role-name", org.DefaultRoleName, "role to assume in each member account")
	f.StringVar(&o.RoleARNTemplate, "role-arn-template", "", "role ARN with {account} (and {partition}) for other layouts, e.g. arn:aws:iam::{account}:role/audit/SetupKeys")
	f.StringVar(&o.ExternalID, "external-id", "", "external ID for AssumeRole")
	f.IntVar(&o.Concurrency, "concurrency", org.DefaultConcurrency, "accounts audited at once")
	f.DurationVar(&o.AccountTimeout, "account-timeout", org.DefaultPerAccountTimeout, "deadline for one account's audit")
	f.BoolVar(&o.Quiet, "quiet", false, "no progress line on stderr")
}

// multiAccount reports whether the run spans accounts other than the caller's.
func (o OrgFlags) multiAccount() bool {
	return o.Org || len(o.Accounts) > 0 || len(o.OUs) > 0
}

func (o OrgFlags) selection() org.Selection {
	return org.Selection{Accounts: o.Accounts, Exclude: o.ExcludeAccounts, OUs: o.OUs}
}

func (o OrgFlags) role(callerARN string) org.RoleOptions {
	return org.RoleOptions{Name: o.RoleName, ARNTemplate: o.RoleARNTemplate, ExternalID: o.ExternalID, Partition: org.PartitionFromARN(callerARN)}
}

func (o OrgFlags) validate() error {
	if !o.multiAccount() && len(o.ExcludeAccounts) > 0 {
		return BadInput(errors.New("--exclude-accounts needs --org, --ou or --accounts"))
	}
	if o.Concurrency < 1 {
		return BadInput(fmt.Errorf("--concurrency must be at least 1, got %d", o.Concurrency))
	}
	if o.AccountTimeout <= 0 {
		return BadInput(fmt.Errorf("--account-timeout must be positive, got %s", o.AccountTimeout))
	}
	if err := o.selection().Validate(); err != nil {
		return BadInput(err)
	}
	if err := o.role("").Validate(); err != nil {
		return BadInput(err)
	}
	return nil
}

// Caller is who runs setupkeys: the base configuration and the account and ARN it resolves to.
type Caller struct {
	Config  aws.Config
	Account string
	ARN     string
}

// accounts is the multi-account part of the audit's pipeline configuration.
func (o OrgFlags) accounts(streams IOStreams) *pipeline.Accounts {
	return &pipeline.Accounts{
		Organization:      o.Org,
		Selection:         o.selection(),
		Concurrency:       o.Concurrency,
		PerAccountTimeout: o.AccountTimeout,
		Progress:          NewProgress(streams.ErrOut, streams.StderrIsTTY, o.Quiet),
	}
}
