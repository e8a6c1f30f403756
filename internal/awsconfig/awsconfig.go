// Package awsconfig loads the AWS configuration for a run the way the AWS CLI does: the SDK's full
// credential chain (profiles, SSO, environment, web identity, instance metadata), --profile,
// --region and --endpoint-url, and a retryer that rides out IAM throttling.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultRegion is used when neither --region, the environment nor the profile names one. IAM is
// global and lives in us-east-1 in the aws partition; the SDK resolves the other partitions from
// their regions.
const DefaultRegion = "us-east-1"

// MaxAttempts is how many times the SDK tries one call before giving up (first try included).
// IAM throttles at a rate that cannot be raised ("Throttling: Rate exceeded"), so an audit of a
// large account must wait rather than fail.
const MaxAttempts = 10

// MaxBackoff caps the SDK's jittered exponential backoff between two tries of one call.
const MaxBackoff = 20 * time.Second

// Options are the AWS CLI-like flags of a run. Empty fields leave the SDK's own resolution alone.
type Options struct {
	// Profile is --profile: a profile of ~/.aws/config and ~/.aws/credentials.
	Profile string
	// Region is --region. IAM is global, so it matters only for the partition and for regional
	// services.
	Region string
	// EndpointURL is --endpoint-url: every AWS call of the run (IAM, STS, Organizations, Security
	// Hub) goes to this one URL, as an emulator such as moto serves them all. It wins over
	// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> and endpoint_url in the profile, like the AWS
	// CLI's flag.
	EndpointURL string
}

// Load resolves the configuration: credentials through the SDK's default chain, the region as the
// AWS CLI would (flag, AWS_REGION, AWS_DEFAULT_REGION, the profile) with DefaultRegion last, the
// endpoint, and NewRetryer as the retryer. Credentials are resolved lazily, on the first call.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	var loadOpts []func(*config.LoadOptions) error
	if opts.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	var endpoint string
	if opts.EndpointURL != "" {
		u, err := url.Parse(opts.EndpointURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return aws.Config{}, &OptionError{fmt.Sprintf("--endpoint-url %q: want an absolute URL such as http://127.0.0.1:5000", opts.EndpointURL)}
		}
		endpoint = opts.EndpointURL
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		var missing config.SharedConfigProfileNotExistError
		if errors.As(err, &missing) {
			return aws.Config{}, &OptionError{fmt.Sprintf("AWS profile %q not found in the shared config or credentials files", missing.Profile)}
		}
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	// Not config.WithRetryer: with it the SDK would skip reading AWS_MAX_ATTEMPTS and
	// AWS_RETRY_MODE. Read, they still apply: service clients wrap this retryer with
	// cfg.RetryMaxAttempts, and adaptive mode is kept when asked for.
	if cfg.RetryMode == aws.RetryModeAdaptive {
		cfg.Retryer = newAdaptiveRetryer
	} else {
		cfg.Retryer = NewRetryer
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
		// Each service client lets AWS_ENDPOINT_URL_<SERVICE> and the profile's services section
		// override BaseEndpoint unless configured endpoints are ignored: the flag must win, as
		// the AWS CLI's does. A source that says "ignore" is the SDK's own switch for that
		// (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS); put one first so it is found first.
		cfg.ConfigSources = append([]any{ignoreConfiguredEndpoints{}}, cfg.ConfigSources...)
	}
	return cfg, nil
}

// OptionError is a flag or setting the user got wrong (a malformed --endpoint-url, a profile that
// does not exist), as opposed to AWS being unreachable: the CLI reports it as bad usage.
type OptionError struct{ msg string }

func (e *OptionError) Error() string { return e.msg }

// ignoreConfiguredEndpoints is a config source that tells the service clients to ignore
// service-specific endpoints from the environment and the shared config.
type ignoreConfiguredEndpoints struct{}

func (ignoreConfiguredEndpoints) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return true, true, nil
}

// NewRetryer is the retryer every client of a run uses: the SDK's standard retryer (jittered
// exponential backoff; throttling errors start at 1 s) with MaxAttempts tries and no client-side
// retry quota, so a long throttled audit keeps retrying each call instead of failing once the
// quota's tokens run out. AWS_RETRY_MODE=adaptive gets the SDK's adaptive retryer with the same
// options.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(standardOptions)
}

func newAdaptiveRetryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, standardOptions)
	})
}

func standardOptions(o *retry.StandardOptions) {
	o.MaxAttempts = MaxAttempts
	o.MaxBackoff = MaxBackoff
	o.RateLimiter = ratelimit.None
}

// CallerAccount returns the account ID and ARN of the credentials in cfg (sts:GetCallerIdentity,
// which needs no permission).
func CallerAccount(ctx context.Context, cfg aws.Config) (accountID, arn string, err error) {
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("sts GetCallerIdentity: %w", err)
	}
	return aws.ToString(out.Account), aws.ToString(out.Arn), nil
}
