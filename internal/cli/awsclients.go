package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssecurityhub "github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/setupkeys/setupkeys/internal/events"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/securityhub"
)

// AWSClients is how the commands reach AWS, the Factory's: main gives SDKClients, tests an
// in-memory fake.
type AWSClients interface {
	// Connect resolves the run's AWS configuration from the flags and says who the caller is.
	Connect(ctx context.Context, flags AWSFlags) (*Session, error)
}

// IAMClient is every IAM call the commands make; *iam.Client has them all.
type IAMClient interface {
	pipeline.IAM
	remediate.PermissionsAPI
}

var _ IAMClient = (*iam.Client)(nil)

// Session is the caller of a run and how it reaches accounts.
type Session struct {
	Account string
	ARN     string
	// Config is the SDK configuration the clients were made from; zero for fakes.
	Config aws.Config
	// Self is the IAM client of the caller's own account.
	Self IAMClient
	// IAM returns the IAM client of account: Self for the caller's own, a role assumed through
	// role for the others.
	IAM func(account string, role org.RoleOptions) (IAMClient, error)
	// Organizations returns the client that lists the caller's organization.
	Organizations func() org.OrganizationsAPI
	// SecurityHub returns the Security Hub client of account in the run's region: the caller's
	// own credentials for its account, a role assumed through role for the others.
	SecurityHub func(account string, role org.RoleOptions) (securityhub.API, error)
	// CloudTrail returns the client that looks up the caller's IAM events (us-east-1, where
	// IAM's events are delivered).
	CloudTrail func() events.LookupAPI
	// S3 returns the client that reads CloudTrail log files from a bucket.
	S3 func() events.S3API
}

// AuditClients are the audit pipeline's clients, reaching other accounts through role.
func (s *Session) AuditClients(role org.RoleOptions) pipeline.Clients {
	return pipeline.Clients{
		CallerAccount: s.Account,
		IAM:           func(account string) (pipeline.IAM, error) { return s.IAM(account, role) },
		Organizations: s.Organizations,
	}
}

// aws is the Factory's AWS, the SDK's when none was given.
func (f *Factory) aws() AWSClients {
	if f.AWS == nil {
		return SDKClients{}
	}
	return f.AWS
}

// SDKClients are the AWS SDK's clients, from the standard AWS configuration and the flags.
type SDKClients struct{}

// Connect loads the configuration and asks STS who the caller is.
func (SDKClients) Connect(ctx context.Context, flags AWSFlags) (*Session, error) {
	caller, err := loadAWS(ctx, flags)
	if err != nil {
		return nil, err
	}
	// One HTTP client for every account and service keeps sockets and memory flat in the number
	// of accounts.
	return NewSDKSession(org.ShareHTTPClient(caller.Config, 0), caller.Account, caller.ARN), nil
}

// NewSDKSession is the Session of the SDK's clients made from cfg, whose credentials belong to
// account (and arn, "" when unknown).
func NewSDKSession(cfg aws.Config, account, arn string) *Session {
	s := &Session{Account: account, ARN: arn, Config: cfg, Self: iam.NewFromConfig(cfg)}
	// configFor is the configuration that reaches acct: cfg itself for the caller's own account.
	configFor := func(acct string, role org.RoleOptions) (aws.Config, error) {
		if role.Partition == "" {
			role.Partition = org.PartitionFromARN(arn)
		}
		return org.AccountConfig(cfg, acct, account, role)
	}
	s.IAM = func(acct string, role org.RoleOptions) (IAMClient, error) {
		if acct == account {
			return s.Self, nil
		}
		c, err := configFor(acct, role)
		if err != nil {
			return nil, err
		}
		return iam.NewFromConfig(c), nil
	}
	s.Organizations = func() org.OrganizationsAPI { return organizations.NewFromConfig(cfg) }
	s.SecurityHub = func(acct string, role org.RoleOptions) (securityhub.API, error) {
		c, err := configFor(acct, role)
		if err != nil {
			return nil, err
		}
		return awssecurityhub.NewFromConfig(c), nil
	}
	s.CloudTrail = func() events.LookupAPI { return cloudtrail.NewFromConfig(cfg, iamEventsRegion) }
	s.S3 = func() events.S3API {
		// An emulator (an endpoint URL) serves buckets by path, not by host name.
		return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil })
	}
	return s
}
