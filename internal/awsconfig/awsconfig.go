// Package awsconfig loads the AWS configuration for a run the way the AWS CLI does: the SDK's full
// credential chain (profiles, SSO, environment, web identity, instance metadata), --profile,
// --region and --endpoint-url, and a retryer that rides out IAM throttling.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
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
	// AttemptTimeout and CallTimeout bound each HTTP attempt and each call with its retries;
	// 0 means DefaultAttemptTimeout and DefaultCallTimeout.
	AttemptTimeout, CallTimeout time.Duration
	// Warn, when set, receives warnings about the options (plain http to a remote endpoint).
	Warn func(string)
	// DebugLog, when set, receives the SDK's own log (retries, responses, warnings such as
	// "falling back to IMDSv1"); nil keeps the SDK silent (--debug sets it).
	DebugLog io.Writer
}

// Load resolves the configuration: credentials through the SDK's default chain, the region as the
// AWS CLI would (flag, AWS_REGION, AWS_DEFAULT_REGION, the profile) with DefaultRegion last, the
// endpoint, and NewRetryer as the retryer. Credentials are resolved lazily, on the first call.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	loadOpts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	if opts.DebugLog != nil {
		loadOpts = []func(*config.LoadOptions) error{
			config.WithLogger(logging.NewStandardLogger(opts.DebugLog)),
			// Not LogRequest: request headers carry the session token.
			config.WithClientLogMode(aws.LogRetries | aws.LogResponse | aws.LogDeprecatedUsage),
		}
	}
	if opts.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	var endpoint string
	if opts.EndpointURL != "" {
		warning, err := checkEndpoint(opts.EndpointURL)
		if err != nil {
			return aws.Config{}, err
		}
		if warning != "" && opts.Warn != nil {
			opts.Warn(warning)
		}
		endpoint = opts.EndpointURL
	}
	attempt, call := opts.AttemptTimeout, opts.CallTimeout
	if attempt <= 0 {
		attempt = DefaultAttemptTimeout
	}
	if call <= 0 {
		call = DefaultCallTimeout
	}
	loadOpts = append(loadOpts, config.WithHTTPClient(httpClient(attempt)), config.WithAPIOptions([]func(*middleware.Stack) error{addCallTimeout(call)}))
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
// which needs no permission). It resolves the credentials first, so that a run without usable
// credentials fails with a *CredentialsError naming the fix rather than with the SDK's chain of
// providers; credentials STS rejects are a *CredentialsError too.
func CallerAccount(ctx context.Context, cfg aws.Config) (accountID, arn string, err error) {
	if cfg.Credentials == nil {
		return "", "", credentialsError(cfg, errors.New("no credentials provider"))
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return "", "", err
		}
		return "", "", credentialsError(cfg, err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && rejectedCredentials[ae.ErrorCode()] {
			profile := profileOf(cfg)
			return "", "", &CredentialsError{
				Problem: fmt.Sprintf("AWS rejected the credentials%s (%s: %s)", profileNote(profile), ae.ErrorCode(), ae.ErrorMessage()),
				Fix:     refreshFix(cfg, profile),
				Err:     err,
			}
		}
		return "", "", err
	}
	return aws.ToString(out.Account), aws.ToString(out.Arn), nil
}

// rejectedCredentials are the STS error codes that mean the credentials themselves are wrong or
// expired, as opposed to AWS being unreachable.
var rejectedCredentials = map[string]bool{
	"InvalidClientTokenId":        true,
	"SignatureDoesNotMatch":       true,
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"UnrecognizedClientException": true,
	"InvalidAccessKeyId":          true,
}

// CredentialsError is a run without usable AWS credentials. Error is one line: the problem and the
// command that fixes it; Err keeps the SDK's own error (printed with --debug).
type CredentialsError struct {
	Problem string
	Fix     string
	Err     error
}

func (e *CredentialsError) Error() string { return e.Problem + ": " + e.Fix }

func (e *CredentialsError) Unwrap() error { return e.Err }

// credentialsError says why the credentials of cfg could not be resolved, and what fixes it,
// from what the configuration holds: an SSO profile needs a login, no source at all needs
// `aws configure` or a profile, anything else names the profile to check.
func credentialsError(cfg aws.Config, err error) *CredentialsError {
	env, shared := sources(cfg)
	profile := shared.Profile
	var invalidToken *ssocreds.InvalidTokenError
	switch {
	case isSSO(shared) || errors.As(err, &invalidToken):
		return &CredentialsError{
			Problem: fmt.Sprintf("the AWS SSO session%s has expired or was never started", profileNote(profile)),
			Fix:     "run `aws sso login" + profileFlag(profile) + "`",
			Err:     err,
		}
	case !env.Credentials.HasKeys() && env.WebIdentityTokenFilePath == "" && env.ContainerCredentialsEndpoint == "" &&
		env.ContainerCredentialsRelativePath == "" && !hasCredentialSource(shared):
		return &CredentialsError{
			Problem: "no AWS credentials found",
			Fix:     "run `aws configure`, or choose a profile with --profile (or AWS_PROFILE)",
			Err:     err,
		}
	}
	return &CredentialsError{
		Problem: "cannot get AWS credentials" + profileNote(profile),
		Fix:     "check them with `aws sts get-caller-identity" + profileFlag(profile) + "`, or choose another profile with --profile",
		Err:     err,
	}
}

func refreshFix(cfg aws.Config, profile string) string {
	_, shared := sources(cfg)
	if isSSO(shared) {
		return "run `aws sso login" + profileFlag(profile) + "`"
	}
	return "renew them (`aws configure" + profileFlag(profile) + "`), or choose another profile with --profile"
}

func sources(cfg aws.Config) (config.EnvConfig, config.SharedConfig) {
	var env config.EnvConfig
	var shared config.SharedConfig
	for _, s := range cfg.ConfigSources {
		switch v := s.(type) {
		case config.EnvConfig:
			env = v
		case config.SharedConfig:
			shared = v
		}
	}
	return env, shared
}

func profileOf(cfg aws.Config) string {
	_, shared := sources(cfg)
	return shared.Profile
}

func isSSO(c config.SharedConfig) bool {
	return c.SSOSessionName != "" || c.SSOStartURL != ""
}

func hasCredentialSource(c config.SharedConfig) bool {
	return c.Credentials.HasKeys() || c.CredentialProcess != "" || c.CredentialSource != "" || c.RoleARN != "" ||
		c.WebIdentityTokenFile != "" || isSSO(c)
}

func profileNote(profile string) string {
	if profile == "" {
		return ""
	}
	return " of profile " + profile
}

func profileFlag(profile string) string {
	if profile == "" || profile == "default" {
		return ""
	}
	return " --profile " + profile
}
