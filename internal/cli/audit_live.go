package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/source"
	"github.com/setupkeys/setupkeys/internal/suppress"
)

// loadAWS resolves the AWS configuration of the run and who the caller is.
func loadAWS(ctx context.Context, flags AWSFlags) (Caller, error) {
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{Profile: flags.Profile, Region: flags.Region, EndpointURL: flags.EndpointURL})
	if err != nil {
		var bad *awsconfig.OptionError
		if errors.As(err, &bad) {
			return Caller{}, BadInput(err)
		}
		return Caller{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	account, arn, err := awsconfig.CallerAccount(ctx, cfg)
	if err != nil {
		return Caller{}, fmt.Errorf("who am I (sts:GetCallerIdentity): %w", err)
	}
	return Caller{Config: cfg, Account: account, ARN: arn}, nil
}

// auditAccount audits one live account through the credential report, or the API with --exact,
// then applies the suppressions with that account's user tags.
func auditAccount(ctx context.Context, client *iam.Client, account string, exact bool, opts source.Options, supp *suppress.Set, now time.Time) (setupkeys.AccountResult, error) {
	live := source.LiveOptions{Options: opts}
	var res setupkeys.AccountResult
	var err error
	if exact {
		res, err = source.LiveExact(ctx, client, account, live)
	} else {
		res, err = source.LiveReport(ctx, client, account, live)
	}
	if err != nil {
		return res, err
	}
	applySuppressions(ctx, supp, &res, suppress.IAMTags{Client: client}, now)
	return res, nil
}

// applySuppressions marks the findings a suppression covers and reports expired suppressions
// that would have covered some, as warnings of the account.
func applySuppressions(ctx context.Context, supp *suppress.Set, res *setupkeys.AccountResult, tags suppress.TagLookup, now time.Time) {
	if supp == nil {
		return
	}
	out := supp.Apply(ctx, res.Findings, tags, now)
	res.Findings = out.Findings
	res.Warnings = append(res.Warnings, out.Warnings...)
	for _, e := range out.Expired {
		res.Warnings = append(res.Warnings, fmt.Sprintf("suppression %s expired on %s and no longer covers %d finding(s): %s",
			e.Rule.Where(), e.Rule.Expires.UTC().Format(time.RFC3339), len(e.FindingIDs), e.Rule.Reason))
	}
}
