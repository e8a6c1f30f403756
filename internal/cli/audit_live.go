package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/setupkeys/setupkeys/internal/awsconfig"
)

// loadAWS resolves the AWS configuration of the run and who the caller is. Errors say each thing
// once: the SDK's message already names the operation (STS: GetCallerIdentity).
func loadAWS(ctx context.Context, flags AWSFlags) (Caller, error) {
	cfg, err := awsconfig.Load(ctx, flags.options())
	if err != nil {
		return Caller{}, err
	}
	account, arn, err := awsconfig.CallerAccount(ctx, cfg)
	if err != nil {
		var creds *awsconfig.CredentialsError
		if errors.As(err, &creds) {
			if flags.Debug {
				return Caller{}, fmt.Errorf("%w\n  cause: %v", err, creds.Err)
			}
			return Caller{}, err
		}
		return Caller{}, fmt.Errorf("who am I: %w", err)
	}
	return Caller{Config: cfg, Account: account, ARN: arn}, nil
}
