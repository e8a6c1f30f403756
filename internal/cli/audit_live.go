package cli

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/source"
)

// loadAWS resolves the AWS configuration of the run and the caller's account.
func loadAWS(ctx context.Context, flags AWSFlags) (aws.Config, string, error) {
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{Profile: flags.Profile, Region: flags.Region, EndpointURL: flags.EndpointURL})
	if err != nil {
		return aws.Config{}, "", fmt.Errorf("loading AWS configuration: %w", err)
	}
	account, _, err := awsconfig.CallerAccount(ctx, cfg)
	if err != nil {
		return aws.Config{}, "", fmt.Errorf("who am I (sts:GetCallerIdentity): %w", err)
	}
	return cfg, account, nil
}

// auditAccount audits one live account through the credential report, or the API with --exact.
func auditAccount(ctx context.Context, cfg aws.Config, account string, exact bool, opts source.Options) (setupkeys.AccountResult, error) {
	client := iam.NewFromConfig(cfg)
	live := source.LiveOptions{Options: opts}
	if exact {
		return source.LiveExact(ctx, client, account, live)
	}
	return source.LiveReport(ctx, client, account, live)
}

func auditLive(ctx context.Context, flags SourceFlags, opts source.Options) (setupkeys.AccountResult, error) {
	cfg, account, err := loadAWS(ctx, flags.AWS)
	if err != nil {
		return setupkeys.AccountResult{}, err
	}
	return auditAccount(ctx, cfg, account, flags.Exact, opts)
}
