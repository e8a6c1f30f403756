package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/setupkeys/setupkeys/internal/awsconfig"
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
